/** Runs crawlctl's `main` in the test process, with its output captured. */
import { Writable } from 'node:stream';
import { main } from '../../cli/crawlctl.js';

/** A writable that keeps what was written. */
export class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** crawlctl with these arguments: its exit code and what it printed (not a TTY, fast polling, empty environment). */
export async function runCrawlctl(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new Sink();
  const err = new Sink();
  const code = await main(argv, { stdout: out, stderr: err, isTTY: false, pollMs: 5, env: {} });
  return { code, stdout: out.text, stderr: err.text };
}
