import assert from 'node:assert/strict';
import { HostSlots } from '../../../services/fetcher/slots.js';

/** A task that runs until the test releases it. */
function gated(): { run: () => Promise<void>; release: () => void; started: boolean } {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  const t = {
    started: false,
    release: () => release(),
    run: async () => {
      t.started = true;
      await done;
    },
  };
  return t;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('HostSlots', () => {
  it('never runs more than the limit at once', async () => {
    const slots = new HostSlots(2);
    const tasks = Array.from({ length: 5 }, () => gated());
    const all = tasks.map((t, i) => slots.run(`h${i}`, t.run));
    await tick();
    assert.equal(slots.active, 2);
    assert.equal(slots.pending, 3);
    for (const t of tasks) t.release();
    await Promise.all(all);
    assert.equal(slots.active, 0);
  });

  it('gives a freed slot to the next host in turn, not to the oldest task', async () => {
    const slots = new HostSlots(1);
    const order: string[] = [];
    const gates = new Map<string, () => void>();
    const task = (name: string) => () => {
      order.push(name);
      return new Promise<void>((r) => gates.set(name, r));
    };
    // Five tasks of host b queued before two of host a.
    const runs = [...['b1', 'b2', 'b3', 'b4', 'b5'].map((n) => slots.run('b', task(n))), ...['a1', 'a2'].map((n) => slots.run('a', task(n)))];
    for (let i = 0; i < 7; i++) {
      await tick();
      gates.get(order[order.length - 1] as string)?.();
    }
    await Promise.all(runs);
    assert.deepEqual(order, ['b1', 'a1', 'b2', 'a2', 'b3', 'b4', 'b5']);
  });

  it('keeps the order of one host, and rejects as the task rejects', async () => {
    const slots = new HostSlots(1);
    const order: number[] = [];
    const runs = [1, 2, 3].map((n) => slots.run('h', async () => void order.push(n)));
    await Promise.all(runs);
    assert.deepEqual(order, [1, 2, 3]);
    await assert.rejects(slots.run('h', () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(slots.active, 0);
  });

  it('follows a live change of the limit', async () => {
    const slots = new HostSlots(1);
    const tasks = Array.from({ length: 4 }, () => gated());
    const all = tasks.map((t) => slots.run('h', t.run));
    await tick();
    assert.equal(slots.active, 1);
    slots.concurrency = 3;
    await tick();
    assert.equal(slots.active, 3);
    assert.deepEqual(tasks.map((t) => t.started), [true, true, true, false]);
    for (const t of tasks) t.release();
    await Promise.all(all);
  });
});
