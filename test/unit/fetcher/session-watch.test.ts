/** The fetcher's session watch: versions order pushes and reads, reads are shared and batched, idle sessions go. */
import assert from 'node:assert/strict';
import { parseControlMessage, SessionWatch, type ControlState } from '../../../services/fetcher/session-watch.js';

function watchOf(store: Map<string, ControlState>, clock = { t: 0 }) {
  const reads: string[][] = [];
  const watch = new SessionWatch({
    read: async (ids) => {
      reads.push([...ids]);
      await Promise.resolve();
      return ids.map((id) => store.get(id) ?? null);
    },
    refreshMs: 1000,
    idleMs: 10_000,
    now: () => clock.t,
  });
  return { watch, reads, clock };
}

describe('fetcher session watch', () => {
  it('parses control messages', () => {
    const cases: [string, ReturnType<typeof parseControlMessage>][] = [
      ['abc-1|paused|3', { id: 'abc-1', status: 'paused', version: 3 }],
      ['abc|cancelled|12', { id: 'abc', status: 'cancelled', version: 12 }],
      ['abc|paused', null],
      ['|paused|1', null],
      ['abc|paused|x', null],
    ];
    for (const [raw, want] of cases) assert.deepEqual(parseControlMessage(raw), want, raw);
  });

  it('reads a new session once, whoever asks at the same time, and answers from memory after', async () => {
    const { watch, reads } = watchOf(new Map([['s', { status: 'running', version: 0 }]]));
    assert.equal(watch.status('s'), undefined);
    await Promise.all([watch.ensure('s'), watch.ensure('s'), watch.ensure('s')]);
    await watch.ensure('s');
    assert.deepEqual(reads, [['s']]);
    assert.equal(watch.status('s'), 'running');
  });

  it('keeps the newer of a push and a read', async () => {
    const store = new Map([['s', { status: 'running', version: 0 }]]);
    const { watch } = watchOf(store);
    await watch.ensure('s');
    watch.onMessage('s|paused|1');
    assert.equal(watch.status('s'), 'paused');
    // A read that left before the pause answers the old state: ignored.
    await watch.refresh();
    assert.equal(watch.status('s'), 'paused');
    // A stale push (older version) changes nothing.
    store.set('s', { status: 'running', version: 2 });
    await watch.refresh();
    assert.equal(watch.status('s'), 'running');
    watch.onMessage('s|paused|1');
    assert.equal(watch.status('s'), 'running');
    // Same version, later read (a deadline made it partial): taken.
    store.set('s', { status: 'partial', version: 2 });
    await watch.refresh();
    assert.equal(watch.status('s'), 'partial');
  });

  it('refreshes the sessions in use in one read and drops idle or deleted ones', async () => {
    const store = new Map([['a', { status: 'running', version: 0 }], ['b', { status: 'running', version: 0 }], ['c', { status: 'running', version: 0 }]]);
    const { watch, reads, clock } = watchOf(store);
    await watch.ensure('a');
    await watch.ensure('b');
    await watch.ensure('c');
    reads.length = 0;
    clock.t = 9000;
    watch.status('a');
    watch.status('b');
    clock.t = 15_000;
    store.delete('b');
    await watch.refresh();
    assert.deepEqual(reads, [['a', 'b']], 'c was idle for longer than idleMs');
    assert.equal(watch.size, 1);
    assert.equal(watch.status('b'), undefined, 'b is gone');
    assert.equal(watch.status('a'), 'running');
  });

  it('learns of a session from a push alone', () => {
    const { watch } = watchOf(new Map());
    watch.onMessage('x|cancelled|1');
    assert.equal(watch.status('x'), 'cancelled');
  });
});
