/**
 * The connection to RabbitMQ, owned by one service process.
 *
 * Two connections: one publishes (a confirm channel), one consumes, so a flow-controlled
 * publisher never stalls deliveries. On loss of either, both are dropped and rebuilt with
 * backoff; the topology is declared again and every registered setup (consumers) is
 * replayed on the new connection. Nothing here exits the process on a broker blip.
 *
 * `url` may list the nodes of a cluster (comma-separated): every (re)connect tries them in
 * order (shared/messaging/urls.ts), and both connections go to the node that answered first.
 *
 * A publish the broker refuses (a nack, its channel still open) is tried again on a fresh
 * confirm channel, with backoff, for up to `publishWaitMs`; only then does it fail. RabbitMQ
 * 3.10-3.12 needs this after a node of a cluster stops: a channel that first publishes to a
 * quorum queue while the queue's record still names its leader on the stopped node (the
 * services reconnect in well under a second, the new leader is elected and recorded a little
 * later) asks that node for the queue's version, gets `nodedown`, nacks the message, and keeps
 * that view of the queue for the channel's life: every later publish on it to that queue is
 * nacked at once, for good (rabbit_fifo_client:enqueue/3). A new channel reads the record
 * again. Without this the stage that publishes there nacks its input, which is redelivered,
 * refused again and counted each time until its delivery limit sends good tasks to quarantine
 * and the dead queue (failed(poison)) and the crawl stalls.
 */
import { EventEmitter } from 'node:events';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { maskSecret } from '../config/index.js';
import { CrawlError } from '../errors/index.js';
import type { Logger } from '../observability/log.js';
import { declareTopology, type Topology, type TopologyOptions } from './topology.js';
import { amqpUrls, connectFirst } from './urls.js';

export interface BrokerOptions extends TopologyOptions {
  /** One URL, or the nodes of a cluster comma-separated (tried in order on every connect). */
  url: string;
  name: string;
  heartbeatS: number;
  topology: Topology;
  log: Logger;
  /** How long a publish waits for the broker to come back before failing. */
  publishWaitMs?: number;
  /** How long one connection attempt (TCP and AMQP handshake) may take; a broker that accepts but never answers counts as down. */
  connectTimeoutMs?: number;
}

/** A consumer's answer to "are you consuming?", for readiness. */
export interface ConsumerProbe {
  readonly queue: string;
  consuming(): boolean;
  /** Tasks the consumer holds and has not finished (the replica heartbeat's `inFlight`). */
  heldItems?(): number;
}

/** Set up consumers on a fresh channel; called after every (re)connect. */
export type ChannelSetup = (channel: Channel) => Promise<void>;

/** Backoff of a publish the broker refused, before it is tried again. */
const REFUSED_RETRY_MIN_MS = 50;
const REFUSED_RETRY_MAX_MS = 2000;
/** A refused publish renews the publishing channel at most this often (the others retry on the one renewed). */
const RENEW_MIN_INTERVAL_MS = 250;

interface BrokerEvents {
  ready: [];
  down: [Error | undefined];
}

export class Broker extends EventEmitter<BrokerEvents> {
  private pubConn: ChannelModel | null = null;
  private subConn: ChannelModel | null = null;
  private pubChannel: ConfirmChannel | null = null;
  private readonly setups: ChannelSetup[] = [];
  private ready = false;
  private closing = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connecting: Promise<void> | null = null;
  /** Why the last connection attempt failed; null once connected. */
  private lastError: string | null = null;
  /** Whether the current outage was reported (one error line per outage). */
  private reported = false;
  private readonly probes = new Set<ConsumerProbe>();
  /** The node URL the connections use now (null while disconnected). */
  private connectedUrl: string | null = null;
  /** Publishing channels that closed (a publish that failed on one of them was not refused by the broker). */
  private readonly closedChannels = new WeakSet<ConfirmChannel>();
  /** Publishes awaiting their confirm, per publishing channel. */
  private readonly unsettled = new Map<ConfirmChannel, number>();
  /** Replaced publishing channels: each closes once nothing published on it awaits a confirm. */
  private readonly retired = new Set<ConfirmChannel>();
  private renewing: Promise<void> | null = null;
  private lastRenew = 0;

  constructor(private readonly opts: BrokerOptions) {
    super();
    this.setMaxListeners(100);
  }

  get topology(): Topology {
    return this.opts.topology;
  }

  isReady(): boolean {
    return this.ready;
  }

  /** The broker's URL without its password, for logs and readiness: the node connected to, else every node listed. */
  get where(): string {
    if (this.connectedUrl) return maskSecret(this.connectedUrl);
    return amqpUrls(this.opts.url).map(maskSecret).join(',');
  }

  /** Why the broker is not usable now (null when connected), naming RabbitMQ and where. */
  problem(): string | null {
    if (this.ready) return null;
    if (this.closing) return `RabbitMQ at ${this.where}: connection closed`;
    return `RabbitMQ at ${this.where} is not reachable${this.lastError ? `: ${this.lastError}` : ' yet (connecting)'}`;
  }

  /** Registers a consumer for readiness: one that is not consuming makes its service not ready. */
  watch(probe: ConsumerProbe): void {
    this.probes.add(probe);
  }

  unwatch(probe: ConsumerProbe): void {
    this.probes.delete(probe);
  }

  /** Queues whose registered consumer is not consuming now. */
  idleConsumers(): string[] {
    return [...this.probes].filter((p) => !p.consuming()).map((p) => p.queue);
  }

  /** Tasks held and not finished by every registered consumer. */
  heldItems(): number {
    let n = 0;
    for (const p of this.probes) n += p.heldItems?.() ?? 0;
    return n;
  }

  /** A fresh channel on the consuming connection (a consumer whose channel closed sets itself up again on it). */
  async openChannel(): Promise<Channel> {
    if (!this.ready || !this.subConn) throw new CrawlError('unavailable', this.problem() ?? 'broker not connected');
    return this.subConn.createChannel();
  }

  /** Connects (retrying until it succeeds or the broker is closed). */
  async start(): Promise<void> {
    await this.connectLoop();
  }

  /** Registers a setup that runs now (if connected) and after every reconnect. */
  async addSetup(setup: ChannelSetup): Promise<void> {
    this.setups.push(setup);
    if (this.ready && this.subConn) {
      const ch = await this.subConn.createChannel();
      await setup(ch);
    }
  }

  private connectLoop(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      while (!this.closing) {
        try {
          await this.connectOnce();
          this.attempt = 0;
          return;
        } catch (err) {
          await this.dropConnections();
          const delay = Math.min(200 * 2 ** this.attempt, 5000) * (0.8 + Math.random() * 0.4);
          this.attempt++;
          this.lastError = (err as Error).message || String(err);
          // One error line per outage; the retries after it are debug.
          if (!this.reported) {
            this.reported = true;
            this.opts.log.error({ dependency: 'rabbitmq', url: this.where, err: this.lastError }, `${this.problem() ?? 'RabbitMQ is not reachable'}; retrying with backoff`);
          } else {
            this.opts.log.debug({ dependency: 'rabbitmq', err: this.lastError, retryInMs: Math.round(delay) }, 'broker connect failed');
          }
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connectOnce(): Promise<void> {
    const timeoutMs = this.opts.connectTimeoutMs ?? 5000;
    const urls = amqpUrls(this.opts.url).map((u) => withHeartbeat(u, this.opts.heartbeatS));
    const first = await connectFirst(urls, { connectionName: this.opts.name, timeoutMs }, maskSecret);
    this.pubConn = first.conn;
    this.subConn = await amqp.connect(first.url, { clientProperties: { connection_name: this.opts.name }, timeout: timeoutMs });
    this.connectedUrl = first.url;
    for (const conn of [this.pubConn, this.subConn]) {
      conn.on('error', (err: Error) => this.opts.log.warn({ err: err.message }, 'broker connection error'));
      conn.on('close', (err?: Error) => this.onLost(conn, err));
      conn.on('blocked', (reason: string) => this.opts.log.warn({ reason }, 'broker blocked publishing (resource alarm)'));
    }
    const setupChannel = await this.pubConn.createChannel();
    await declareTopology(setupChannel, this.opts.topology, this.opts);
    await setupChannel.close();
    this.pubChannel = await this.openPublishChannel(this.pubConn);
    for (const setup of this.setups) {
      const ch = await this.subConn.createChannel();
      await setup(ch);
    }
    this.ready = true;
    this.lastError = null;
    if (this.reported) this.opts.log.info({ dependency: 'rabbitmq', url: this.where }, `RabbitMQ at ${this.where} reachable again`);
    this.reported = false;
    this.opts.log.info('broker connected');
    this.emit('ready');
  }

  /**
   * A confirm channel for publishing. When the one in use closes under it (a channel error),
   * the publishing connection is closed too and both are rebuilt (see onLost); one that was
   * replaced (renewPublishChannel) closes alone.
   */
  private async openPublishChannel(conn: ChannelModel): Promise<ConfirmChannel> {
    const ch = await conn.createConfirmChannel();
    ch.on('error', (err: Error) => this.opts.log.warn({ err: err.message }, 'publish channel error'));
    ch.on('close', () => {
      this.closedChannels.add(ch);
      if (this.pubChannel === ch && this.pubConn === conn && !this.closing) conn.close().catch(() => undefined);
    });
    return ch;
  }

  /**
   * Replaces a publishing channel on which the broker refused a publish (see the top of this
   * file) by a fresh one on the same connection; the old one closes once what was published on
   * it is settled (at most publishWaitMs later). Not more often than RENEW_MIN_INTERVAL_MS.
   */
  private renewPublishChannel(stale: ConfirmChannel, queue: string): Promise<void> {
    if (this.renewing) return this.renewing;
    const conn = this.pubConn;
    if (!conn || this.pubChannel !== stale || this.closing || Date.now() - this.lastRenew < RENEW_MIN_INTERVAL_MS) return Promise.resolve();
    this.lastRenew = Date.now();
    this.renewing = (async () => {
      const fresh = await this.openPublishChannel(conn);
      if (this.pubConn !== conn || this.pubChannel !== stale || this.closing) {
        await fresh.close().catch(() => undefined);
        return;
      }
      this.pubChannel = fresh;
      this.opts.log.warn({ dependency: 'rabbitmq', url: this.where, queue }, 'broker refused a publish (nack); publishing on a fresh channel');
      this.retired.add(stale);
      this.closeIfSettled(stale);
      // A confirm that never comes does not keep it open past the wait of a publish.
      setTimeout(() => this.closeRetired(stale), this.opts.publishWaitMs ?? 30_000).unref();
    })()
      .catch((err: Error) => this.opts.log.warn({ err: err.message }, 'could not open a fresh publish channel'))
      .finally(() => {
        this.renewing = null;
      });
    return this.renewing;
  }

  /** Counts a publish on `ch` as sent (+1) or settled (-1). */
  private track(ch: ConfirmChannel, delta: 1 | -1): void {
    const n = (this.unsettled.get(ch) ?? 0) + delta;
    if (n > 0) this.unsettled.set(ch, n);
    else this.unsettled.delete(ch);
    if (delta < 0) this.closeIfSettled(ch);
  }

  private closeIfSettled(ch: ConfirmChannel): void {
    if (this.retired.has(ch) && !this.unsettled.has(ch)) this.closeRetired(ch);
  }

  private closeRetired(ch: ConfirmChannel): void {
    if (!this.retired.delete(ch)) return;
    this.unsettled.delete(ch);
    void ch.close().catch(() => undefined);
  }

  private onLost(conn: ChannelModel, err?: Error): void {
    if (conn !== this.pubConn && conn !== this.subConn) return;
    const wasReady = this.ready;
    this.ready = false;
    this.pubChannel = null;
    if (wasReady) {
      this.lastError = err?.message ?? 'connection lost';
      this.opts.log.warn({ err: err?.message }, 'broker connection lost');
      this.emit('down', err);
    }
    void this.dropConnections();
    if (!this.closing && !this.reconnectTimer && !this.connecting) {
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        void this.connectLoop();
      }, 100);
    }
  }

  private async dropConnections(): Promise<void> {
    const conns = [this.pubConn, this.subConn];
    this.connectedUrl = null;
    this.pubConn = null;
    this.subConn = null;
    this.pubChannel = null;
    // Their channels close with the connections.
    this.retired.clear();
    this.unsettled.clear();
    for (const c of conns) {
      if (c) await c.close().catch(() => undefined);
    }
  }

  private waitReady(waitMs = this.opts.publishWaitMs ?? 30_000): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('ready', onReady);
        reject(new CrawlError('unavailable', `broker not reachable for ${waitMs} ms`));
      }, waitMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.once('ready', onReady);
    });
  }

  /**
   * Publishes a persistent message to a queue (through the default exchange), or to
   * `exchange` with `queue` as its routing key, and resolves when the broker confirmed it.
   * A publish the broker refuses is tried again on a fresh channel (see the top of this file)
   * until publishWaitMs has passed; one whose channel or connection closed fails at once (the
   * input it was made for goes back to its queue with that connection anyway).
   */
  async publish(queue: string, content: Buffer, options: Options.Publish = {}, exchange = ''): Promise<void> {
    if (this.closing) throw new CrawlError('unavailable', 'broker is closing');
    const waitMs = this.opts.publishWaitMs ?? 30_000;
    const until = Date.now() + waitMs;
    const target = exchange === '' ? queue : `${exchange} (${queue})`;
    for (let attempt = 0; ; attempt++) {
      await this.waitReady(Math.max(0, until - Date.now()));
      const ch = this.pubChannel;
      if (!ch) throw new CrawlError('unavailable', 'broker publish channel not open');
      const err = await new Promise<Error | null>((resolve, reject) => {
        try {
          this.track(ch, 1);
          ch.publish(exchange, queue, content, { persistent: true, ...options }, (e: unknown) => {
            this.track(ch, -1);
            resolve(e ? (e as Error) : null);
          });
        } catch (e) {
          this.track(ch, -1);
          reject(new CrawlError('unavailable', `publish to ${target} failed: ${(e as Error).message}`, { cause: e }));
        }
      });
      if (!err) return;
      // Settled after the channel's close event: a closed channel failed the publish, an open one was refused.
      if (this.closedChannels.has(ch)) throw new CrawlError('unavailable', `publish to ${target} not confirmed`, { cause: err });
      const left = until - Date.now();
      if (this.closing || left <= 0) throw new CrawlError('unavailable', `publish to ${target} refused by the broker (nack) for ${waitMs} ms`, { cause: err });
      await this.renewPublishChannel(ch, queue);
      await new Promise((r) => setTimeout(r, Math.min(REFUSED_RETRY_MIN_MS * 2 ** attempt, REFUSED_RETRY_MAX_MS, left)));
    }
  }

  /** Publishes JSON. */
  publishJson(queue: string, body: unknown, options: Options.Publish = {}): Promise<void> {
    return this.publish(queue, Buffer.from(JSON.stringify(body)), { contentType: 'application/json', ...options });
  }

  /** A plain channel on the publishing connection for management calls (queue depth, purge). */
  async withChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    await this.waitReady();
    if (!this.pubConn) throw new CrawlError('unavailable', 'broker not connected');
    const ch = await this.pubConn.createChannel();
    ch.on('error', () => undefined);
    try {
      return await fn(ch);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /**
   * Opens channels on the publishing connection for work that manages its own (the migration
   * of an older layout's queues, shared/messaging/migrate.ts); waits for the broker like a publish.
   */
  channels(): { createChannel(): Promise<Channel>; createConfirmChannel(): Promise<ConfirmChannel> } {
    const conn = async (): Promise<ChannelModel> => {
      await this.waitReady();
      if (!this.pubConn) throw new CrawlError('unavailable', 'broker not connected');
      return this.pubConn;
    };
    return {
      createChannel: async () => (await conn()).createChannel(),
      createConfirmChannel: async () => (await conn()).createConfirmChannel(),
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ready = false;
    if (this.pubChannel) await this.pubChannel.waitForConfirms().catch(() => undefined);
    await this.dropConnections();
  }
}

function withHeartbeat(url: string, heartbeatS: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(heartbeatS));
  return u.toString();
}
