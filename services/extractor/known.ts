/**
 * Links this extractor replica knows to be in a session's ledger already: a site's
 * navigation links appear on every page, and asking Redis about each of them again costs
 * arguments, a hash lookup and bytes for every page. The ledger stays the authority: a link
 * missing here is simply asked about; a link is added only after the ledger said it is known
 * (or admitted it, and its publish was confirmed), and a ledger entry never goes away while
 * its session lives. Bounded: when full, the oldest half is forgotten.
 */
export class KnownLinks {
  private readonly sessions = new Map<string, Set<string>>();
  private size = 0;

  constructor(private readonly max = 200_000) {}

  has(sessionId: string, url: string): boolean {
    return this.sessions.get(sessionId)?.has(url) ?? false;
  }

  addAll(sessionId: string, links: readonly { url: string }[]): void {
    if (links.length === 0) return;
    let set = this.sessions.get(sessionId);
    if (!set) {
      set = new Set();
      this.sessions.set(sessionId, set);
    }
    for (const l of links) {
      if (set.has(l.url)) continue;
      set.add(l.url);
      this.size++;
    }
    if (this.size > this.max) this.shrink();
  }

  /** Links held, over all sessions. */
  get count(): number {
    return this.size;
  }

  /** Forgets the oldest half: whole sessions first (least recently created), then the oldest links of the newest. */
  private shrink(): void {
    const target = Math.floor(this.max / 2);
    for (const [id, set] of this.sessions) {
      if (this.size <= target) return;
      const excess = this.size - target;
      if (set.size <= excess) {
        this.sessions.delete(id);
        this.size -= set.size;
        continue;
      }
      let dropped = 0;
      for (const url of set) {
        if (dropped >= excess) break;
        set.delete(url);
        dropped++;
      }
      this.size -= dropped;
    }
  }
}
