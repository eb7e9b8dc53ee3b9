/**
 * The requests in flight of one fetcher replica (fetch.concurrency), handed out fairly across
 * hosts: a free slot goes to the waiting host that was served least recently, not to the
 * oldest task. A task keeps its slot while it waits at its host's politeness gate, so with
 * first-come order a batch of tasks for one slow host queued ahead of another host's would
 * hold that other host below its rate for as long as the batch lasts. Within a host, tasks
 * keep their order. The limit can change live; running tasks finish under the old one.
 */
export class HostSlots {
  private running = 0;
  private limit: number;
  /** Hosts with waiting tasks (a Map keeps insertion order, which breaks ties). */
  private readonly waiting = new Map<string, (() => void)[]>();
  /** When each host was last given a slot (a counter), for the hosts seen lately. */
  private readonly served = new Map<string, number>();
  private clock = 0;

  constructor(concurrency: number) {
    this.limit = Math.max(1, concurrency);
  }

  get concurrency(): number {
    return this.limit;
  }

  set concurrency(n: number) {
    this.limit = Math.max(1, n);
    this.next();
  }

  /** Tasks running. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get pending(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  /** Runs `fn` in a slot when it is `host`'s turn. */
  run<T>(host: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        fn()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.next();
          });
      };
      const queue = this.waiting.get(host);
      if (queue) queue.push(start);
      else this.waiting.set(host, [start]);
      this.next();
    });
  }

  private next(): void {
    while (this.running < this.limit && this.waiting.size > 0) {
      // Waiting hosts are at most the tasks a replica holds: a scan is cheap.
      let host = '';
      let oldest = Infinity;
      for (const h of this.waiting.keys()) {
        const at = this.served.get(h) ?? -1;
        if (at < oldest) {
          oldest = at;
          host = h;
        }
      }
      const queue = this.waiting.get(host) as (() => void)[];
      const start = queue.shift() as () => void;
      if (queue.length === 0) this.waiting.delete(host);
      this.served.delete(host);
      this.served.set(host, ++this.clock);
      if (this.served.size > 10_000) this.served.delete(this.served.keys().next().value as string);
      start();
    }
  }
}
