/** A service replica's WARC writers, named after the replica, following the live config. */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import { PACKAGE_VERSION, replicaId } from '../service/heartbeat.js';
import { warcDir } from './files.js';
import { WarcWriters } from './writer.js';

export function replicaWarcWriters(service: string, config: () => Config, onError: (err: unknown, sessionId: string) => void): WarcWriters {
  return new WarcWriters({
    dir: () => warcDir(config()),
    replica: replicaId(service, hostname(), process.pid, randomBytes(3).toString('hex')),
    maxFileBytes: () => config().warc.maxFileBytes,
    idleCloseMs: () => config().warc.idleCloseMs,
    software: `crawlfleet/${PACKAGE_VERSION}`,
    onError,
  });
}
