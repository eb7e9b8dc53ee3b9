/**
 * Message codecs. Fetch and deliver messages are JSON. Extract messages carry the page
 * bytes as the message body and the task as JSON in the `x-task` header, so bodies are
 * never base64-inflated.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { ConsumeMessage, Options } from 'amqplib';
import type { DeliverMessage, ExtractTask, FetchTask } from './types.js';

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

function json(msg: ConsumeMessage): Record<string, unknown> {
  const v = JSON.parse(msg.content.toString('utf8')) as unknown;
  if (!v || typeof v !== 'object') throw new DecodeError('message is not a JSON object');
  return v as Record<string, unknown>;
}

function requireFields(o: Record<string, unknown>, kind: string, fields: string[]): void {
  if (o.v !== 1) throw new DecodeError(`unsupported message version ${String(o.v)}`);
  if (o.kind !== kind) throw new DecodeError(`expected a ${kind} message, got ${String(o.kind)}`);
  for (const f of fields) if (o[f] === undefined) throw new DecodeError(`${kind} message without ${f}`);
}

export function decodeFetch(msg: ConsumeMessage): FetchTask {
  const o = json(msg);
  requireFields(o, 'fetch', ['sessionId', 'taskId', 'url', 'depth', 'attempt']);
  return o as unknown as FetchTask;
}

export type ExtractMessage = Omit<ExtractTask, 'body'> & { body: Buffer };

/**
 * Bodies at least this large travel deflated (level 1: about 4x smaller for HTML at a tenth of
 * a millisecond for 15 KB), which the broker stores and moves four times more cheaply.
 */
export const COMPRESS_FROM_BYTES = 1024;

/** Bodies never inflate past this on the consumer side (the fetcher's cap is far below). */
const MAX_INFLATED_BYTES = 256 * 1024 * 1024;

export function encodeExtract(task: Omit<ExtractTask, 'body'>, body: Buffer, compress = true): { content: Buffer; options: Options.Publish } {
  const deflate = compress && body.length >= COMPRESS_FROM_BYTES;
  const headers: Record<string, string> = { 'x-task': JSON.stringify(task) };
  if (deflate) headers['x-body-encoding'] = 'deflate-raw';
  return {
    content: deflate ? deflateRawSync(body, { level: 1 }) : body,
    options: { contentType: 'application/octet-stream', headers },
  };
}

export function decodeExtract(msg: ConsumeMessage): ExtractMessage {
  const header = msg.properties.headers?.['x-task'];
  if (typeof header !== 'string') throw new DecodeError('extract message without x-task header');
  const o = JSON.parse(header) as Record<string, unknown>;
  requireFields(o, 'extract', ['sessionId', 'taskId', 'url', 'finalUrl', 'depth', 'status']);
  const encoding = msg.properties.headers?.['x-body-encoding'];
  let body = msg.content;
  if (encoding === 'deflate-raw') body = inflateRawSync(body, { maxOutputLength: MAX_INFLATED_BYTES });
  else if (encoding !== undefined) throw new DecodeError(`unknown body encoding ${String(encoding)}`);
  return { ...(o as unknown as Omit<ExtractTask, 'body'>), body };
}

export function decodeDeliver(msg: ConsumeMessage): DeliverMessage {
  const o = json(msg);
  if (o.kind === 'finalize') {
    requireFields(o, 'finalize', ['sessionId', 'status']);
  } else {
    requireFields(o, 'record', ['sessionId', 'taskId', 'record']);
  }
  return o as unknown as DeliverMessage;
}
