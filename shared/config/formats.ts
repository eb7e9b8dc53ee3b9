/** Custom convict formats used by the schema. Registered once, on import. */
import convict from 'convict';
import { parseCidr } from '../net/cidr.js';
import { RECORD_FORMATS } from '../tasks/types.js';
import { parseClusterNodes, parseRedisTarget } from '../redis/url.js';

function splitList(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function assertUrl(value: unknown, protocols: string[]): void {
  if (typeof value !== 'string') throw new TypeError('must be a URL string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`must be a URL, got ${JSON.stringify(value)}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new TypeError(`must use ${protocols.join(' or ')}, got ${url.protocol}`);
  }
}

/** `example.com=2`, `127.0.0.2:8000=0.5`, `[::1]:80=10`. */
export const HOST_RATE = /^([a-z0-9.*-]+|\[[0-9a-f:.]+\])(:\d{1,5})?=(\d+(\.\d+)?)$/i;
/** Largest rate of one rate.hosts entry, as for rate.global and rate.perHost. */
export const HOST_RATE_MAX = 1_000_000;

let registered = false;

/** Strings from the environment or a file become numbers; anything else is validated as given. */
function toNumber(v: unknown): unknown {
  return typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
}

/** The bounds of a format made by `intIn` or `numberIn`, by its name (for docs, tests and the CLI). */
const rangeFormats = new Map<string, { min: number; max: number; integer: boolean }>();

export function formatBounds(name: string): { min: number; max: number; integer: boolean } | undefined {
  return rangeFormats.get(name);
}

function registerRange(name: string): void {
  const r = rangeFormats.get(name);
  if (!r) return;
  convict.addFormat({
    name,
    validate(value: unknown) {
      const ok = typeof value === 'number' && (r.integer ? Number.isSafeInteger(value) : Number.isFinite(value)) && value >= r.min && value <= r.max;
      if (!ok) throw new TypeError(`must be ${r.integer ? 'an integer' : 'a number'} of at least ${r.min} and at most ${r.max}`);
    },
    coerce: toNumber,
  });
}

function range(min: number, max: number, integer: boolean): string {
  const name = `${integer ? 'int' : 'number'} ${min}..${max}`;
  if (!rangeFormats.has(name)) {
    rangeFormats.set(name, { min, max, integer });
    if (registered) registerRange(name);
  }
  return name;
}

/** A format for integers from `min` to `max` inclusive; its name (`int 1..65535`) is what docs show. */
export function intIn(min: number, max: number): string {
  return range(min, max, true);
}

/** A format for finite numbers from `min` to `max` inclusive (`number 0..1000000`). */
export function numberIn(min: number, max: number): string {
  return range(min, max, false);
}


export function registerFormats(): void {
  if (registered) return;
  registered = true;
  for (const name of rangeFormats.keys()) registerRange(name);
  convict.addFormats({
    namespace: {
      validate(value: unknown) {
        if (typeof value !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,47}$/.test(value)) {
          throw new TypeError('must be 1-48 characters of a-z, 0-9, _ or -, starting with a letter or digit');
        }
      },
    },
    // One URL, or the nodes of a cluster comma-separated (shared/messaging/urls.ts), each checked.
    'amqp-url': {
      validate(v: unknown) {
        if (typeof v !== 'string') throw new TypeError('must be a URL string');
        const urls = v.split(',').map((s) => s.trim());
        if (urls.some((u) => u === '')) throw new TypeError('must be one URL or several separated by commas, without empty entries');
        for (const u of urls) assertUrl(u, ['amqp:', 'amqps:']);
      },
    },
    'redis-url': {
      validate(v: unknown) {
        if (typeof v !== 'string') throw new TypeError('must be a URL string');
        parseRedisTarget(v);
      },
    },
    // Seeds of a Redis Cluster (host:port,host:port), or empty for redis.url alone.
    'redis-nodes': {
      validate(v: unknown) {
        if (typeof v !== 'string') throw new TypeError('must be a string of host:port entries');
        if (v.trim() !== '') parseClusterNodes(v);
      },
    },
    // Booleans from the environment or a file as true/false (or 1/0); anything else is refused
    // (convict's Boolean would read any string but "false" as true).
    boolean: {
      validate(value: unknown) {
        if (typeof value !== 'boolean') throw new TypeError('must be true or false');
      },
      coerce(v: unknown) {
        if (typeof v !== 'string') return v;
        const s = v.trim().toLowerCase();
        return s === 'true' || s === '1' ? true : s === 'false' || s === '0' ? false : v;
      },
    },
    'cidr-list': {
      validate(value: unknown) {
        if (!Array.isArray(value)) throw new TypeError('must be a list of CIDRs');
        for (const item of value) {
          if (typeof item !== 'string' || !parseCidr(item)) {
            throw new TypeError(`must be a list of CIDRs, ${JSON.stringify(item)} is not one`);
          }
        }
      },
      coerce: splitList,
    },
    'host-rates': {
      validate(value: unknown) {
        if (!Array.isArray(value)) throw new TypeError('must be a list of host=rate entries');
        for (const item of value) {
          const m = typeof item === 'string' ? HOST_RATE.exec(item) : null;
          if (!m || Number(m[3]) > HOST_RATE_MAX) {
            throw new TypeError(`must be a list of host=rate entries (rate from 0 to ${HOST_RATE_MAX}), ${JSON.stringify(item)} is not one`);
          }
        }
      },
      coerce: splitList,
    },
    // The record formats a session may ask for (shared/tasks/types.ts), each at most once.
    'record-formats': {
      validate(value: unknown) {
        if (!Array.isArray(value)) throw new TypeError(`must be a list of ${RECORD_FORMATS.join(', ')}`);
        value.forEach((item, i) => {
          if (!(RECORD_FORMATS as readonly unknown[]).includes(item)) throw new TypeError(`must be a list of ${RECORD_FORMATS.join(', ')}, ${JSON.stringify(item)} is not one`);
          if (value.indexOf(item) !== i) throw new TypeError(`names ${JSON.stringify(item)} twice`);
        });
      },
      // `none` from the environment is the empty list (an empty variable counts as unset).
      coerce: (v: unknown) => (typeof v === 'string' && v.trim() === 'none' ? [] : splitList(v)),
    },
    'string-list': {
      validate(value: unknown) {
        if (!Array.isArray(value) || !value.every((s) => typeof s === 'string' && s.length > 0)) {
          throw new TypeError('must be a list of non-empty strings');
        }
      },
      coerce: splitList,
    },
  });
}
