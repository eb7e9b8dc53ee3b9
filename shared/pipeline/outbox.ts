/**
 * What a stage sends, by stage name: the queue and codec come from the registry
 * (stages.ts), the batching and confirms from the BatchPublisher. `later` sends through the
 * shared delay queues back to a stage's own queue.
 */
import type { Config } from '../config/index.js';
import { BatchPublisher, type BatchLimits } from '../messaging/batch.js';
import type { Broker } from '../messaging/broker.js';
import { DELAY_HEADER, delayBucket, type Topology } from '../messaging/topology.js';
import type { BatchCodec } from '../messaging/batch.js';
import { STAGE_NAMES, STAGES, type StageItems, type StageName } from './stages.js';

/** How many tasks, and bytes, one message to a stage's queue may carry, from the live config. */
export function batchLimits(cfg: Config, stage: StageName | null): BatchLimits {
  const a = cfg.amqp;
  return { maxItems: stage ? STAGES[stage].batchSize(cfg) : 1, maxBytes: a.batchMaxBytes, lingerMs: a.lingerMs };
}

type Codecs = { readonly [S in StageName]: BatchCodec<StageItems[S]> };

export class Outbox {
  private readonly publisher: BatchPublisher;
  readonly codecs: Codecs;

  constructor(
    broker: Pick<Broker, 'publish'>,
    private readonly topology: Topology,
    config: () => Config,
  ) {
    this.publisher = new BatchPublisher(broker, (queue) => batchLimits(config(), topology.stageOf(queue)));
    this.codecs = Object.fromEntries(STAGE_NAMES.map((s) => [s, STAGES[s].codec(config)])) as unknown as Codecs;
  }

  /**
   * Sends items to a stage's queue; resolves when every message holding them was confirmed.
   * `now` sends at once instead of lingering for more items.
   */
  send<S extends StageName>(stage: S, items: StageItems[S] | readonly StageItems[S][], opts: { now?: boolean } = {}): Promise<void> {
    return this.publisher.send(this.codecs[stage] as BatchCodec<StageItems[S]>, this.topology.queue(stage), items, opts);
  }

  /** Sends items back to a stage's queue after at least `delayMs` (the next delay queue up). */
  later<S extends StageName>(stage: S, delayMs: number, items: StageItems[S] | readonly StageItems[S][]): Promise<void> {
    const route = { queue: this.topology.queue(stage), exchange: this.topology.delayExchange, headers: { [DELAY_HEADER]: String(delayBucket(delayMs)) } };
    return this.publisher.send(this.codecs[stage] as BatchCodec<StageItems[S]>, route, items);
  }

  /** Items waiting to be sent. */
  get waiting(): number {
    return this.publisher.waiting;
  }

  /** Sends what waits now and resolves when every message sent so far was confirmed (or failed). */
  drain(): Promise<void> {
    return this.publisher.drain();
  }
}
