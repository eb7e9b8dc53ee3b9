// Static checks of Dockerfile and .dockerignore (no Docker engine needed): the
// image contract of crawlfleet, and that every file the build copies is in the
// build context.
//
//   node dockerfile-lint.js --repo DIR [--dockerfile FILE]
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { Report, exitWith } from './lib.js';

const BASE_IMAGE = 'node:20-bookworm-slim';

/** Instructions of a Dockerfile: {op, args, line}, continuation lines joined. */
function parseDockerfile(text) {
  const out = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (!buf && (/^\s*#/.test(line) || /^\s*$/.test(line))) return;
    if (buf && /^\s*#/.test(line)) return; // comment inside a continuation
    if (!buf) start = i + 1;
    if (/\\\s*$/.test(line)) {
      buf += `${line.replace(/\\\s*$/, '')} `;
      return;
    }
    buf += line;
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(buf);
    if (m) out.push({ op: m[1].toUpperCase(), args: m[2].trim(), line: start });
    buf = '';
  });
  return out;
}

/** .dockerignore matcher (Docker semantics: last matching rule wins, `!` re-includes, a match on a parent excludes its children). */
function dockerignore(text) {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pat = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
    const re = new RegExp(`^${pat.split('/').map((seg) => (seg === '**' ? '(?:.*)' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/').replace(/\(\?:\.\*\)\//g, '(?:.*/)?')}$`);
    return { negate, re, pat };
  });
  return (p) => {
    const parts = path.posix.normalize(p).split('/');
    let ignored = false;
    for (const r of rules) {
      for (let i = 1; i <= parts.length; i++) {
        if (r.re.test(parts.slice(0, i).join('/'))) {
          ignored = !r.negate;
          break;
        }
      }
    }
    return ignored;
  };
}

function main() {
  const args = process.argv.slice(2);
  let repo = process.cwd();
  let dockerfile;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--repo') repo = args[++i];
    else if (args[i] === '--dockerfile') dockerfile = args[++i];
  }
  const report = new Report('docker');
  const df = parseDockerfile(readFileSync(dockerfile ?? path.join(repo, 'Dockerfile'), 'utf8'));
  const ignoreFile = path.join(repo, '.dockerignore');
  const isIgnored = existsSync(ignoreFile) ? dockerignore(readFileSync(ignoreFile, 'utf8')) : () => false;
  const err = (ins, msg) => report.error(ins ? `Dockerfile:${ins.line} ${ins.op}` : 'Dockerfile', msg);

  // Stages, with ARG defaults substituted in FROM.
  const args0 = {};
  const stages = [];
  for (const ins of df) {
    if (ins.op === 'ARG' && stages.length === 0) {
      const [k, v] = ins.args.split('=');
      args0[k.trim()] = v?.trim();
    }
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(ins.args);
      const image = m[1].replace(/\$\{?(\w+)\}?/g, (_, k) => args0[k] ?? '');
      stages.push({ name: m[2], image, ins: [], from: ins });
    } else if (stages.length) stages[stages.length - 1].ins.push(ins);
  }
  if (stages.length < 2) err(null, 'must be multi-stage (build stage + runtime stage)');
  for (const s of stages) if (s.image !== BASE_IMAGE && !stages.some((o) => o.name === s.image)) err(s.from, `base image must be ${BASE_IMAGE} (got ${s.image})`);
  const runtime = stages[stages.length - 1];
  const build = stages.slice(0, -1);
  const runs = (st) => st.ins.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
  if (!build.some((s) => /npm ci(?![^\n]*--omit=dev)/.test(runs(s)) && /npm run build/.test(runs(s)))) err(null, 'a build stage must run `npm ci` (with dev dependencies) and `npm run build`');
  if (runtime) {
    const r = runs(runtime);
    if (!/npm ci[^\n]*--omit=dev/.test(r)) err(runtime.from, 'the runtime stage must install production dependencies only (npm ci --omit=dev)');
    const copies = runtime.ins.filter((i) => i.op === 'COPY').map((i) => i.args);
    const copied = (re) => copies.some((c) => re.test(c));
    if (!copied(/--from=\S+\s+\S*dist\b/)) err(runtime.from, 'the runtime stage must copy dist/ from the build stage');
    if (!copied(/(^|\s)bin\b/)) err(runtime.from, 'the runtime stage must copy bin/');
    if (!copied(/shared\/redis\/lua/)) err(runtime.from, 'the runtime stage must copy shared/redis/lua/ (read at run time)');
    if (!copied(/package\.json/) || !copied(/package-lock\.json/)) err(runtime.from, 'the runtime stage must copy package.json and package-lock.json');
    const users = runtime.ins.filter((i) => i.op === 'USER');
    const user = users[users.length - 1];
    if (!user || /^(root|0)(:|$)/.test(user.args)) err(user ?? runtime.from, 'the runtime stage must switch to a non-root USER');
    else if (!/^\d+(:\d+)?$/.test(user.args)) report.warn('Dockerfile', `USER ${user.args}: a numeric uid lets Kubernetes verify runAsNonRoot`);
    const hc = runtime.ins.find((i) => i.op === 'HEALTHCHECK');
    if (!hc || !/\/healthz/.test(hc.args)) err(hc ?? runtime.from, 'needs a HEALTHCHECK that requests /healthz');
    const entry = runtime.ins.filter((i) => i.op === 'ENTRYPOINT').pop();
    if (!entry || !/tini|dumb-init/.test(entry.args)) err(entry ?? runtime.from, 'ENTRYPOINT must start an init process (tini or dumb-init) to forward signals');
    else if (!/apt-get install[^\n]*\b(tini|dumb-init)\b/.test(r)) err(entry, 'tini/dumb-init must be installed in the runtime stage');
    const env = runtime.ins.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    for (const kv of ['CONTROLLER_HOST=0.0.0.0', 'HTTP_HOST=0.0.0.0', 'NODE_ENV=production']) {
      if (!env.split(/\s+/).includes(kv)) err(runtime.from, `ENV ${kv} required`);
    }
    const cmd = runtime.ins.filter((i) => i.op === 'CMD').pop();
    if (!cmd || !/bin\/crawlfleet\.js/.test(cmd.args) || !/controller/.test(cmd.args)) err(cmd ?? runtime.from, 'default CMD must run bin/crawlfleet.js controller');
  }

  // Every context path a COPY/ADD reads exists and is not excluded.
  for (const ins of df) {
    if ((ins.op !== 'COPY' && ins.op !== 'ADD') || /--from=/.test(ins.args)) continue;
    const parts = ins.args.replace(/--\S+/g, '').trim();
    const list = parts.startsWith('[') ? JSON.parse(parts) : parts.split(/\s+/);
    for (const src of list.slice(0, -1)) {
      if (src === '.') continue;
      if (!existsSync(path.join(repo, src))) err(ins, `${src} does not exist in the build context`);
      else if (isIgnored(src)) err(ins, `${src} is excluded by .dockerignore`);
    }
  }
  for (const p of ['node_modules', 'dist', '.git', 'results', '.env']) if (!isIgnored(p)) report.error('.dockerignore', `must exclude ${p}`);
  for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'shared', 'shared/redis/lua', 'services']) {
    if (isIgnored(p)) report.error('.dockerignore', `must not exclude ${p} (needed by the build)`);
  }
  exitWith(report.print(`Dockerfile: ${stages.length} stages from ${BASE_IMAGE}, non-root, init, HEALTHCHECK, build context`));
}

main();
