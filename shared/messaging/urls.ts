/**
 * Several broker URLs: `AMQP_URL` may name the nodes of a RabbitMQ cluster, comma-separated
 * (`amqp://u:p@mq-1:5672,amqp://u:p@mq-2:5672,amqp://u:p@mq-3:5672`). Every (re)connect tries
 * them in the order given and keeps the first that answers, so a client goes back to the first
 * node once it returns; quorum queues live on all three nodes, so any node serves every queue.
 */
import amqp, { type ChannelModel } from 'amqplib';

/** The URLs of an `amqp.url` value, in order (a single URL is a list of one). */
export function amqpUrls(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

export interface ConnectOptions {
  /** Sent to the broker as the connection's name (shown by rabbitmqctl and the management UI). */
  connectionName?: string;
  /** How long one connection attempt to one node may take. */
  timeoutMs?: number;
}

/** A connection to the first of `urls` that accepts one, and which URL that was. */
export interface FirstConnection {
  conn: ChannelModel;
  url: string;
}

/**
 * Connects to the first node of `urls` that answers, trying them in order. Fails with every
 * node's reason when none answers (the URLs' passwords never appear in it: `describe` masks them).
 */
export async function connectFirst(urls: readonly string[], opts: ConnectOptions = {}, describe: (url: string) => string = (u) => u): Promise<FirstConnection> {
  if (urls.length === 0) throw new Error('no RabbitMQ URL given');
  const socketOpts = { ...(opts.connectionName ? { clientProperties: { connection_name: opts.connectionName } } : {}), timeout: opts.timeoutMs ?? 5000 };
  const reasons: string[] = [];
  for (const url of urls) {
    try {
      return { conn: await amqp.connect(url, socketOpts), url };
    } catch (err) {
      reasons.push((err as Error).message || String(err));
    }
  }
  if (urls.length === 1) throw new Error(reasons[0]);
  throw new Error(`no RabbitMQ node answered (${urls.map((u, i) => `${describe(u)}: ${reasons[i]}`).join('; ')})`);
}
