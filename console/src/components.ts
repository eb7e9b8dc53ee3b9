/** Pieces several pages show. */
import type { Session } from './lib/api.js';
import { shares } from './lib/view.js';
import { h } from './dom.js';

/** A stacked bar: delivered, failed, skipped, cancelled as shares of the admitted URLs. */
export function progressBar(s: Session): HTMLElement {
  const p = shares(s.counts);
  const c = s.counts;
  // Widths through the CSSOM: the Content-Security-Policy refuses style attributes.
  const part = (cls: string, pct: number, n: number, name: string): HTMLElement => {
    const el = h('span', { class: `bar-${cls}`, title: `${name}: ${n}` });
    el.style.width = `${pct.toFixed(2)}%`;
    return el;
  };
  return h('div', { class: 'progress', 'data-testid': 'progress', title: `${c.delivered} delivered, ${c.failed} failed, ${c.skipped} skipped, ${c.cancelled} cancelled of ${c.admitted} admitted` },
    part('delivered', p.delivered, c.delivered, 'delivered'),
    part('failed', p.failed, c.failed, 'failed'),
    part('skipped', p.skipped, c.skipped, 'skipped'),
    part('cancelled', p.cancelled, c.cancelled, 'cancelled'));
}

export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge status-${status}`, 'data-testid': 'status' }, status);
}

export function legend(): HTMLElement {
  return h('div', { class: 'legend' },
    ...(['delivered', 'failed', 'skipped', 'cancelled'] as const).map((k) => h('span', null, h('i', { class: `bar-${k}` }), k)));
}

/** A two-column table of name → number. */
export function countTable(rows: [string, number][], testid: string, empty = 'none'): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted', 'data-testid': testid }, empty);
  return h('table', { class: 'counts', 'data-testid': testid },
    h('tbody', null, ...rows.map(([k, v]) => h('tr', null, h('th', null, k), h('td', { class: 'num' }, v)))));
}
