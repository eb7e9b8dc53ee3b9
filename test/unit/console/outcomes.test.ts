/** Outcomes by reason (services/controller/outcomes.ts): the pure count. */
import assert from 'node:assert/strict';
import { countReasons } from '../../../services/controller/outcomes.js';

describe('outcomes by reason', () => {
  it('counts records by reason code, unknown for none, adding to what is there', () => {
    const into = { total: 1, reasons: { timeout: 1 } as Record<string, number> };
    countReasons([{ reason: 'timeout' }, { reason: 'http_server_error' }, { reason: null }, { reason: 'timeout' }], into);
    assert.deepEqual(into, { total: 5, reasons: { timeout: 3, http_server_error: 1, unknown: 1 } });
  });
});
