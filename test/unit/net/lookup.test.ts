import assert from 'node:assert/strict';
import { lookupHosts, systemLookup, type LookupAll } from '../../../shared/net/lookup.js';

/** A resolver answering from a table after `delayMs`; hosts absent from it fail like ENOTFOUND; `hang` never answers. */
function tableLookup(table: Record<string, string[] | 'hang'>, delayMs = 0, log: string[] = []): LookupAll {
  return (host) => {
    log.push(host);
    const answer = table[host];
    if (answer === 'hang') return new Promise(() => undefined);
    return new Promise((resolve, reject) => setTimeout(() => (answer ? resolve(answer) : reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }))), delayMs));
  };
}

describe('lookupHosts (bounded DNS lookups)', () => {
  it('maps each host to its addresses, or null when it does not resolve or has none', async () => {
    const lookup = tableLookup({ 'a.test': ['10.0.0.1', '::1'], 'b.test': ['93.184.216.34'], 'empty.test': [] });
    const r = await lookupHosts(['a.test', 'b.test', 'nx.test', 'empty.test'], { timeoutMs: 1000, lookup });
    assert.deepEqual([...r], [['a.test', ['10.0.0.1', '::1']], ['b.test', ['93.184.216.34']], ['nx.test', null], ['empty.test', null]]);
  });

  it('gives up on the whole batch at the deadline: hanging hosts are unresolved, answers after it ignored', async () => {
    const started = Date.now();
    const lookup = tableLookup({ 'fast.test': ['10.0.0.1'], 'hang.test': 'hang', 'slow.test': ['10.0.0.2'] });
    const slow: LookupAll = async (host) => (host === 'slow.test' ? new Promise((r) => setTimeout(() => r(['10.0.0.2']), 400)) : lookup(host));
    const r = await lookupHosts(['fast.test', 'hang.test', 'slow.test'], { timeoutMs: 150, lookup: slow });
    const ms = Date.now() - started;
    assert.ok(ms >= 140 && ms < 400, `${ms} ms`);
    assert.deepEqual([...r], [['fast.test', ['10.0.0.1']], ['hang.test', null], ['slow.test', null]]);
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.get('slow.test'), null, 'a late answer does not change the result');
  });

  it('runs at most `concurrency` lookups at once and starts none after the deadline', async () => {
    let inFlight = 0;
    let most = 0;
    const log: string[] = [];
    const inner = tableLookup(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`h${i}.test`, ['10.0.0.1']])), 30, log);
    const lookup: LookupAll = async (host) => {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        return await inner(host);
      } finally {
        inFlight--;
      }
    };
    const hosts = Array.from({ length: 20 }, (_, i) => `h${i}.test`);
    const r = await lookupHosts(hosts, { timeoutMs: 100, concurrency: 2, lookup });
    assert.equal(most, 2);
    const resolved = [...r.values()].filter((v) => v !== null).length;
    assert.ok(resolved >= 4 && resolved <= 8, `${resolved} resolved within 100 ms at 2 × 30 ms`);
    await new Promise((res) => setTimeout(res, 100));
    assert.ok(log.length <= resolved + 2, `${log.length} lookups started, ${resolved} answered in time`);
  });

  it('answers at once for no hosts', async () => {
    assert.equal((await lookupHosts([], { timeoutMs: 60_000 })).size, 0);
  });

  it('uses the system resolver (/etc/hosts included) by default', async () => {
    const r = await lookupHosts(['localhost', 'no-such-host.invalid'], { timeoutMs: 5000 });
    assert.ok(r.get('localhost')?.includes('127.0.0.1'), JSON.stringify([...r]));
    assert.equal(r.get('no-such-host.invalid'), null);
    assert.ok((await systemLookup('localhost')).includes('127.0.0.1'));
  });
});
