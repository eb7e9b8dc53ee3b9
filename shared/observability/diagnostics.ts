/**
 * Lifecycle events on `node:diagnostics_channel`, for observers loaded into a process from
 * outside (a profiler, a test harness's fault injector): publishing costs one property read
 * when nobody subscribes, and nothing here can be switched on by configuration.
 */
import diagnostics from 'node:diagnostics_channel';
import type { ExtractTask } from '../tasks/types.js';

/** The extractor is about to parse these pages of one session: `{ sessionId, pages }`. */
export const EXTRACT_PAGES = 'crawlfleet:extract:pages';

export interface ExtractPagesEvent {
  sessionId: string;
  pages: readonly ExtractTask[];
}

const extractPages = diagnostics.channel(EXTRACT_PAGES);

export function publishExtractPages(event: ExtractPagesEvent): void {
  if (extractPages.hasSubscribers) extractPages.publish(event);
}
