/**
 * The control plane's timers run on BullMQ (the data plane stays on RabbitMQ): the cleaner's
 * periodic sweep (a job scheduler on `sweeps`, one sweep at a time across cleaner replicas by
 * the queue's global concurrency of 1) and webhook deliveries (jobs with retries and backoff).
 * Session deadlines need no timer of their own: the sweep reads the sessions' due index.
 * Schedules (POST /schedules) are job schedulers on `schedules`, one per schedule, run by
 * the controllers: BullMQ hands each tick's job to one worker, so one session starts per tick.
 * bull-board on the controller shows these queues.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Keys } from '../redis/keys.js';

export const CONTROL_QUEUES = ['sweeps', 'webhooks', 'schedules'] as const;
export type ControlQueue = (typeof CONTROL_QUEUES)[number];

/** BullMQ queue name of a control queue (its keys live under the namespace's bull prefix). */
export function controlQueueName(namespace: string, queue: ControlQueue): string {
  return `${namespace}.${queue}`;
}

export function openControlQueue(keys: Keys, queue: ControlQueue, connection: ConnectionOptions): Queue {
  return new Queue(controlQueueName(keys.namespace, queue), { connection, prefix: keys.bullPrefix });
}
