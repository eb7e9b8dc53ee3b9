/**
 * A periodic sampler: runs `sample` every `intervalMs`, never two at once (the next run is
 * scheduled when the previous one ends), on an unref'd timer. A failure is logged once per
 * failure streak and handed to `onError` (e.g. to drop gauges that would otherwise go stale).
 */
import type { Logger } from './log.js';

export interface SamplerOptions<T> {
  name: string;
  intervalMs: number;
  sample(): Promise<T>;
  log: Logger;
  onError?(err: unknown): void;
}

export class PeriodicSampler<T> {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<T> | null = null;
  private stopped = true;
  private failing = false;
  private last: { value: T; at: number } | null = null;

  constructor(private readonly opts: SamplerOptions<T>) {}

  /** The latest successful sample and when it was taken (ms since epoch). */
  get latest(): { value: T; at: number } | null {
    return this.last;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** Samples now, sharing a run already in flight; rejects when the sample fails. */
  run(): Promise<T> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const value = await this.opts.sample();
        this.last = { value, at: Date.now() };
        if (this.failing) this.opts.log.info({ sampler: this.opts.name }, 'sampling works again');
        this.failing = false;
        return value;
      } catch (err) {
        if (!this.failing) this.opts.log.warn({ sampler: this.opts.name, err: (err as Error).message }, 'sampling failed');
        this.failing = true;
        this.opts.onError?.(err);
        throw err;
      }
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** The latest sample if it is at most `maxAgeMs` old, else a fresh one. */
  async fresh(maxAgeMs: number): Promise<{ value: T; at: number }> {
    if (this.last && Date.now() - this.last.at <= maxAgeMs) return this.last;
    const value = await this.run();
    return this.last ?? { value, at: Date.now() };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run()
        .catch(() => undefined)
        .finally(() => this.schedule(this.opts.intervalMs));
    }, delayMs);
    this.timer.unref();
  }
}
