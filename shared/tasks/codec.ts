/**
 * Message codecs. Fetch and deliver messages are JSON. Extract messages carry the page
 * bytes as the message body and the task as JSON in the `x-task` header, so bodies are
 * never base64-inflated.
 */
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

export function encodeExtract(task: Omit<ExtractTask, 'body'>, body: Buffer): { content: Buffer; options: Options.Publish } {
  return { content: body, options: { contentType: 'application/octet-stream', headers: { 'x-task': JSON.stringify(task) } } };
}

export function decodeExtract(msg: ConsumeMessage): ExtractMessage {
  const header = msg.properties.headers?.['x-task'];
  if (typeof header !== 'string') throw new DecodeError('extract message without x-task header');
  const o = JSON.parse(header) as Record<string, unknown>;
  requireFields(o, 'extract', ['sessionId', 'taskId', 'url', 'finalUrl', 'depth', 'status']);
  return { ...(o as unknown as Omit<ExtractTask, 'body'>), body: msg.content };
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
