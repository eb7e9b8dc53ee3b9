/** Custom convict formats used by the schema. Registered once, on import. */
import convict from 'convict';
import { parseCidr } from '../net/cidr.js';

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

let registered = false;

export function registerFormats(): void {
  if (registered) return;
  registered = true;
  convict.addFormats({
    namespace: {
      validate(value: unknown) {
        if (typeof value !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,47}$/.test(value)) {
          throw new TypeError('must be 1-48 characters of a-z, 0-9, _ or -, starting with a letter or digit');
        }
      },
    },
    'amqp-url': { validate: (v: unknown) => assertUrl(v, ['amqp:', 'amqps:']) },
    'redis-url': { validate: (v: unknown) => assertUrl(v, ['redis:', 'rediss:']) },
    'positive-int': {
      validate(value: unknown) {
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
          throw new TypeError('must be an integer of at least 1');
        }
      },
      coerce: (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    },
    'non-negative-number': {
      validate(value: unknown) {
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
          throw new TypeError('must be a number of at least 0');
        }
      },
      coerce: (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
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
          if (typeof item !== 'string' || !HOST_RATE.test(item)) {
            throw new TypeError(`must be a list of host=rate entries (rate >= 0), ${JSON.stringify(item)} is not one`);
          }
        }
      },
      coerce: splitList,
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
