/**
 * The supervisor's children do not outlive it: a process that starts a stack and then dies
 * of an uncaught error (or a broken stdout pipe) takes its services down with it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { packageRoot } from '../../shared/paths.js';
import { cleanupNamespace, serviceEnv, testNamespace, waitFor } from '../support/stack.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('supervisor', function () {
  this.timeout(30_000);
  const ns = testNamespace('s');
  after(() => cleanupNamespace(ns));

  it('sends SIGTERM to its children when its process dies of an uncaught error', async () => {
    const supervisorUrl = pathToFileURL(join(packageRoot, 'dist', 'scripts', 'supervisor.js')).href;
    const env = JSON.stringify(serviceEnv(ns));
    // The parent starts a cleaner, reports its pid, then throws.
    const script = `
      import { Supervisor } from ${JSON.stringify(supervisorUrl)};
      const s = new Supervisor({ onLine: () => {} });
      s.on('spawn', (_label, pid) => {
        process.stdout.write(pid + '\\n');
        setTimeout(() => { throw new Error('the parent dies'); }, 1500);
      });
      s.start({ label: 'cleaner', service: 'cleaner', env: ${env} });
    `;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => parent.once('exit', resolve));
    assert.equal(code, 1, 'the parent died of its error');
    const pid = Number(out.trim().split('\n')[0]);
    assert.ok(pid > 0, `a child was started (${out})`);
    await waitFor(async () => !alive(pid), { timeoutMs: 15_000, what: `child ${pid} gone` });
  });
});
