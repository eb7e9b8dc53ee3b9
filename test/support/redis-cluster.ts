/**
 * Test support: a real Redis Cluster on this machine: six `redis-server` processes (three
 * masters, three replicas) with `--cluster-enabled yes`, joined by `redis-cli --cluster create
 * --cluster-replicas 1`, on free loopback ports in temp dirs, no persistence. A small
 * `cluster-node-timeout` makes a killed master's replica take over within seconds. `stop()`
 * kills every process and removes the dirs; a process exit kills them too (a test that
 * crashed leaves nothing running).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './stack.js';

export interface ClusterNodeProcess {
  port: number;
  /** The cluster bus port (`cluster-port`). */
  busPort: number;
  dir: string;
  child: ChildProcess | null;
}

export interface NodeRole {
  port: number;
  id: string;
  role: 'master' | 'replica';
  /** Node id of the master (replicas). */
  masterId: string | null;
}

export interface LocalRedisCluster {
  /** `redis+cluster://127.0.0.1:p1,...` for REDIS_URL. */
  url: string;
  nodes: readonly ClusterNodeProcess[];
  /** Roles as the cluster sees them now (asked of a live node). */
  roles(): Promise<NodeRole[]>;
  /** A plain client of one node. */
  client(port: number): Redis;
  /** SIGKILLs the process of the node on `port`. */
  kill(port: number): void;
  /** Waits until every live node reports cluster_state:ok and every slot is served by a live master. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Commands processed by each live master so far (INFO stats total_commands_processed). */
  commandsByMaster(): Promise<Map<number, number>>;
  stop(): Promise<void>;
}

const NODE_TIMEOUT_MS = 2000;
const run = promisify(execFile);

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

async function ping(port: number): Promise<boolean> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } finally {
    r.disconnect();
  }
}

function parseNodes(text: string): (NodeRole & { slots: boolean; failed: boolean })[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [id, addr, flags, master, , , , , ...slots] = line.split(' ');
      const port = Number(/:(\d+)@/.exec(addr ?? '')?.[1] ?? 0);
      const f = (flags ?? '').split(',');
      return {
        id: id as string,
        port,
        role: f.includes('master') ? ('master' as const) : ('replica' as const),
        masterId: master && master !== '-' ? master : null,
        slots: slots.length > 0,
        failed: f.includes('fail') || f.includes('fail?'),
      };
    });
}

/** Starts the six nodes and creates the cluster; on any failure, everything started is stopped. */
export async function startRedisCluster(opts: { masters?: number; replicasPerMaster?: number } = {}): Promise<LocalRedisCluster> {
  installExitHook();
  const count = (opts.masters ?? 3) * (1 + (opts.replicasPerMaster ?? 1));
  const ports = await distinctFreePorts(count * 2);
  const nodes: ClusterNodeProcess[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push({ port: ports[i] as number, busPort: ports[count + i] as number, dir: mkdtempSync(join(tmpdir(), 'crawlfleet-rcluster-')), child: null });
  }
  const startNode = (n: ClusterNodeProcess): void => {
    const child = spawn(
      'redis-server',
      [
        '--port', String(n.port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(n.busPort),
        '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
        // A replica takes over however long it was cut off (the test kills masters on purpose).
        '--cluster-replica-validity-factor', '0',
        '--save', '', '--appendonly', 'no', '--dir', n.dir, '--protected-mode', 'no',
      ],
      { stdio: 'ignore' },
    );
    live.add(child);
    child.once('exit', () => live.delete(child));
    n.child = child;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(
      nodes.map(async (n) => {
        const c = n.child;
        if (c && c.exitCode === null && c.signalCode === null) {
          const exited = new Promise((r) => c.once('exit', r));
          c.kill('SIGKILL');
          await exited;
        }
        rmSync(n.dir, { recursive: true, force: true });
      }),
    );
  };
  const anyLive = (): ClusterNodeProcess => {
    const n = nodes.find((x) => x.child && x.child.exitCode === null && x.child.signalCode === null);
    if (!n) throw new Error('no live Redis Cluster node');
    return n;
  };
  const clusterNodesText = async (port: number): Promise<string> => {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    try {
      await r.connect();
      return (await r.call('CLUSTER', 'NODES')) as string;
    } finally {
      r.disconnect();
    }
  };
  const isAlive = (port: number): boolean => {
    const c = nodes.find((n) => n.port === port)?.child;
    return !!c && c.exitCode === null && c.signalCode === null;
  };
  const cluster: LocalRedisCluster = {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    async roles() {
      return parseNodes(await clusterNodesText(anyLive().port)).map(({ port, id, role, masterId }) => ({ port, id, role, masterId }));
    },
    client: (port) => new Redis({ port, host: '127.0.0.1' }),
    kill(port) {
      nodes.find((n) => n.port === port)?.child?.kill('SIGKILL');
    },
    async waitHealthy(timeoutMs = 60_000) {
      await waitFor(
        async () => {
          for (const n of nodes) {
            if (!isAlive(n.port)) continue;
            const r = new Redis({ port: n.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
            try {
              await r.connect();
              const info = (await r.call('CLUSTER', 'INFO')) as string;
              if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
            } finally {
              r.disconnect();
            }
          }
          // Every master that serves slots is alive.
          const view = parseNodes(await clusterNodesText(anyLive().port));
          return view.filter((v) => v.role === 'master' && v.slots).every((v) => isAlive(v.port) && !v.failed);
        },
        { timeoutMs, intervalMs: 250, what: 'a healthy Redis Cluster' },
      );
    },
    async commandsByMaster() {
      const out = new Map<number, number>();
      for (const r of await cluster.roles()) {
        if (r.role !== 'master' || !isAlive(r.port)) continue;
        const c = new Redis({ port: r.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        try {
          await c.connect();
          const stats = await c.info('stats');
          out.set(r.port, Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0));
        } finally {
          c.disconnect();
        }
      }
      return out;
    },
    stop,
  };
  try {
    for (const n of nodes) startNode(n);
    for (const n of nodes) await waitFor(() => ping(n.port), { timeoutMs: 15_000, intervalMs: 100, what: `redis-server on ${n.port}` });
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(opts.replicasPerMaster ?? 1), '--cluster-yes'], { timeout: 60_000 });
    await cluster.waitHealthy();
    // Every node knows every other, and each replica follows a master.
    await waitFor(async () => (await cluster.roles()).filter((r) => r.role === 'replica' && r.masterId).length === count - (opts.masters ?? 3), { timeoutMs: 30_000, intervalMs: 250, what: 'replicas attached' });
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Per-master ops/s between two samples, the mean, and the largest as a multiple of the mean. */
export function opsSpread(before: Map<number, number>, after: Map<number, number>, seconds: number): { perNode: Record<string, number>; mean: number; maxOverMean: number } {
  const perNode: Record<string, number> = {};
  for (const [port, n] of after) perNode[String(port)] = Math.round((n - (before.get(port) ?? 0)) / seconds);
  const values = Object.values(perNode);
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return { perNode, mean: Math.round(mean), maxOverMean: mean > 0 ? Math.max(...values) / mean : 0 };
}
