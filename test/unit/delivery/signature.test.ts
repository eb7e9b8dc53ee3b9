import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { SIGNATURE_HEADER, signBody } from '../../../services/delivery/handover.js';

/** The receiver's side, written independently of signBody. */
function expected(secret: string, body: string, timestamp: number): string {
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8'));
  mac.update(Buffer.from(String(timestamp), 'utf8'));
  mac.update(Buffer.from('.', 'utf8'));
  mac.update(Buffer.from(body, 'utf8'));
  return `sha256=${mac.digest('hex')}`;
}

describe('webhook signature', () => {
  const secret = 'whsec_test';
  const body = JSON.stringify({ event: 'session.completed', session: { id: 's1', status: 'completed' } });
  const ts = 1_700_000_000_000;

  it('is sha256=<hex> of HMAC-SHA256 over "<timestamp>.<body>"', () => {
    const sig = signBody(secret, body, ts);
    assert.match(sig, /^sha256=[0-9a-f]{64}$/);
    assert.equal(sig, expected(secret, body, ts));
  });

  it('matches a known vector', () => {
    // HMAC-SHA256(key "key", "1.{}") computed independently
    assert.equal(signBody('key', '{}', 1), 'sha256=' + createHmac('sha256', 'key').update('1.{}').digest('hex'));
    assert.equal(signBody('key', '{}', 1), expected('key', '{}', 1));
  });

  it('signs non-ASCII bodies as UTF-8', () => {
    const b = JSON.stringify({ title: 'テスト café' });
    assert.equal(signBody(secret, b, ts), expected(secret, b, ts));
  });

  const variants: { name: string; secret: string; body: string; ts: number }[] = [
    { name: 'body', secret, body: body + ' ', ts },
    { name: 'secret', secret: secret + 'x', body, ts },
    { name: 'timestamp', secret, body, ts: ts + 1 },
  ];
  for (const v of variants) {
    it(`changes with the ${v.name}`, () => {
      assert.notEqual(signBody(v.secret, v.body, v.ts), signBody(secret, body, ts));
      assert.equal(signBody(v.secret, v.body, v.ts), expected(v.secret, v.body, v.ts));
    });
  }

  it('binds timestamp and body together (no shifting digits between them)', () => {
    assert.notEqual(signBody(secret, '1.x', 2), signBody(secret, 'x', 21));
  });

  it('is deterministic', () => {
    assert.equal(signBody(secret, body, ts), signBody(secret, body, ts));
  });

  it('uses a lowercase header name', () => {
    assert.equal(SIGNATURE_HEADER, 'x-crawlfleet-signature');
  });
});
