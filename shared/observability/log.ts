/** Structured JSON logs on stdout (pino), one logger per process, children per task. */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { censorLogValue, LOG_REDACT_PATHS } from './redact.js';

export type { Logger } from 'pino';

/** The process's logger; `destination` (default stdout) lets a test read the lines as written. */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // A session's header and cookie values, and credentials in headers, never reach a log line.
    redact: { paths: [...LOG_REDACT_PATHS], censor: censorLogValue },
  };
  return destination ? pino(options, destination) : pino(options);
}
