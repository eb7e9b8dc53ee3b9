/** The strict Prometheus text parser: accepts what prom-client writes, refuses malformed input naming the line. */
import assert from 'node:assert/strict';
import { parseExposition, samplesOf, sumSamples } from '../../../shared/observability/exposition.js';
import { createMetrics } from '../../../shared/observability/metrics.js';

describe('Prometheus exposition parser', () => {
  it('parses a whole registry of createMetrics, histograms included', async () => {
    const m = createMetrics('fetcher');
    m.pagesFetched.inc({ status_class: '2xx' }, 3);
    m.pagesFetched.inc({ status_class: '5xx' });
    m.fetchSeconds.observe(0.02);
    m.fetchSeconds.observe(3);
    m.queueDepth.set({ queue: 'retry.250' }, 7);
    const exp = parseExposition(await m.registry.metrics());
    assert.equal(exp.get('crawlfleet_pages_fetched_total')?.type, 'counter');
    assert.equal(sumSamples(exp, 'crawlfleet_pages_fetched_total'), 4);
    assert.equal(sumSamples(exp, 'crawlfleet_pages_fetched_total', { status_class: '5xx', service: 'fetcher' }), 1);
    assert.equal(exp.get('crawlfleet_fetch_seconds')?.type, 'histogram');
    assert.equal(sumSamples(exp, 'crawlfleet_fetch_seconds_count'), 2);
    assert.deepEqual(samplesOf(exp, 'crawlfleet_queue_depth').map((s) => s.labels), [{ queue: 'retry.250', service: 'fetcher' }]);
    assert.ok(exp.has('crawlfleet_process_cpu_seconds_total'));
    assert.ok(exp.has('crawlfleet_process_resident_memory_bytes'));
  });

  it('reads escapes, special values, timestamps and comments', () => {
    const exp = parseExposition([
      '# a comment',
      '# HELP x_total Help with \\\\ and \\n.',
      '# TYPE x_total counter',
      'x_total{a="q\\"uote",b="back\\\\slash",c="new\\nline"} 1.5e3 1700000000000',
      '# TYPE g gauge',
      'g NaN',
      'g{k="v"} -Inf',
      'untyped_thing +Inf',
      '',
    ].join('\n'));
    const x = exp.get('x_total');
    assert.equal(x?.help, 'Help with \\ and \n.');
    assert.deepEqual(x?.samples[0]?.labels, { a: 'q"uote', b: 'back\\slash', c: 'new\nline' });
    assert.equal(x?.samples[0]?.value, 1500);
    assert.equal(x?.samples[0]?.timestamp, 1700000000000);
    assert.ok(Number.isNaN(exp.get('g')?.samples[0]?.value));
    assert.equal(exp.get('untyped_thing')?.type, 'untyped');
  });

  const bad: [string, string, RegExp][] = [
    ['bad metric name', '9x 1', /line 1: bad metric name/],
    ['unquoted label value', 'x{a=b} 1', /line 1: label a: value must be quoted/],
    ['bad escape', 'x{a="\\t"} 1', /bad escape/],
    ['not a number', 'x 1,5', /not a number/],
    ['unknown type', '# TYPE x countr', /unknown type/],
    ['TYPE after samples', 'x 1\n# TYPE x gauge', /line 2: TYPE for x after its samples/],
    ['non-contiguous family', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{k="v"} 2', /line 5: samples of a are not contiguous/],
    ['duplicate series', 'x{a="1"} 1\nx{a="1"} 2', /line 2: duplicate series/],
    ['negative counter', '# TYPE c_total counter\nc_total -1', /non-negative/],
    ['label twice', 'x{a="1",a="2"} 1', /label a twice/],
    ['trailing text', 'x 1 2 3', /trailing text/],
    ['histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1', /no le="\+Inf" bucket/],
    ['histogram not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1', /not cumulative/],
    ['histogram count mismatch', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1', /_count 1 != \+Inf bucket 2/],
  ];
  for (const [name, text, message] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(() => parseExposition(text), (err: Error & { code?: string }) => err.code === 'validation' && message.test(err.message));
    });
  }
});
