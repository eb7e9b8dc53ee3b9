/**
 * Summarizes V8 CPU profiles (`node --cpu-prof`, e.g. from `bench/run.js --cpu-prof DIR`):
 * self time by function and by package, per profile.
 *
 *   node dist/bench/profile-summary.js DIR_OR_FILE... [--top N]
 *
 * When DIR holds `pids.json` (written by the bench: pid → label), each profile is named
 * after its service.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  label: string;
  /** Wall time covered, ms. */
  wallMs: number;
  /** Sampled time that was not idle, ms (measurement frames excluded). */
  busyMs: number;
  /** Time in the bench's preload (measurement), left out of busyMs. */
  excludedMs: number;
  functions: { name: string; ms: number; share: number }[];
  /** Self time of the package's own frames. */
  packages: { name: string; ms: number; share: number }[];
  /** Self time charged to the nearest package (or crawlfleet) frame on the stack: node internals and natives go to their caller. */
  owners: { name: string; ms: number; share: number }[];
}

/** node_modules package, node: internal, the project file, or a V8 pseudo-frame. */
function packageOf(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] as string;
  if (url.startsWith('node:')) return 'node:internal';
  const d = /\/dist\/(.+)$/.exec(url);
  return d ? `crawlfleet:${(d[1] as string).split('/').slice(0, 2).join('/')}` : url;
}

export function summarize(file: string, label: string, top: number): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** The nearest frame on the stack (this one or a caller) that belongs to a package or to crawlfleet. */
  const ownerOf = (id: number): string => {
    const own = byId.get(id);
    if (own && own.callFrame.url === '' && own.callFrame.functionName.startsWith('(')) return own.callFrame.functionName;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const pkg = packageOf(n.callFrame.url, n.callFrame.functionName);
      if (pkg !== 'node:internal' && pkg !== '(native)' && !pkg.startsWith('(')) return pkg;
    }
    return 'node:internal';
  };
  const fns = new Map<string, number>();
  const pkgs = new Map<string, number>();
  const owners = new Map<string, number>();
  let busy = 0;
  let excluded = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    const owner = ownerOf(id);
    // The bench's own preload (Redis counting, the profiler stop at exit) is measurement, not service work.
    if (owner === 'crawlfleet:bench/preload.js') {
      excluded += us;
      continue;
    }
    busy += us;
    const short = url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
    const key = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
    const pkg = packageOf(url, functionName);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
  }
  const list = (m: Map<string, number>): { name: string; ms: number; share: number }[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), share: busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0 }));
  return { file, label, wallMs: Math.round((p.endTime - p.startTime) / 1000), busyMs: Math.round(busy / 1000), excludedMs: Math.round(excluded / 1000), functions: list(fns), packages: list(pkgs), owners: list(owners) };
}

function profilesIn(path: string): { file: string; label: string }[] {
  if (!statSync(path).isDirectory()) return [{ file: path, label: basename(path) }];
  const pidsFile = join(path, 'pids.json');
  const labels = new Map<number, string>();
  if (existsSync(pidsFile)) {
    for (const [pid, label] of Object.entries(JSON.parse(readFileSync(pidsFile, 'utf8')) as Record<string, string>)) labels.set(Number(pid), label);
  }
  return readdirSync(path)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => {
      const pid = Number(f.split('.')[3]);
      return { file: join(path, f), label: labels.get(pid) ?? `pid ${pid}` };
    });
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
  const top = Number(values.top);
  for (const path of positionals) {
    for (const { file, label } of profilesIn(path)) {
      const s = summarize(file, label, top);
      process.stdout.write(`\n## ${s.label} — ${basename(s.file)}: ${s.busyMs} ms busy of ${s.wallMs} ms (${s.excludedMs} ms of measurement left out)\n\n| self ms | % of busy | function |\n| ---: | ---: | --- |\n`);
      for (const f of s.functions) process.stdout.write(`| ${f.ms} | ${f.share} | \`${f.name}\` |\n`);
      process.stdout.write(`\n| self ms | % of busy | package (own frames) |\n| ---: | ---: | --- |\n`);
      for (const f of s.packages) process.stdout.write(`| ${f.ms} | ${f.share} | ${f.name} |\n`);
      process.stdout.write(`\n| ms | % of busy | package incl. the node internals and natives it calls |\n| ---: | ---: | --- |\n`);
      for (const f of s.owners) process.stdout.write(`| ${f.ms} | ${f.share} | ${f.name} |\n`);
    }
  }
}

main();
