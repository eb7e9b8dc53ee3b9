/**
 * Runs the baseline crawler in a process of its own, so its CPU does not mix with the
 * stack's, and prints one JSON line: `{"ok":true,"result":{...}}` or `{"ok":false,"error":"..."}`.
 *
 *   node dist/bench/baseline-child.js --url http://127.0.0.1:PORT/ --concurrency 32 --max-pages 25000 --timeout-ms 120000 [--formats markdown,links,metadata]
 *
 * Only loopback URLs are accepted.
 */
import { parseArgs } from 'node:util';
import { CONTENT_FORMATS, type ContentFormat } from '../services/extractor/content/index.js';
import { runBaseline } from './baseline.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

function parseFormats(list: string): ContentFormat[] {
  const formats = list.split(',').filter((f) => f !== '');
  for (const f of formats) if (!(CONTENT_FORMATS as readonly string[]).includes(f)) throw new Error(`--formats: unknown format ${f}; one of ${CONTENT_FORMATS.join(', ')}`);
  return formats as ContentFormat[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      concurrency: { type: 'string', default: '32' },
      'max-pages': { type: 'string', default: '1000000' },
      'timeout-ms': { type: 'string', default: '600000' },
      formats: { type: 'string', default: '' },
    },
  });
  if (!values.url) throw new Error('--url is required');
  const host = new URL(values.url).hostname;
  if (!LOOPBACK.test(host)) throw new Error(`only loopback sites may be crawled, got ${host}`);
  const result = await runBaseline({
    start: values.url,
    concurrency: Number(values.concurrency),
    maxPages: Number(values['max-pages']),
    timeoutMs: Number(values['timeout-ms']),
    formats: parseFormats(values.formats ?? ''),
  });
  process.stdout.write(`${JSON.stringify({ ok: true, result })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: (err as Error).message })}\n`);
    process.exit(1);
  },
);
