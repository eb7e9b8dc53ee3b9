/**
 * The Grafana dashboard queries only metrics the code defines: every metric name in every
 * PromQL expression of deploy/grafana/crawlfleet.json must be a series name of the
 * registry that createMetrics builds (histograms as _bucket/_sum/_count).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetrics } from '../../../shared/observability/metrics.js';
import { packageRoot } from '../../../shared/paths.js';

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos?: { h: number; w: number; x: number; y: number };
}

const FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'count_over_time', 'delta', 'deriv', 'exp', 'floor',
  'histogram_quantile', 'idelta', 'increase', 'irate', 'label_replace', 'label_join', 'ln', 'log2', 'log10', 'max_over_time', 'min_over_time', 'predict_linear', 'rate',
  'resets', 'round', 'scalar', 'sort', 'sort_desc', 'sqrt', 'sum_over_time', 'time', 'timestamp', 'vector', 'last_over_time', 'quantile_over_time',
  // aggregations
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile',
]);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan']);

/** Metric names referenced by a PromQL expression (a small tokenizer, enough for dashboards). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/\$\{?\w+\}?/g, ' ') // Grafana variables ($__rate_interval, ${datasource})
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names: string[] = [];
  const token = /(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g;
  for (let m = token.exec(stripped); m; m = token.exec(stripped)) {
    const ident = m[2];
    if (!ident) continue;
    if (m[3]) {
      assert.ok(FUNCTIONS.has(ident), `unknown PromQL function ${ident} in ${expr}`);
      continue;
    }
    if (KEYWORDS.has(ident.toLowerCase())) continue;
    names.push(ident);
  }
  return names;
}

async function definedSeries(): Promise<Set<string>> {
  const { registry } = createMetrics('test');
  const out = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(m.name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) out.add(m.name + s);
    else out.add(m.name);
  }
  return out;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

describe('Grafana dashboard deploy/grafana/crawlfleet.json', () => {
  const dashboard = JSON.parse(readFileSync(join(packageRoot, 'deploy', 'grafana', 'crawlfleet.json'), 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } };
  const panels = allPanels(dashboard.panels);
  const queries = panels.filter((p) => p.type !== 'row');

  it('parses the tokenizer cases it relies on', () => {
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, stage) (rate(crawlfleet_stage_seconds_bucket[$__rate_interval])))'), ['crawlfleet_stage_seconds_bucket']);
    assert.deepEqual(metricNames('max by (queue) (crawlfleet_queue_depth{queue=~"fetch|dead"}) or vector(0)'), ['crawlfleet_queue_depth']);
    assert.deepEqual(metricNames('count(a_b < scalar(max(c_d))) / 1e3'), ['a_b', 'c_d']);
  });

  it('has unique panel ids, a Prometheus datasource variable and queries on every panel', () => {
    assert.equal(dashboard.uid, 'crawlfleet-overview');
    assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    assert.ok(queries.length >= 15);
    for (const p of queries) {
      assert.equal(p.datasource?.uid, '${datasource}', `${p.title}: datasource`);
      assert.ok(p.targets && p.targets.length > 0, `${p.title}: has queries`);
      assert.ok(p.gridPos && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the grid`);
    }
  });

  it('queries only metric names that createMetrics defines', async () => {
    const defined = await definedSeries();
    const used = new Set<string>();
    for (const p of queries) {
      for (const t of p.targets ?? []) {
        assert.ok(t.expr, `${p.title} ${t.refId}: expr`);
        const names = metricNames(t.expr);
        assert.ok(names.length > 0, `${p.title}: ${t.expr} names a metric`);
        for (const n of names) {
          assert.ok(defined.has(n), `${p.title}: ${n} is not a metric of createMetrics()`);
          used.add(n);
        }
      }
    }
    // The panels the operations guide promises.
    for (const n of [
      'crawlfleet_pages_fetched_total', 'crawlfleet_fetch_seconds_bucket', 'crawlfleet_queue_depth', 'crawlfleet_queue_consumers', 'crawlfleet_retries_total',
      'crawlfleet_dead_letters_total', 'crawlfleet_rate_limit_wait_seconds_total', 'crawlfleet_process_resident_memory_bytes', 'crawlfleet_process_cpu_seconds_total',
      'crawlfleet_config_version', 'crawlfleet_sessions',
    ]) assert.ok(used.has(n), `the dashboard shows ${n}`);
  });
});
