/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests and
 * tools that read `/metrics`: what a scraper would refuse, this refuses too, with the line
 * number. Checked: HELP/TYPE syntax and order, metric and label names, label value escapes,
 * float values, contiguous families, duplicate series, and the histogram rules (an `le`
 * on every bucket, cumulative buckets in increasing order, `+Inf` bucket = `_count`).
 */
import { CrawlError } from '../errors/index.js';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, ... for histograms). */
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
  timestamp: number | null;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | null;
  samples: Sample[];
}

export type Exposition = ReadonlyMap<string, Family>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function fail(line: number, message: string): never {
  throw new CrawlError('validation', `metrics line ${line}: ${message}`, { details: { line } });
}

function parseFloatStrict(text: string, line: number): number {
  // As Go's strconv.ParseFloat, which Prometheus uses: NaN and Inf in any case.
  if (/^nan$/i.test(text)) return NaN;
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  if (!FLOAT.test(text)) fail(line, `not a number: ${JSON.stringify(text)}`);
  return Number(text);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** Parses `{a="x",b="y"}` starting at `text[start] === '{'`; returns the labels and the index after `}`. */
function parseLabels(text: string, start: number, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return { labels, end: i + 1 };
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!nameMatch) fail(line, `bad label name at column ${i + 1}`);
    const name = nameMatch[0];
    if (name.startsWith('__')) fail(line, `reserved label name ${name}`);
    if (Object.hasOwn(labels, name)) fail(line, `label ${name} twice`);
    i += name.length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=') fail(line, `expected = after label ${name}`);
    i++;
    while (text[i] === ' ') i++;
    if (text[i] !== '"') fail(line, `label ${name}: value must be quoted`);
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) fail(line, `label ${name}: unterminated value`);
      if (c === '"') break;
      if (c === '\\') {
        const n = text[i + 1];
        if (n === '\\') value += '\\';
        else if (n === '"') value += '"';
        else if (n === 'n') value += '\n';
        else fail(line, `label ${name}: bad escape \\${n ?? ''}`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    i++;
    while (text[i] === ' ') i++;
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') return { labels, end: i + 1 };
    fail(line, `expected , or } after label ${name}`);
  }
}

/** The family a sample name belongs to, given the declared types. */
function familyOf(sampleName: string, types: ReadonlyMap<string, MetricType>): string {
  for (const suffix of ['_bucket', '_sum', '_count'] as const) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const t = types.get(base);
    if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
  }
  return sampleName;
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  return name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function checkHistogram(f: Family, firstLine: number): void {
  // Group buckets by their labels without `le`.
  const groups = new Map<string, { le: number; value: number }[]>();
  const counts = new Map<string, number>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = seriesKey('', rest);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) fail(firstLine, `${f.name}_bucket without an le label`);
      const list = groups.get(key) ?? [];
      list.push({ le: parseFloatStrict(le, firstLine), value: s.value });
      groups.set(key, list);
    } else if (s.name === `${f.name}_count`) {
      counts.set(key, s.value);
    } else if (s.name !== `${f.name}_sum`) {
      fail(firstLine, `histogram ${f.name} has a sample ${s.name}`);
    }
  }
  for (const [key, buckets] of groups) {
    for (let i = 1; i < buckets.length; i++) {
      const prev = buckets[i - 1] as { le: number; value: number };
      const cur = buckets[i] as { le: number; value: number };
      if (!(cur.le > prev.le)) fail(firstLine, `histogram ${f.name}: buckets not in increasing le order`);
      if (cur.value < prev.value) fail(firstLine, `histogram ${f.name}: bucket le=${cur.le} below le=${prev.le} (not cumulative)`);
    }
    const last = buckets[buckets.length - 1];
    if (!last || last.le !== Infinity) fail(firstLine, `histogram ${f.name}: no le="+Inf" bucket`);
    const count = counts.get(key);
    if (count === undefined) fail(firstLine, `histogram ${f.name}: no _count for ${key}`);
    if (count !== last.value) fail(firstLine, `histogram ${f.name}: _count ${count} != +Inf bucket ${last.value}`);
  }
}

/** Parses a whole exposition; throws a `validation` CrawlError naming the line on any violation. */
export function parseExposition(text: string): Exposition {
  const families = new Map<string, Family>();
  const types = new Map<string, MetricType>();
  const helps = new Map<string, string>();
  const firstLineOf = new Map<string, number>();
  const series = new Set<string>();
  const closed = new Set<string>();
  let current: string | null = null;

  const family = (name: string, line: number): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: types.get(name) ?? 'untyped', help: helps.get(name) ?? null, samples: [] };
      families.set(name, f);
      firstLineOf.set(name, line);
    }
    return f;
  };
  const enter = (name: string, line: number): void => {
    if (current === name) return;
    if (current !== null) closed.add(current);
    if (closed.has(name)) fail(line, `samples of ${name} are not contiguous`);
    current = name;
  };

  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // a plain comment
      const kind = m[1] as 'HELP' | 'TYPE';
      const name = m[2] as string;
      const rest = m[3] ?? '';
      if (!METRIC_NAME.test(name)) fail(line, `bad metric name ${JSON.stringify(name)}`);
      if (kind === 'HELP') {
        if (helps.has(name)) fail(line, `second HELP for ${name}`);
        helps.set(name, unescapeHelp(rest));
        const f = families.get(name);
        if (f) f.help = helps.get(name) ?? null;
        return;
      }
      const type = rest.trim() as MetricType;
      if (!TYPES.has(type)) fail(line, `unknown type ${JSON.stringify(rest)} for ${name}`);
      if (types.has(name)) fail(line, `second TYPE for ${name}`);
      if (families.get(name)?.samples.length) fail(line, `TYPE for ${name} after its samples`);
      types.set(name, type);
      enter(name, line);
      family(name, line).type = type;
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    if (!nameMatch) fail(line, `bad metric name in ${JSON.stringify(raw.slice(0, 40))}`);
    const name = nameMatch[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (raw[i] === '{') {
      const parsed = parseLabels(raw, i, line);
      labels = parsed.labels;
      i = parsed.end;
    }
    const rest = raw.slice(i);
    if (!/^[ \t]/.test(rest)) fail(line, `expected a space before the value of ${name}`);
    const parts = rest.trim().split(/[ \t]+/);
    if (parts.length > 2) fail(line, `trailing text after the value of ${name}`);
    const value = parseFloatStrict(parts[0] as string, line);
    let timestamp: number | null = null;
    if (parts[1] !== undefined) {
      if (!/^-?\d+$/.test(parts[1])) fail(line, `bad timestamp ${JSON.stringify(parts[1])}`);
      timestamp = Number(parts[1]);
    }
    const famName = familyOf(name, types);
    const f = family(famName, line);
    enter(famName, line);
    const isCount = (f.type === 'histogram' || f.type === 'summary') && name !== `${famName}_sum` && !('quantile' in labels);
    if ((f.type === 'counter' || isCount) && !(value >= 0)) fail(line, `${name} must be a non-negative number, got ${parts[0]}`);
    for (const label of Object.keys(labels)) if (!LABEL_NAME.test(label)) fail(line, `bad label name ${label}`);
    const key = seriesKey(name, labels);
    if (series.has(key)) fail(line, `duplicate series ${name}${JSON.stringify(labels)}`);
    series.add(key);
    f.samples.push({ name, labels, value, timestamp });
  });

  for (const f of families.values()) {
    if (f.type === 'histogram') checkHistogram(f, firstLineOf.get(f.name) ?? 0);
  }
  return families;
}

/** Sum of the samples named `sampleName` whose labels include every pair of `match`. */
export function sumSamples(exp: Exposition, sampleName: string, match: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const f of exp.values()) {
    for (const s of f.samples) {
      if (s.name !== sampleName) continue;
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}

/** The samples named `sampleName` (any labels). */
export function samplesOf(exp: Exposition, sampleName: string): Sample[] {
  return [...exp.values()].flatMap((f) => f.samples.filter((s) => s.name === sampleName));
}
