/**
 * A three-node RabbitMQ cluster of the test's own, on this machine, from the Debian package
 * the machine already runs (3.10): each node has its own name (`cf<random>-<i>@localhost`),
 * AMQP and distribution ports (free ones, never 5672/25672), data, log and pid files in a
 * temporary directory, no plugins, and the same Erlang cookie (a HOME of its own holding
 * it, so the machine's node and its cookie are never touched; epmd on 4369 is shared). Nodes
 * 2 and 3 join node 1 (`stop_app`, `join_cluster`, `start_app`).
 *
 * A node can be stopped (its whole Erlang VM, as a crash or a maintenance would) and started
 * again from its data (it rejoins the cluster by itself). `close` stops every node and removes
 * the directories; call it in an `after` hook, it also cleans up after a failed start.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitFor } from './stack.js';

const run = promisify(execFile);

/** The package's own scripts (the /usr/sbin wrappers would switch to the rabbitmq user and its cookie). */
const SBIN = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') ? '/usr/lib/rabbitmq/bin' : '';
const bin = (name: string): string => (SBIN ? join(SBIN, name) : name);

export interface RabbitNode {
  /** Erlang node name, `cf…-1@localhost`. */
  name: string;
  /** AMQP port. */
  port: number;
  /** `amqp://guest:guest@127.0.0.1:<port>` */
  url: string;
}

export interface RabbitCluster {
  nodes: readonly RabbitNode[];
  /** Every node's URL, comma-separated, for AMQP_URL. */
  url: string;
  /** How long the start took (nodes booted and joined), in ms. */
  startupMs: number;
  /** Stops node `i` (its Erlang VM exits). */
  stopNode(i: number): Promise<void>;
  /** Starts node `i` again from its data; resolves once it runs and is back in the cluster. Returns the ms it took. */
  startNode(i: number): Promise<number>;
  /** The nodes hosting each quorum queue whose name starts with `prefix`, asked of a running node. */
  members(prefix: string): Promise<Map<string, string[]>>;
  /** The names of the nodes the cluster reports running. */
  running(): Promise<string[]>;
  /** What a running node says of the queues whose name starts with `prefix` (messages, leader, online members), for a failure's report. */
  describe(prefix: string): Promise<string>;
  /** Stops every node and removes its files; with `keepLogsIn`, the nodes' logs are copied there first. */
  close(opts?: { keepLogsIn?: string }): Promise<void>;
}

interface NodeState extends RabbitNode {
  dir: string;
  env: NodeJS.ProcessEnv;
  child: ChildProcess | null;
}

function spawnNode(n: NodeState): void {
  const log = openSync(join(n.dir, 'console.log'), 'a');
  try {
    n.child = spawn(bin('rabbitmq-server'), [], { env: n.env, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  n.child.on('exit', () => {
    n.child = null;
  });
}

async function ctl(n: NodeState, args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await run(bin('rabbitmqctl'), ['-n', n.name, ...args], { env: n.env, timeout: timeoutMs });
  return stdout;
}

async function awaitStartup(n: NodeState): Promise<void> {
  // Right after the spawn the node may not be registered with epmd yet: ask again, bounded.
  await waitFor(async () => (await ctl(n, ['await_startup', '--timeout', '60']).then(() => true, () => false)) || null, {
    timeoutMs: 120_000,
    intervalMs: 500,
    what: `RabbitMQ node ${n.name} to start`,
  });
}

/** The Erlang VM's pid, from the pid file the node writes when it boots (the spawned child is the rabbitmq-server shell around it). */
function beamPid(n: NodeState): number | null {
  try {
    const pid = Number(readFileSync(join(n.dir, 'rabbitmq.pid'), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a node: SIGTERM to its Erlang VM, which shuts RabbitMQ down in order (as `rabbitmqctl
 * stop` would, without starting a CLI VM, which takes a minute on a loaded machine); SIGKILL
 * after a minute. Resolves when the VM is gone.
 */
async function stopNode(n: NodeState): Promise<void> {
  const child = n.child;
  if (!child) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pid = beamPid(n);
  if (pid === null || !signal(pid, 'SIGTERM')) child.kill('SIGTERM');
  const killed = setTimeout(() => {
    if (pid !== null) signal(pid, 'SIGKILL');
    child.kill('SIGKILL');
  }, 60_000);
  await exited;
  clearTimeout(killed);
  if (pid !== null) {
    await waitFor(async () => !signal(pid, 0), { timeoutMs: 30_000, intervalMs: 200, what: `the Erlang VM of ${n.name} to exit` }).catch(() => signal(pid, 'SIGKILL'));
  }
  rmSync(join(n.dir, 'rabbitmq.pid'), { force: true });
}

export async function startRabbitCluster(size = 3): Promise<RabbitCluster> {
  const started = Date.now();
  const root = mkdtempSync(join(tmpdir(), 'crawlfleet-rmq-cluster-'));
  const cookie = randomBytes(20).toString('hex').toUpperCase();
  const tag = `cf${randomBytes(3).toString('hex')}`;
  const nodes: NodeState[] = [];
  const taken = new Set<number>();
  const port = async (): Promise<number> => {
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    return p;
  };
  try {
    for (let i = 1; i <= size; i++) {
      const dir = join(root, `n${i}`);
      mkdirSync(dir);
      const amqpPort = await port();
      const distPort = await port();
      writeFileSync(join(dir, '.erlang.cookie'), cookie);
      chmodSync(join(dir, '.erlang.cookie'), 0o400);
      writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
      writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${amqpPort}\n`);
      writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
      const name = `${tag}-${i}@localhost`;
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        LANG: 'C.UTF-8',
        HOME: dir,
        RABBITMQ_NODENAME: name,
        RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
        RABBITMQ_NODE_PORT: String(amqpPort),
        RABBITMQ_DIST_PORT: String(distPort),
        RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
        RABBITMQ_LOG_BASE: join(dir, 'log'),
        RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
        RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
        RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
        RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
        ERL_EPMD_ADDRESS: '127.0.0.1',
        // rabbitmqctl's own distribution port: any free one (0), not the 35672.. range it defaults to.
        RABBITMQ_CTL_DIST_PORT_MIN: '0',
        RABBITMQ_CTL_DIST_PORT_MAX: '0',
      };
      nodes.push({ name, port: amqpPort, url: `amqp://guest:guest@127.0.0.1:${amqpPort}`, dir, env, child: null });
    }
    // The nodes boot side by side; then each joins the first.
    for (const n of nodes) spawnNode(n);
    await Promise.all(nodes.map(awaitStartup));
    const [first, ...rest] = nodes as [NodeState, ...NodeState[]];
    for (const n of rest) {
      await ctl(n, ['stop_app']);
      await ctl(n, ['join_cluster', first.name]);
      await ctl(n, ['start_app']);
    }
  } catch (err) {
    await Promise.all(nodes.map(stopNode));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }

  const runningNode = (): NodeState => {
    const n = nodes.find((x) => x.child !== null);
    if (!n) throw new Error('no RabbitMQ node of the cluster is running');
    return n;
  };
  const cluster: RabbitCluster = {
    nodes: nodes.map(({ name, port: p, url }) => ({ name, port: p, url })),
    url: nodes.map((n) => n.url).join(','),
    startupMs: Date.now() - started,
    async stopNode(i) {
      await stopNode(nodes[i] as NodeState);
    },
    async startNode(i) {
      const t0 = Date.now();
      const n = nodes[i] as NodeState;
      spawnNode(n);
      await awaitStartup(n);
      return Date.now() - t0;
    },
    async members(prefix) {
      const out = await ctl(runningNode(), ['-q', 'list_queues', 'name', 'type', 'members', '--no-table-headers']);
      const map = new Map<string, string[]>();
      for (const line of out.split('\n')) {
        const [name, type, members] = line.split('\t');
        if (!name?.startsWith(prefix) || type !== 'quorum') continue;
        map.set(name, (members ?? '').replace(/[[\]]/g, '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
      }
      return map;
    },
    async running() {
      const out = await ctl(runningNode(), ['-q', 'eval', 'rabbit_nodes:all_running().']);
      return [...out.matchAll(/'?([\w.-]+@[\w.-]+)'?/g)].map((m) => m[1] as string);
    },
    async describe(prefix) {
      const out = await ctl(runningNode(), ['-q', 'list_queues', 'name', 'messages', 'messages_unacknowledged', 'consumers', 'leader', 'online', '--no-table-headers']);
      return out.split('\n').filter((l) => l.startsWith(prefix)).join('\n');
    },
    async close(opts = {}) {
      await Promise.all(nodes.map(stopNode));
      if (opts.keepLogsIn) {
        for (const n of nodes) cpSync(join(n.dir, 'log'), join(opts.keepLogsIn, n.name), { recursive: true });
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  return cluster;
}
