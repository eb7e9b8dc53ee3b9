/** Building result records and the messages that carry them to delivery. */
import type { CrawlError } from '../errors/index.js';
import type { DeliverRecord, FetchTask, Outcome, ResultRecord, TaskRole } from './types.js';

export interface TaskRef {
  sessionId: string;
  taskId: string;
  url: string;
  depth: number;
  parent?: string | undefined;
  role?: TaskRole | undefined;
}

/** A record for a task that ends without a parsed page: failure, skip, unparsed file. */
export function bareRecord(task: TaskRef, outcome: Outcome, extra: Partial<ResultRecord> = {}): ResultRecord {
  return {
    url: task.url,
    finalUrl: task.url,
    status: null,
    depth: task.depth,
    parent: task.parent ?? null,
    outcome,
    reason: null,
    error: null,
    title: null,
    contentType: null,
    fields: {},
    links: 0,
    canonical: null,
    fetchedAt: null,
    attempts: 0,
    ...(task.role ? { role: task.role } : {}),
    ...extra,
  };
}

/** The outcome a catalogue error leads to. */
export function outcomeOf(err: CrawlError): Outcome {
  return err.errorClass === 'skip' ? (err.code === 'cancelled' ? 'cancelled' : 'skipped') : 'failed';
}

export function failureRecord(task: TaskRef, err: CrawlError, extra: Partial<ResultRecord> = {}): ResultRecord {
  return bareRecord(task, outcomeOf(err), { reason: err.code, error: err.message, ...extra });
}

export function deliverMessage(task: TaskRef, record: ResultRecord, children: string[] = []): DeliverRecord {
  return { kind: 'record', sessionId: task.sessionId, taskId: task.taskId, record, children };
}

/** The reference of any task: a fetch task, a fetched page, a decoded item of either. */
export function taskRef(t: Pick<FetchTask, 'sessionId' | 'taskId' | 'url' | 'depth' | 'parent' | 'role'>): TaskRef {
  return { sessionId: t.sessionId, taskId: t.taskId, url: t.url, depth: t.depth, parent: t.parent, role: t.role };
}
