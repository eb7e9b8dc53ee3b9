/**
 * Redaction of a session's secrets, in one place for every output path. The values of a
 * session's request headers and cookies are secrets: the API (GET /sessions, GET
 * /sessions/:id, the 201 of POST /sessions), webhook payloads, crawlctl (which prints what the
 * API answers), log lines (pino's redact paths below) and our own error messages show `***`;
 * names, domains, paths and flags stay readable. Response headers that carry client state
 * (Set-Cookie, Authorization) are masked the same way wherever a record shows headers.
 */
import { CrawlError } from '../errors/index.js';
import type { SessionSpec } from '../tasks/types.js';

export const REDACTED = '***';

/** Header names whose values are credentials or client state, wherever they appear. */
export const SECRET_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token']);

/** The password of a URL masked (`https://u:***@host/`); anything that is no URL as it is. */
export function maskUrlPassword(value: string): string {
  try {
    const u = new URL(value);
    if (u.password === '') return value;
    u.password = REDACTED;
    return u.toString();
  } catch {
    return value;
  }
}

/**
 * A session spec safe to show: header values and cookie values become `***`, a webhook URL's
 * password too. The spec given is not changed. Every output of a spec goes through here.
 */
export function redactSpec<T extends Partial<SessionSpec>>(spec: T): T {
  const out: T = { ...spec };
  if (spec.headers) out.headers = Object.fromEntries(Object.keys(spec.headers).map((name) => [name, REDACTED]));
  if (spec.cookies) out.cookies = spec.cookies.map((c) => ({ ...c, value: REDACTED }));
  if (typeof spec.webhook === 'string') out.webhook = maskUrlPassword(spec.webhook);
  return out;
}

/** An object that holds a `spec` (a session view, a webhook event's session) with that spec redacted. */
export function redactSession<T extends { spec?: Partial<SessionSpec> | undefined }>(session: T): T {
  return session.spec ? { ...session, spec: redactSpec(session.spec) } : session;
}

/** Headers with the values of SECRET_HEADERS (any case) as `***`. */
export function redactHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : value;
  return out;
}

/** The secret values of a session (its header and cookie values), for redactText. */
export function secretsOf(spec: Partial<SessionSpec>): string[] {
  const values = [...Object.values(spec.headers ?? {}), ...(spec.cookies ?? []).map((c) => c.value)];
  // Very short values would mask unrelated text (a `1` everywhere): a value under 4 characters is no secret worth the noise.
  return [...new Set(values.filter((v) => v.length >= 4))].sort((a, b) => b.length - a.length);
}

/** Text (an error message) with every occurrence of the given secrets replaced by `***`. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** A CrawlError whose message holds none of the secrets (the same error when it held none); the cause is left out, since its message may hold them. */
export function redactError(err: CrawlError, secrets: readonly string[]): CrawlError {
  const message = redactText(err.message, secrets);
  return message === err.message ? err : new CrawlError(err.code, message, { details: { ...err.details } });
}

/** pino's censor for LOG_REDACT_PATHS: a webhook URL keeps all but its password, anything else is `***`. */
export function censorLogValue(value: unknown, path: readonly string[]): unknown {
  return path[path.length - 1] === 'webhook' ? (typeof value === 'string' ? maskUrlPassword(value) : value) : REDACTED;
}

/**
 * pino redact paths (fast-redact syntax): a spec, a request or a response logged as an object
 * never shows these values. The logger (shared/observability/log.ts) censors them with
 * censorLogValue.
 */
export const LOG_REDACT_PATHS: readonly string[] = [
  'spec.headers.*',
  'spec.cookies[*].value',
  'spec.webhook',
  '*.spec.webhook',
  '*.spec.headers.*',
  '*.spec.cookies[*].value',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["proxy-authorization"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  '*.headers["proxy-authorization"]',
  'cookies[*].value',
  'cookie',
  'setCookie',
];
