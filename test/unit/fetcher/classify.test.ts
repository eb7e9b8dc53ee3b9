import assert from 'node:assert/strict';
import { mimeType, parseRetryAfter, retryDelay, statusClass, statusError } from '../../../services/fetcher/classify.js';
import type { RetryPolicy } from '../../../services/fetcher/classify.js';
import { RETRY_DELAYS_MS, retryBucket } from '../../../shared/messaging/topology.js';

describe('fetcher classification', () => {
  describe('statusError', () => {
    const cases: [number, string | null][] = [
      [200, null],
      [204, null],
      [206, null],
      [299, null],
      [301, 'bad_redirect'], // a redirect that reached classification had no usable Location
      [302, 'bad_redirect'],
      [404, 'http_client_error'],
      [410, 'http_client_error'],
      [400, 'http_client_error'],
      [429, 'http_rate_limited'],
      [500, 'http_server_error'],
      [503, 'http_server_error'],
      [599, 'http_server_error'],
      [100, 'protocol_error'],
      [199, 'protocol_error'],
    ];
    for (const [status, expected] of cases) {
      it(`${status} → ${String(expected)}`, () => {
        assert.equal(statusError(status), expected);
      });
    }
  });

  describe('statusClass', () => {
    const cases: [number | null, string][] = [
      [200, '2xx'],
      [301, '3xx'],
      [404, '4xx'],
      [429, '4xx'],
      [503, '5xx'],
      [null, 'error'],
    ];
    for (const [status, expected] of cases) {
      it(`${String(status)} → ${expected}`, () => {
        assert.equal(statusClass(status), expected);
      });
    }
  });

  describe('retryDelay', () => {
    const policy: RetryPolicy = { maxAttempts: 10, baseDelayMs: 1000, maxDelayMs: 60_000 };
    const randoms = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999];

    it('is null when no attempt is left', () => {
      const p: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 };
      assert.notEqual(retryDelay(2, p, 0.5), null);
      assert.equal(retryDelay(3, p, 0.5), null);
      assert.equal(retryDelay(4, p, 0.5), null);
      assert.equal(retryDelay(3, p, 0.5, 1000), null);
      assert.equal(retryDelay(1, { ...p, maxAttempts: 1 }, 0.5), null);
    });

    it('doubles per attempt without jitter (random 0.5)', () => {
      const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((a) => retryDelay(a, policy, 0.5));
      assert.deepEqual(delays, [1000, 2000, 4000, 8000, 15_000, 30_000, 60_000, 60_000]);
    });

    it('applies jitter in [0.5, 1.5) before rounding', () => {
      assert.equal(retryDelay(3, policy, 0), 2000); // 4000 * 0.5
      assert.equal(retryDelay(3, policy, 0.999), 4000); // 4000 * 1.499 = 5996 → nearest bucket 4000
      assert.equal(retryDelay(4, policy, 0.999), 15_000); // 8000 * 1.499 = 11992 → 15000
    });

    it('never shrinks as attempts grow', () => {
      for (const r of randoms) {
        let previous = 0;
        for (let attempt = 1; attempt < policy.maxAttempts; attempt++) {
          const d = retryDelay(attempt, policy, r);
          assert.ok(d !== null && d >= previous, `random ${r}, attempt ${attempt}: ${String(d)} < ${previous}`);
          previous = d;
        }
      }
    });

    it('always answers one of the retry queue delays', () => {
      const policies: RetryPolicy[] = [policy, { maxAttempts: 10, baseDelayMs: 137, maxDelayMs: 45_000 }, { maxAttempts: 10, baseDelayMs: 250, maxDelayMs: 1_000_000 }];
      for (const p of policies) {
        for (const r of randoms) {
          for (let attempt = 1; attempt < p.maxAttempts; attempt++) {
            for (const retryAfter of [null, 0, 3000, 90_000]) {
              const d = retryDelay(attempt, p, r, retryAfter);
              assert.ok(d !== null && (RETRY_DELAYS_MS as readonly number[]).includes(d), `${JSON.stringify(p)} ${r} ${attempt} ${String(retryAfter)}: ${String(d)}`);
            }
          }
        }
      }
    });

    it('never exceeds maxDelayMs, rounding to the nearest queue aside', () => {
      const policies: RetryPolicy[] = [policy, { maxAttempts: 12, baseDelayMs: 500, maxDelayMs: 8000 }, { maxAttempts: 12, baseDelayMs: 500, maxDelayMs: 50_000 }];
      for (const p of policies) {
        const ceiling = retryBucket(p.maxDelayMs);
        for (const r of randoms) {
          for (let attempt = 1; attempt < p.maxAttempts; attempt++) {
            const d = retryDelay(attempt, p, r, 10 * p.maxDelayMs);
            assert.ok(d !== null && d <= ceiling, `${JSON.stringify(p)} ${r} ${attempt}: ${String(d)} > ${ceiling}`);
          }
        }
      }
      assert.equal(retryDelay(20, { maxAttempts: 30, baseDelayMs: 1000, maxDelayMs: 8000 }, 0.999), 8000);
    });

    it('waits for a Retry-After larger than its own delay', () => {
      assert.equal(retryDelay(1, policy, 0.5, 30_000), 30_000);
      assert.equal(retryDelay(1, policy, 0.5, 120_000), 60_000); // capped at maxDelayMs
      assert.equal(retryDelay(5, policy, 0.5, 1000), 15_000); // a smaller Retry-After does not shorten it
      assert.equal(retryDelay(1, policy, 0.5, null), 1000);
    });

    // Regression (fixed): the Retry-After is rounded to the *nearest* retry queue, which can be shorter: Retry-After 3 s → retry after 2000 ms (and 20 s → 15000 ms), before the server allows it.
    it('never retries before a Retry-After that is within maxDelayMs', () => {
      for (const retryAfter of [3000, 5000, 20_000, 45_000]) {
        const d = retryDelay(1, policy, 0, retryAfter);
        assert.ok(d !== null && d >= retryAfter, `Retry-After ${retryAfter} → ${String(d)}`);
      }
    });
  });

  describe('parseRetryAfter', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    const cases: [string | undefined, number | null][] = [
      ['120', 120_000],
      ['0', 0],
      [' 5 ', 5000],
      ['Wed, 21 Oct 2015 07:28:30 GMT', 30_000],
      ['Wed, 21 Oct 2015 08:28:00 GMT', 3_600_000],
      ['Wed, 21 Oct 2015 07:27:00 GMT', 0], // in the past
      ['garbage', null],
      ['', null],
      [undefined, null],
    ];
    for (const [value, expected] of cases) {
      it(`${JSON.stringify(value)} → ${String(expected)}`, () => {
        assert.equal(parseRetryAfter(value, now), expected);
      });
    }
  });

  describe('mimeType', () => {
    const cases: [string | undefined, string][] = [
      ['text/html', 'text/html'],
      ['text/html; charset=utf-8', 'text/html'],
      ['Text/HTML;charset=UTF-8', 'text/html'],
      ['  application/xhtml+xml ; q=1', 'application/xhtml+xml'],
      ['application/pdf', 'application/pdf'],
      ['', ''],
      [undefined, ''],
    ];
    for (const [value, expected] of cases) {
      it(`${JSON.stringify(value)} → ${JSON.stringify(expected)}`, () => {
        assert.equal(mimeType(value), expected);
      });
    }
  });
});
