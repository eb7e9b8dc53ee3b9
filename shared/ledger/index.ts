/**
 * Crawl state in Redis, by job: sessions (sessions.ts), the task ledger (tasks.ts) and the
 * cleaner's maintenance (maintenance.ts). Results live in the results store (shared/results).
 */
export { parseLedgerEntry, TERMINAL_STATE, type LedgerEntry } from './entry.js';
export { Maintenance } from './maintenance.js';
export { SessionStore, trapCounts, type SessionRecord } from './sessions.js';
export { TaskLedger } from './tasks.js';
export type { AdmitFoundOptions, AdmitFoundReply, AdmitReply, ClaimOptions, ClaimReply, FinishReply, Finishing, FoundPage, LinkToAdmit } from '../redis/commands.js';
