/** Structured JSON logs on stdout (pino), one logger per process, children per task. */
import { pino, type Logger } from 'pino';
import { LOG_REDACT_PATHS, REDACTED } from './redact.js';

export type { Logger } from 'pino';

export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // A session's header and cookie values, and credentials in headers, never reach a log line.
    redact: { paths: [...LOG_REDACT_PATHS], censor: REDACTED },
  });
}
