/**
 * Runs crawlfleet services as child processes, the way compose or Kubernetes would: one
 * process per service replica, started with the image's command (`bin/crawlfleet.js
 * <service>`), configured only by environment, restarted with backoff when it crashes,
 * stopped with SIGTERM (then SIGKILL after a grace period). Used by `npm start` and by the
 * end-to-end and chaos tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../shared/paths.js';
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../shared/pipeline/services.js';

export interface ProcessSpec {
  /** Unique label, e.g. `fetcher.2`. */
  label: string;
  service: ServiceName;
  env: Record<string, string>;
}

export interface SupervisorOptions {
  /** Restart a process that exits on its own (default true). */
  restart?: boolean;
  /** Where each output line goes; defaults to stdout with a `[label]` prefix. */
  onLine?: (label: string, line: string, stream: 'stdout' | 'stderr') => void;
  /** Grace before SIGKILL when stopping (default 25 s). */
  stopGraceMs?: number;
  /** Longest wait before restarting a process that keeps crashing (default 10 s; the wait doubles from 250 ms up to it). */
  maxRestartDelayMs?: number;
}

interface Managed {
  spec: ProcessSpec;
  child: ChildProcess | null;
  restarts: number;
  startedAt: number;
  stopping: boolean;
  exited: Promise<void>;
  timer: NodeJS.Timeout | null;
}

export const LAUNCHER = join(packageRoot, 'bin', 'crawlfleet.js');

/**
 * V8 heap sizing of the service processes, here and in the deployment files: the image's
 * `ENV NODE_OPTIONS` (Dockerfile) holds SERVICE_NODE_OPTIONS, which compose and Kubernetes
 * inherit, and a service with flags of its own sets them in its compose service and its
 * Deployment; a test holds all of them equal to this table. By default V8 sizes a heap for
 * the machine's RAM and lets a busy service grow to 200+ MB of mostly garbage; a 4 MB
 * semi-space and a 512 MB old-space ceiling (far above any service's live data) keep a
 * fetcher near 120 MB for about 8% more CPU (docs/performance.md). The extractor's Markdown
 * conversion allocates a syntax tree or two per page, most of it dead before the next page:
 * with a 16 MB semi-space the extractor spends 11% less CPU per converted page than with 4 MB
 * (session 6), and with 32 MB another 4% (session 8, for ~60 MB more at its peak). Delivery
 * decodes and stores records of 10-20 KB each: 16 MB cuts its CPU per record by ~8% for ~25 MB
 * (docs/performance.md, session 8). A process spec's own NODE_OPTIONS come after, so they win.
 */
export const SERVICE_NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=512';
const NODE_OPTIONS_OF: Partial<Record<ServiceName, string>> = {
  extractor: '--max-semi-space-size=32 --max-old-space-size=512',
  delivery: '--max-semi-space-size=16 --max-old-space-size=512',
};

/** The V8 flags `service` runs with (SERVICE_NODE_OPTIONS unless the service has its own). */
export function serviceNodeOptions(service: ServiceName): string {
  return NODE_OPTIONS_OF[service] ?? SERVICE_NODE_OPTIONS;
}

/**
 * Children of every supervisor of this process. When the process ends without stopping them
 * (an uncaught error, a broken stdout pipe), they get SIGTERM from the 'exit' hook rather
 * than live on as orphans holding queues and ports.
 */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGTERM');
});

export class Supervisor extends EventEmitter<{ exit: [string, number | null, NodeJS.Signals | null]; spawn: [string, number] }> {
  private readonly procs = new Map<string, Managed>();
  private closed = false;

  constructor(private readonly opts: SupervisorOptions = {}) {
    super();
  }

  start(spec: ProcessSpec): void {
    const m: Managed = { spec, child: null, restarts: 0, startedAt: 0, stopping: false, exited: Promise.resolve(), timer: null };
    this.procs.set(spec.label, m);
    this.launch(m);
  }

  private launch(m: Managed): void {
    const child = spawn(process.execPath, ['--enable-source-maps', LAUNCHER, m.spec.service], {
      env: { PATH: process.env.PATH ?? '', ...m.spec.env, NODE_OPTIONS: `${serviceNodeOptions(m.spec.service)} ${m.spec.env.NODE_OPTIONS ?? ''}`.trim() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    m.child = child;
    live.add(child);
    m.stopping = false;
    m.startedAt = Date.now();
    const onLine = this.opts.onLine ?? ((label: string, line: string) => process.stdout.write(`[${label}] ${line}\n`));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => onLine(m.spec.label, l, 'stdout'));
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => onLine(m.spec.label, l, 'stderr'));
    m.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        if (m.child === child) m.child = null;
        this.emit('exit', m.spec.label, code, signal);
        const wanted = m.stopping || this.closed;
        if (!wanted && (this.opts.restart ?? true)) {
          // A process that stayed up a while starts over with a short backoff.
          if (Date.now() - m.startedAt > 10_000) m.restarts = 0;
          const delay = Math.min(250 * 2 ** m.restarts, this.opts.maxRestartDelayMs ?? 10_000);
          m.restarts++;
          onLine(m.spec.label, `exited (code ${code}, signal ${signal}); restarting in ${delay} ms`, 'stderr');
          m.timer = setTimeout(() => {
            m.timer = null;
            if (!this.closed && !m.stopping) this.launch(m);
          }, delay);
        }
        resolve();
      });
    });
    if (child.pid) this.emit('spawn', m.spec.label, child.pid);
  }

  labels(): string[] {
    return [...this.procs.keys()];
  }

  pid(label: string): number | null {
    return this.procs.get(label)?.child?.pid ?? null;
  }

  /** Sends a signal without marking the process as stopping: a SIGKILL is a crash, and it restarts. */
  signal(label: string, sig: NodeJS.Signals): boolean {
    const child = this.procs.get(label)?.child;
    return child ? child.kill(sig) : false;
  }

  /** Stops one process gracefully (SIGTERM, then SIGKILL after the grace). */
  async stop(label: string): Promise<void> {
    const m = this.procs.get(label);
    if (!m) return;
    m.stopping = true;
    if (m.timer) clearTimeout(m.timer);
    const child = m.child;
    if (!child) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), this.opts.stopGraceMs ?? 25_000);
    await m.exited;
    clearTimeout(killer);
  }

  /** Starts a stopped process again. */
  restart(label: string): void {
    const m = this.procs.get(label);
    if (m && !m.child) this.launch(m);
  }

  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.all(this.labels().map((l) => this.stop(l)));
  }
}

export interface StackOptions {
  /** Replicas per service; a service not named runs its default number (shared/pipeline/services.ts). */
  replicas?: Partial<Record<ServiceName, number>>;
  /** Environment shared by every process. */
  env: Record<string, string>;
  /** First port of the worker health servers; each process gets the next one (0 = any free port). */
  firstWorkerPort?: number;
}

/** The specs of a whole stack, every service of the registry in its order with its replicas. */
export function stackSpecs(o: StackOptions): ProcessSpec[] {
  const specs: ProcessSpec[] = [];
  let port = o.firstWorkerPort ?? 0;
  const nextPort = (): string => String(port === 0 ? 0 : port++);
  for (const service of SERVICE_NAMES) {
    const def = SERVICES[service];
    const n = o.replicas?.[service] ?? def.defaultReplicas;
    for (let i = 1; i <= n; i++) {
      // Services that usually run several replicas are labelled `<service>.<i>` (fetcher.1), the others by their name.
      const label = n > 1 || def.defaultReplicas > 1 ? `${service}.${i}` : service;
      specs.push({ label, service, env: 'api' in def ? { ...o.env } : { ...o.env, HTTP_PORT: nextPort() } });
    }
  }
  return specs;
}
