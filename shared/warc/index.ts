/** WARC/1.1 archives of a session's exchanges: records, files, writers, CDXJ indexes. */
export * from './record.js';
export * from './cdxj.js';
export * from './files.js';
export * from './exchange.js';
export * from './writer.js';
export * from './service.js';
