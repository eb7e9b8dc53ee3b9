/**
 * Pure view logic of the console: the crawl form's values as a request, progress shares,
 * pages/s from successive polls, filters, formatting, and a setting's text as a value of
 * its type. No DOM (unit tested in Node: test/unit/console/view.test.ts).
 */
import type { Session, SessionCounts, SessionRequest } from './api.js';

/** Non-empty trimmed lines (or comma-separated items when `commas`). */
export function listOf(text: string, commas = false): string[] {
  return text.split(commas ? /[\n,]/ : /\n/).map((s) => s.trim()).filter((s) => s !== '');
}

/** A number input's text as a number when it is one; else the text itself, so the API names the field. */
function numberOrText(text: string): number | string {
  const t = text.trim();
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

/** What the New crawl form holds (every input as its text; formats as the checked names). */
export interface CrawlForm {
  seeds: string;
  label: string;
  maxPages: string;
  maxDepth: string;
  timeoutMs: string;
  allowedHosts: string;
  include: string;
  exclude: string;
  /** One `name=selector` per line. */
  fields: string;
  formats: string[];
}

/**
 * The form as the body of POST /sessions: empty inputs are left out (the API's defaults
 * apply), numbers as numbers. Nothing is judged here: the API's 400 names the field.
 */
export function crawlRequest(form: CrawlForm): SessionRequest {
  const req: SessionRequest = { seeds: listOf(form.seeds) };
  if (form.label.trim() !== '') req.label = form.label.trim();
  for (const k of ['maxPages', 'maxDepth', 'timeoutMs'] as const) {
    if (form[k].trim() !== '') req[k] = numberOrText(form[k]);
  }
  for (const k of ['allowedHosts', 'include', 'exclude'] as const) {
    const items = listOf(form[k]);
    if (items.length > 0) req[k] = items;
  }
  const fields = listOf(form.fields);
  if (fields.length > 0) {
    req.fields = Object.fromEntries(fields.map((line) => {
      const eq = line.indexOf('=');
      return eq < 0 ? [line, ''] : [line.slice(0, eq).trim(), line.slice(eq + 1).trim()];
    }));
  }
  if (form.formats.length > 0) req.formats = [...form.formats];
  return req;
}

/** URLs that reached a terminal state. */
export function doneOf(c: SessionCounts): number {
  return c.delivered + c.failed + c.skipped + c.cancelled;
}

export interface Shares {
  delivered: number;
  failed: number;
  skipped: number;
  cancelled: number;
}

/** Each outcome's share of the admitted URLs, in percent (0 when nothing is admitted). */
export function shares(c: SessionCounts): Shares {
  const of = (n: number): number => (c.admitted > 0 ? Math.min(100, (100 * n) / c.admitted) : 0);
  return { delivered: of(c.delivered), failed: of(c.failed), skipped: of(c.skipped), cancelled: of(c.cancelled) };
}

export interface RatePoint {
  /** ms since the epoch */
  at: number;
  pagesPerSecond: number;
}

/**
 * Pages/s of sessions from successive polls: each sample of a session's terminal count gives
 * the rate since the previous one. Keeps the last `keep` points per session (the chart).
 */
export class RateTracker {
  private readonly last = new Map<string, { at: number; done: number }>();
  private readonly series = new Map<string, RatePoint[]>();

  constructor(private readonly keep = 120) {}

  /** Records a sample; answers the rate since the previous sample, or null for the first. */
  sample(id: string, done: number, at: number): number | null {
    const prev = this.last.get(id);
    this.last.set(id, { at, done });
    if (!prev || at <= prev.at) return this.rate(id);
    const rate = Math.max(0, ((done - prev.done) * 1000) / (at - prev.at));
    const points = this.series.get(id) ?? [];
    points.push({ at, pagesPerSecond: rate });
    if (points.length > this.keep) points.splice(0, points.length - this.keep);
    this.series.set(id, points);
    return rate;
  }

  /** The latest rate, or null before two samples. */
  rate(id: string): number | null {
    const points = this.series.get(id);
    return points && points.length > 0 ? (points[points.length - 1] as RatePoint).pagesPerSecond : null;
  }

  /** The mean rate of the kept points (a steadier figure than the latest), or null before two samples. */
  mean(id: string): number | null {
    const points = this.series.get(id);
    if (!points || points.length === 0) return null;
    return points.reduce((n, p) => n + p.pagesPerSecond, 0) / points.length;
  }

  points(id: string): readonly RatePoint[] {
    return this.series.get(id) ?? [];
  }
}

/** An SVG polyline's `points` for a series, scaled into width × height (y grows down). */
export function chartPoints(points: readonly RatePoint[], width: number, height: number): { points: string; max: number } {
  if (points.length === 0) return { points: '', max: 0 };
  const max = Math.max(1, ...points.map((p) => p.pagesPerSecond));
  const first = (points[0] as RatePoint).at;
  const span = Math.max(1, (points[points.length - 1] as RatePoint).at - first);
  const xy = points.map((p) => {
    const x = points.length === 1 ? width : ((p.at - first) / span) * width;
    const y = height - (p.pagesPerSecond / max) * height;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  return { points: xy.join(' '), max };
}

export interface SessionFilter {
  status: string;
  label: string;
}

/** Sessions of a status ('' = any) whose label contains the text (case-insensitive; '' = any). */
export function filterSessions(list: readonly Session[], f: SessionFilter): Session[] {
  const label = f.label.trim().toLowerCase();
  return list.filter((s) => (f.status === '' || s.status === f.status)
    && (label === '' || (s.spec.label ?? '').toLowerCase().includes(label)));
}

/** A duration as the largest one or two units: 42 s, 3 min 5 s, 2 h 10 min, 3 d 4 h. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}

export function formatRate(r: number | null): string {
  if (r === null) return '–';
  return r >= 10 ? r.toFixed(0) : r.toFixed(1);
}

/**
 * A setting's text as a value like its current one: a number for a number (when the text is
 * one), a list for a list (comma- or line-separated), a boolean for a boolean (`true`/`false`);
 * otherwise the text, so the API names what is wrong with it.
 */
export function valueLike(current: unknown, text: string): unknown {
  if (Array.isArray(current)) return listOf(text, true);
  if (typeof current === 'number') return numberOrText(text);
  if (typeof current === 'boolean') return text.trim() === 'true' ? true : text.trim() === 'false' ? false : text.trim();
  return text;
}

/** A setting's value as the text of its input. */
export function textOf(value: unknown): string {
  if (Array.isArray(value)) return value.join(', ');
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The settings whose text changed, as the body of PATCH /config. */
export function configPatch(current: Readonly<Record<string, unknown>>, edited: Readonly<Record<string, string>>): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(edited)) {
    if (text !== textOf(current[key])) patch[key] = valueLike(current[key], text);
  }
  return patch;
}
