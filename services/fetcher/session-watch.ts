/**
 * The fetcher's watch of session statuses, so that a cancel or a pause stops fetching on
 * every replica before the next request starts, without a Redis round trip per page:
 * - an operator's cancel, pause or resume is pushed on the control channel
 *   (`<id>|<status>|<version>`, published by the scripts that change the status);
 * - once per `refreshMs`, one pipelined read of status and version of the sessions this
 *   replica used within `idleMs`, so a missed message (a reconnect) cannot matter for long;
 * - a session seen for the first time is read once (callers share the read).
 * The session's `control` version orders the two sources: a reply older than what the
 * channel already said is ignored. Looking a status up is a Map read.
 */

export interface ControlState {
  status: string;
  version: number;
}

interface Entry extends ControlState {
  usedAt: number;
}

export interface SessionWatchDeps {
  /** Status and control version of each session (null when it is gone), in one round trip. */
  read(ids: readonly string[]): Promise<(ControlState | null)[]>;
  refreshMs: number;
  /** Sessions not looked up for this long are dropped (read again when they come back). */
  idleMs: number;
  now?(): number;
  onError?(err: unknown): void;
}

/** Parses a control message `<id>|<status>|<version>`; null when malformed. */
export function parseControlMessage(raw: string): { id: string } & ControlState | null {
  const m = /^([^|]+)\|([a-z]+)\|(\d+)$/.exec(raw);
  return m ? { id: m[1] as string, status: m[2] as string, version: Number(m[3]) } : null;
}

export class SessionWatch {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: SessionWatchDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Starts the periodic refresh. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh().catch((err: unknown) => this.deps.onError?.(err)), this.deps.refreshMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A message of the control channel. */
  onMessage(raw: string): void {
    const m = parseControlMessage(raw);
    if (m) this.apply(m.id, m, false);
  }

  /** The session's last known status (undefined when unknown: call `ensure` first). */
  status(id: string): string | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    e.usedAt = this.now();
    return e.status;
  }

  /** Makes the session known: one read the first time (shared by concurrent callers), nothing after. */
  async ensure(id: string): Promise<void> {
    if (this.entries.has(id)) return;
    let p = this.pending.get(id);
    if (!p) {
      p = this.deps.read([id]).then(([s]) => {
        if (s) this.apply(id, s, true);
      }).finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    await p;
  }

  /** Reads back every session used within idleMs (one round trip) and drops the others. */
  refresh(): Promise<void> {
    this.refreshing ??= this.refreshOnce().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** How many sessions the watch holds. */
  get size(): number {
    return this.entries.size;
  }

  private async refreshOnce(): Promise<void> {
    const cutoff = this.now() - this.deps.idleMs;
    const ids: string[] = [];
    for (const [id, e] of this.entries) {
      if (e.usedAt < cutoff) this.entries.delete(id);
      else ids.push(id);
    }
    if (ids.length === 0) return;
    const states = await this.deps.read(ids);
    states.forEach((s, i) => {
      const id = ids[i] as string;
      if (s) this.apply(id, s, false);
      else this.entries.delete(id);
    });
  }

  /** Takes a state unless an older version than the one known (equal versions: the later read wins). */
  private apply(id: string, s: ControlState, used: boolean): void {
    const e = this.entries.get(id);
    if (e) {
      if (s.version < e.version) return;
      e.status = s.status;
      e.version = s.version;
      if (used) e.usedAt = this.now();
      return;
    }
    this.entries.set(id, { status: s.status, version: s.version, usedAt: used ? this.now() : 0 });
  }
}
