/**
 * Test-only fault injection, loaded into an extractor process by the chaos suite with
 * `NODE_OPTIONS=--import=<this file>` (never by configuration): the process exits when it is
 * about to parse a page whose body holds the text in CRAWLFLEET_TEST_CRASH_MARKER, as a
 * parser bug that kills the process would.
 */
import diagnostics from 'node:diagnostics_channel';
import { EXTRACT_PAGES, type ExtractPagesEvent } from '../../../shared/observability/diagnostics.js';

const marker = process.env.CRAWLFLEET_TEST_CRASH_MARKER ?? '';
if (marker !== '') {
  diagnostics.subscribe(EXTRACT_PAGES, (message) => {
    const { sessionId, pages } = message as ExtractPagesEvent;
    if (pages.some((p) => p.body.includes(marker))) {
      process.stdout.write(`${JSON.stringify({ level: 60, sessionId, msg: 'fault injection: crashing on a marked page' })}\n`);
      process.exit(70);
    }
  });
}
