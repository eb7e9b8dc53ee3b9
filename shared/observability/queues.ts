/**
 * Depth and consumers of every RabbitMQ queue of a namespace, read with `checkQueue`
 * (a passive declare: the broker's own counts, no management plugin needed). The
 * controller samples them for the whole cluster; workers do not, so each queue is one
 * series however many replicas run.
 */
import { STAGE_NAMES, type StageName } from '../pipeline/stage-names.js';
import { CrawlError } from '../errors/index.js';
import type { Broker } from '../messaging/broker.js';
import type { Topology } from '../messaging/topology.js';
import type { Metrics } from './metrics.js';

/** A stage's work queue is labelled by its stage; the delay queues have the role `retry`. */
export type QueueRole = StageName | 'dead' | 'retry' | 'quarantine' | 'other';

export interface QueueStat {
  /** Label in metrics: the name without the namespace (`fetch`, `dead`, `delay.250`, `fetch.quarantine`). */
  queue: string;
  /** Full RabbitMQ queue name. */
  name: string;
  role: QueueRole;
  /** Messages ready for delivery (not counting unacknowledged ones). */
  ready: number;
  consumers: number;
}

/** The metrics label of a queue of topology `t` (without its namespace and layout version). */
export function queueLabel(t: Topology, name: string): string {
  const prefix = `${t.prefix}.`;
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

export function roleOf(label: string): QueueRole {
  if (label === 'dead') return label;
  if ((STAGE_NAMES as readonly string[]).includes(label)) return label as StageName;
  if (/^delay\.\d+$/.test(label)) return 'retry';
  if (label.endsWith('.quarantine')) return 'quarantine';
  return 'other';
}

/** Reads every queue of the topology on one short-lived channel. Fails fast when the broker is down. */
export async function sampleQueues(broker: Broker, t: Topology): Promise<QueueStat[]> {
  if (!broker.isReady()) throw new CrawlError('unavailable', 'RabbitMQ is not connected');
  return broker.withChannel(async (ch) => {
    const out: QueueStat[] = [];
    for (const name of t.allQueues) {
      const q = await ch.checkQueue(name);
      const label = queueLabel(t, name);
      out.push({ queue: label, name, role: roleOf(label), ready: q.messageCount, consumers: q.consumerCount });
    }
    return out;
  });
}

/** Sets the queue gauges from a sample (or clears them: no sample is better than a stale one). */
export function recordQueueStats(metrics: Pick<Metrics, 'queueDepth' | 'queueConsumers'>, stats: readonly QueueStat[] | null): void {
  metrics.queueDepth.reset();
  metrics.queueConsumers.reset();
  for (const s of stats ?? []) {
    metrics.queueDepth.set({ queue: s.queue }, s.ready);
    metrics.queueConsumers.set({ queue: s.queue }, s.consumers);
  }
}
