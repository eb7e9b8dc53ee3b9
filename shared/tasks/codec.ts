/**
 * Message codecs: one batch of tasks per message (see shared/messaging/batch.ts).
 *
 * - fetch (and the retry queues): JSON `{"v":2,"kind":"fetch","tasks":[FetchTask...]}`
 * - render: JSON `{"v":2,"kind":"render","tasks":[RenderTask...]}`
 * - deliver: JSON `{"v":2,"kind":"deliver","items":[DeliverRecord | FinalizeSession...]}`
 * - extract: binary, so page bodies are never escaped or base64-inflated:
 *   `[u32 big-endian n][n bytes of JSON {"v":2,"kind":"extract","pages":[meta...]}][body 0][body 1]...`
 *   where each meta is the ExtractTask without its body plus `bodyBytes`. The whole content
 *   may travel deflated (header `x-batch-encoding: deflate-raw`), inflated with a cap.
 *
 * Every item is checked for the fields its consumer relies on; a message that fails is a
 * DecodeError (the consumer runtime dead-letters it).
 *
 * The previous version (OLDEST_READ_VERSION, so that a stack upgrades in place with messages
 * of the previous release on its queues) is read too, and only read: version 1 carried one
 * task per message, fetch and deliver as the JSON item itself with `"v":1`, extract as the page
 * body (deflated when the `x-body-encoding: deflate-raw` header says so) with the task as JSON
 * in the `x-task` header.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { BatchCodec, Encoded, WireMessage } from '../messaging/batch.js';
import { MESSAGE_VERSION, OLDEST_READ_VERSION, type DeliverMessage, type ExtractTask, type FetchTask, type RenderTask } from './types.js';

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

/** Decoded content never inflates past this (the fetcher's body cap is far below). */
const MAX_INFLATED_BYTES = 512 * 1024 * 1024;

/** Contents at least this large travel deflated when compression is on. */
export const COMPRESS_FROM_BYTES = 1024;

function jsonObject(text: string, kind: string): Record<string, unknown> {
  const o = JSON.parse(text) as unknown;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new DecodeError(`${kind} message is not a JSON object`);
  return o as Record<string, unknown>;
}

/** Version 1 (one item per message, the item is the JSON object): the item without its version, or null for another version. */
function version1(o: Record<string, unknown>): Record<string, unknown> | null {
  if (OLDEST_READ_VERSION > 1 || o.v !== 1) return null;
  const item = { ...o };
  delete item.v;
  return item;
}

function envelope(text: string, kind: string): Record<string, unknown> {
  return checkEnvelope(jsonObject(text, kind), kind);
}

function checkEnvelope(env: Record<string, unknown>, kind: string): Record<string, unknown> {
  if (env.v !== MESSAGE_VERSION) throw new DecodeError(`unsupported message version ${String(env.v)}`);
  if (env.kind !== kind) throw new DecodeError(`expected a ${kind} message, got ${String(env.kind)}`);
  return env;
}

function list(env: Record<string, unknown>, field: string, kind: string): Record<string, unknown>[] {
  const items = env[field];
  if (!Array.isArray(items)) throw new DecodeError(`${kind} message without ${field}`);
  for (const item of items) if (!item || typeof item !== 'object') throw new DecodeError(`${kind} message with a non-object in ${field}`);
  return items as Record<string, unknown>[];
}

function requireFields(o: Record<string, unknown>, kind: string, fields: readonly string[]): void {
  for (const f of fields) if (o[f] === undefined) throw new DecodeError(`${kind} item without ${f}`);
}

function jsonMessage(body: unknown): Encoded {
  return { content: Buffer.from(JSON.stringify(body)), options: { contentType: 'application/json' } };
}

const FETCH_FIELDS = ['sessionId', 'taskId', 'url', 'depth', 'attempt'] as const;

/** Fetch tasks, on the fetch queue and on the retry queues that lead back to it. */
export const fetchCodec: BatchCodec<FetchTask> = {
  kind: 'fetch',
  encode: (tasks) => jsonMessage({ v: MESSAGE_VERSION, kind: 'fetch', tasks }),
  decode(msg) {
    const o = jsonObject(msg.content.toString('utf8'), 'fetch');
    const v1 = version1(o);
    if (v1 && v1.kind !== 'fetch') throw new DecodeError(`expected a fetch message, got ${String(v1.kind)}`);
    if (v1) delete v1.kind;
    const tasks = v1 ? [v1] : list(checkEnvelope(o, 'fetch'), 'tasks', 'fetch');
    for (const t of tasks) requireFields(t, 'fetch', FETCH_FIELDS);
    return tasks as unknown as FetchTask[];
  },
  size: (t) => 120 + t.url.length + (t.parent?.length ?? 0),
};

/** Pages to render, on the render queue: JSON `{"v":2,"kind":"render","tasks":[RenderTask...]}`. */
export const renderCodec: BatchCodec<RenderTask> = {
  kind: 'render',
  encode: (tasks) => jsonMessage({ v: MESSAGE_VERSION, kind: 'render', tasks }),
  decode(msg) {
    const tasks = list(envelope(msg.content.toString('utf8'), 'render'), 'tasks', 'render');
    for (const t of tasks) requireFields(t, 'render', [...FETCH_FIELDS, 'reason']);
    return tasks as unknown as RenderTask[];
  },
  size: (t) => 160 + t.url.length + (t.parent?.length ?? 0) + t.reason.length,
};

/** Records and session hand-overs, on the deliver queue. */
export const deliverCodec: BatchCodec<DeliverMessage> = {
  kind: 'deliver',
  encode: (items) => jsonMessage({ v: MESSAGE_VERSION, kind: 'deliver', items }),
  decode(msg) {
    const o = jsonObject(msg.content.toString('utf8'), 'deliver');
    const v1 = version1(o);
    const items = v1 ? [v1] : list(checkEnvelope(o, 'deliver'), 'items', 'deliver');
    for (const item of items) {
      if (item.kind === 'finalize') requireFields(item, 'finalize', ['sessionId', 'status']);
      else if (item.kind === 'record') requireFields(item, 'record', ['sessionId', 'taskId', 'record']);
      else throw new DecodeError(`deliver message with an item of kind ${String(item.kind)}`);
    }
    return items as unknown as DeliverMessage[];
  },
  size: (item) => (item.kind === 'record' ? 400 + item.record.url.length * 2 + item.children.length * 20 : 100),
};

type ExtractMeta = Omit<ExtractTask, 'body'> & { bodyBytes: number };

const EXTRACT_FIELDS = ['sessionId', 'taskId', 'url', 'finalUrl', 'depth', 'status', 'bodyBytes'] as const;

/**
 * Fetched pages, on the extract queue. `compress` is read for every message, so the
 * setting can change live; consumers read both forms.
 */
export function extractCodec(compress: () => boolean = () => true): BatchCodec<ExtractTask> {
  return {
    kind: 'extract',
    encode(pages) {
      const metas: ExtractMeta[] = pages.map(({ body, ...meta }) => ({ ...meta, bodyBytes: body.length }));
      const json = Buffer.from(JSON.stringify({ v: MESSAGE_VERSION, kind: 'extract', pages: metas }));
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32BE(json.length, 0);
      const raw = Buffer.concat([head, json, ...pages.map((p) => p.body)]);
      const headers: Record<string, string | number> = { 'x-batch': pages.length };
      if (compress() && raw.length >= COMPRESS_FROM_BYTES) {
        headers['x-batch-encoding'] = 'deflate-raw';
        return { content: deflateRawSync(raw, { level: 1 }), options: { contentType: 'application/octet-stream', headers } };
      }
      return { content: raw, options: { contentType: 'application/octet-stream', headers } };
    },
    decode: decodeExtract,
    size: (p) => 400 + p.url.length + p.finalUrl.length + p.body.length,
  };
}

/** Version 1: one page, its body the content, its task in the `x-task` header. */
function decodeExtractV1(msg: WireMessage, header: string): ExtractTask[] {
  const meta = version1(jsonObject(header, 'extract'));
  if (!meta) throw new DecodeError('extract message with an x-task header of an unsupported version');
  if (meta.kind !== 'extract') throw new DecodeError(`expected a extract message, got ${String(meta.kind)}`);
  delete meta.kind;
  requireFields(meta, 'extract', EXTRACT_FIELDS.filter((f) => f !== 'bodyBytes'));
  const encoding = msg.properties.headers?.['x-body-encoding'];
  let body = msg.content;
  if (encoding === 'deflate-raw') body = inflateRawSync(body, { maxOutputLength: MAX_INFLATED_BYTES });
  else if (encoding !== undefined) throw new DecodeError(`unknown body encoding ${String(encoding)}`);
  return [{ ...(meta as unknown as Omit<ExtractTask, 'body'>), body }];
}

function decodeExtract(msg: WireMessage): ExtractTask[] {
  const v1Header = msg.properties.headers?.['x-task'];
  if (typeof v1Header === 'string' && OLDEST_READ_VERSION <= 1) return decodeExtractV1(msg, v1Header);
  const encoding = msg.properties.headers?.['x-batch-encoding'];
  let raw = msg.content;
  if (encoding === 'deflate-raw') raw = inflateRawSync(raw, { maxOutputLength: MAX_INFLATED_BYTES });
  else if (encoding !== undefined) throw new DecodeError(`unknown batch encoding ${String(encoding)}`);
  if (raw.length < 4) throw new DecodeError('extract message shorter than its header');
  const jsonBytes = raw.readUInt32BE(0);
  if (4 + jsonBytes > raw.length) throw new DecodeError('extract message header runs past its end');
  const pages = list(envelope(raw.toString('utf8', 4, 4 + jsonBytes), 'extract'), 'pages', 'extract');
  let offset = 4 + jsonBytes;
  const out: ExtractTask[] = [];
  for (const meta of pages) {
    requireFields(meta, 'extract', EXTRACT_FIELDS);
    const { bodyBytes, ...task } = meta as unknown as ExtractMeta;
    if (!Number.isInteger(bodyBytes) || bodyBytes < 0 || offset + bodyBytes > raw.length) throw new DecodeError(`extract item ${task.taskId}: body runs past the message`);
    out.push({ ...task, body: raw.subarray(offset, offset + bodyBytes) });
    offset += bodyBytes;
  }
  if (offset !== raw.length) throw new DecodeError(`extract message has ${raw.length - offset} bytes after its last body`);
  return out;
}
