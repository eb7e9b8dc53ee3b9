/** A ledger entry `state|attempt|depth|parent|url` (shared/redis/lua/includes/ledger.lua). */
import type { Outcome } from '../tasks/types.js';
import type { TerminalState } from '../redis/commands.js';

export interface LedgerEntry {
  state: string;
  attempt: number;
  depth: number;
  parent: string;
  url: string;
}

export function parseLedgerEntry(value: string): LedgerEntry | null {
  const m = /^([A-Z])\|(\d+)\|(\d+)\|([^|]*)\|(.*)$/s.exec(value);
  if (!m) return null;
  return { state: m[1] as string, attempt: Number(m[2]), depth: Number(m[3]), parent: m[4] as string, url: m[5] as string };
}

/** The terminal ledger state of an outcome. */
export const TERMINAL_STATE: Readonly<Record<Outcome, TerminalState>> = { delivered: 'D', failed: 'X', skipped: 'S', cancelled: 'C' };
