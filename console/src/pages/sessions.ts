/** Sessions: every session with status, progress, pages/s and age; filters; polled every 1.5 s. */
import type { Session } from '../lib/api.js';
import { doneOf, filterSessions, formatAge, formatRate, RateTracker } from '../lib/view.js';
import type { App } from '../app.js';
import { legend, progressBar, statusBadge } from '../components.js';
import { fill, h, poll } from '../dom.js';

const STATUSES = ['running', 'paused', 'completed', 'partial', 'cancelled', 'closed'];
export const POLL_MS = 1500;
// pages/s over the last ~6 s (4 polls).
const rates = new RateTracker(4);

function ageOf(s: Session, now: number): string {
  const start = Date.parse(s.createdAt);
  return s.finishedAt ? `${formatAge(now - start)} (ran ${formatAge(Date.parse(s.finishedAt) - start)})` : formatAge(now - start);
}

export function sessionsPage(root: HTMLElement, app: App): () => void {
  let all: Session[] = [];
  const status = h('select', { 'data-testid': 'filter-status', 'aria-label': 'status' },
    h('option', { value: '' }, 'any status'), ...STATUSES.map((s) => h('option', { value: s }, s)));
  const label = h('input', { type: 'search', placeholder: 'label contains…', 'data-testid': 'filter-label', 'aria-label': 'label' });
  const body = h('tbody');
  const count = h('span', { class: 'muted' });

  const render = (): void => {
    const now = Date.now();
    const shown = filterSessions(all, { status: status.value, label: label.value });
    count.textContent = `${shown.length} of ${all.length}`;
    fill(body, shown.length === 0
      ? h('tr', null, h('td', { colspan: 7, class: 'muted' }, all.length === 0 ? 'No sessions yet: start one on New crawl.' : 'No session matches the filters.'))
      : shown.map((s) => h('tr', { 'data-testid': 'session-row', 'data-id': s.id },
        h('td', null, h('a', { href: `#/sessions/${s.id}`, class: 'mono' }, s.id)),
        h('td', null, s.spec.label ?? h('span', { class: 'muted' }, '—')),
        h('td', null, statusBadge(s.status)),
        h('td', { class: 'wide' }, progressBar(s)),
        h('td', { class: 'num' }, `${doneOf(s.counts)} / ${s.counts.admitted}`),
        h('td', { class: 'num', 'data-testid': 'rate' }, formatRate(s.status === 'running' ? rates.mean(s.id) : null)),
        h('td', null, ageOf(s, now)))));
  };
  status.addEventListener('change', render);
  label.addEventListener('input', render);

  fill(root,
    h('section', { class: 'card' },
      h('div', { class: 'toolbar' }, h('h1', null, 'Sessions'), status, label, count, h('a', { class: 'button', href: '#/new' }, 'New crawl')),
      legend(),
      h('table', { class: 'list', 'data-testid': 'sessions-table' },
        h('thead', null, h('tr', null, ...['Session', 'Label', 'Status', 'Progress', 'Done / admitted', 'Pages/s', 'Age'].map((t) => h('th', null, t)))),
        body)));

  return poll(async () => {
    all = await app.api.sessions(100);
    const now = Date.now();
    for (const s of all) rates.sample(s.id, doneOf(s.counts), now);
    app.error(null);
    render();
  }, POLL_MS, app.error);
}
