/**
 * One session: counts, traps, outcomes by reason, a pages/s chart from successive polls, the
 * latest results (title, outcome) with a Markdown preview of the one chosen, downloads
 * (JSONL; WARC when GET /sessions/:id/warc answers), cancel. Polled every 1.5 s.
 */
import { ApiError, type Outcomes, type ResultLine, type Session } from '../lib/api.js';
import { renderMarkdown } from '../lib/markdown.js';
import { chartPoints, doneOf, formatAge, formatRate, RateTracker } from '../lib/view.js';
import { messageOf, type App } from '../app.js';
import { countTable, legend, progressBar, statusBadge } from '../components.js';
import { fill, h, poll, saveBlob, svg } from '../dom.js';
import { POLL_MS } from './sessions.js';

const LATEST = 20;
const FOLLOW_PAGE = 200;
const FOLLOW_PAGES_PER_POLL = 10;
const RESULT_FIELDS = ['url', 'title', 'outcome', 'reason', 'status'];
const CANCELLABLE = new Set(['running', 'paused', 'partial']);
const CHART_W = 600;
const CHART_H = 120;

/**
 * Follows a session's records in write order with page cursors: full pages are passed once,
 * the last (incomplete) page is read again on each poll. Keeps the newest LATEST.
 */
class ResultsFollower {
  private cursor: string | null = null;
  private passed: ResultLine[] = [];
  latest: ResultLine[] = [];

  constructor(private readonly app: App, private readonly id: string) {}

  async poll(): Promise<void> {
    for (let i = 0; i < FOLLOW_PAGES_PER_POLL; i++) {
      const page = await this.app.api.results(this.id, { limit: FOLLOW_PAGE, after: this.cursor, fields: RESULT_FIELDS });
      if (page.next === null) {
        this.latest = [...this.passed, ...page.records].slice(-LATEST).reverse();
        return;
      }
      this.passed = [...this.passed, ...page.records].slice(-LATEST);
      this.cursor = page.next;
    }
    this.latest = [...this.passed].reverse();
  }
}

function outcomeTables(o: Outcomes | null): HTMLElement {
  if (!o) return h('p', { class: 'muted' }, 'loading…');
  const table = (name: 'failed' | 'skipped' | 'cancelled'): HTMLElement => h('div', null,
    h('h3', null, `${name} (${o[name].total})`),
    countTable(Object.entries(o[name].reasons).sort((a, b) => b[1] - a[1]), `outcomes-${name}`));
  return h('div', { class: 'columns', 'data-testid': 'outcomes' }, table('failed'), table('skipped'), table('cancelled'));
}

function chart(rates: RateTracker, id: string): HTMLElement {
  const pts = rates.points(id);
  const { points, max } = chartPoints(pts, CHART_W, CHART_H);
  const plot = svg('svg', { viewBox: `0 0 ${CHART_W} ${CHART_H}`, class: 'chart', role: 'img', 'aria-label': 'pages per second over time' },
    svg('line', { x1: 0, y1: CHART_H, x2: CHART_W, y2: CHART_H, class: 'axis' }),
    svg('polyline', { points, class: 'line' }));
  const span = pts.length > 1 ? formatAge((pts[pts.length - 1]?.at ?? 0) - (pts[0]?.at ?? 0)) : '–';
  return h('div', { 'data-testid': 'rate-chart' },
    h('div', { class: 'muted' }, `max ${formatRate(max)} pages/s · last ${span} · since this page opened`),
    plot);
}

export function sessionPage(root: HTMLElement, app: App, id: string): () => void {
  const rates = new RateTracker(240);
  const follower = new ResultsFollower(app, id);
  let session: Session | null = null;
  let outcomes: Outcomes | null = null;
  let selected: string | null = null;
  let warc: boolean | null = null;

  const head = h('div');
  const countsBox = h('div');
  const trapsBox = h('div');
  const outcomesBox = h('div');
  const chartBox = h('div');
  const resultsBox = h('div');
  const preview = h('div', { class: 'markdown', 'data-testid': 'preview' }, h('p', { class: 'muted' }, 'Choose a result to preview its Markdown.'));
  const previewTitle = h('h3', null, 'Preview');

  const download = async (path: string, name: string, type: string): Promise<void> => {
    try {
      const res = await fetch(path, { headers: app.authHeaders(), cache: 'no-store' });
      if (!res.ok) throw new ApiError(res.status, 'download', `${path}: HTTP ${res.status} ${await res.text()}`, null);
      saveBlob(new Blob([await res.arrayBuffer()], { type }), name);
    } catch (err) {
      app.error(err);
    }
  };

  const showPreview = async (url: string): Promise<void> => {
    selected = url;
    renderResults();
    try {
      const r = await app.api.page(id, url);
      fill(previewTitle, 'Preview: ', r.title ?? r.url);
      const md = typeof r.markdown === 'string' ? r.markdown : null;
      const box = h('div');
      // markdown-it with raw HTML off: every tag of the page's text comes out escaped (lib/markdown.ts).
      box.innerHTML = md === null ? '' : renderMarkdown(md);
      fill(preview, md === null ? h('p', { class: 'muted' }, `No Markdown in this record (outcome ${String(r.outcome)}${r.reason ? `, ${r.reason}` : ''}; the session's formats: ${(session?.spec.formats ?? []).join(', ') || 'none'}).`) : box);
    } catch (err) {
      fill(preview, h('p', { class: 'field-error' }, messageOf(err)));
    }
  };

  const renderResults = (): void => {
    const rows = follower.latest;
    fill(resultsBox, rows.length === 0 ? h('p', { class: 'muted' }, 'No records yet.') : h('table', { class: 'list', 'data-testid': 'results' },
      h('thead', null, h('tr', null, h('th', null, 'Title'), h('th', null, 'URL'), h('th', null, 'Outcome'))),
      h('tbody', null, ...rows.map((r) => h('tr', { class: r.url === selected ? 'selected' : '', 'data-testid': 'result-row' },
        h('td', null, h('button', { type: 'button', class: 'link', 'data-testid': 'result-title', onclick: () => void showPreview(r.url) }, r.title ?? '(no title)')),
        h('td', { class: 'mono url' }, r.url),
        h('td', null, r.outcome ?? '', r.reason ? h('span', { class: 'muted' }, ` ${r.reason}`) : null))))));
  };

  const render = (): void => {
    const s = session;
    if (!s) return;
    const cancel = CANCELLABLE.has(s.status)
      ? h('button', { type: 'button', class: 'danger', 'data-testid': 'cancel', onclick: () => {
        if (!window.confirm(`Cancel session ${s.id}? Its remaining URLs end cancelled.`)) return;
        app.api.cancel(s.id).then((next) => { session = next; render(); }, app.error);
      } }, 'Cancel')
      : null;
    fill(head,
      h('div', { class: 'toolbar' },
        h('h1', null, 'Session ', h('span', { class: 'mono', 'data-testid': 'session-id' }, s.id)),
        statusBadge(s.status),
        s.spec.label ? h('span', { class: 'muted' }, s.spec.label) : null,
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', 'data-testid': 'download-jsonl', onclick: () => void download(`/sessions/${s.id}/results`, `${s.id}.jsonl`, 'application/x-ndjson') }, 'Results (JSONL)'),
        warc ? h('button', { type: 'button', 'data-testid': 'download-warc', onclick: () => void download(`/sessions/${s.id}/warc`, `${s.id}.warc`, 'application/warc') }, 'WARC') : null,
        cancel),
      h('p', { class: 'muted' },
        `seeds: ${s.spec.seeds.join(' ')} · maxPages ${s.spec.maxPages} · maxDepth ${s.spec.maxDepth} · created ${formatAge(Date.now() - Date.parse(s.createdAt))} ago`,
        s.finishedAt ? ` · finished after ${formatAge(Date.parse(s.finishedAt) - Date.parse(s.createdAt))}` : ''),
      progressBar(s), legend());
    const c = s.counts;
    fill(countsBox, countTable([
      ['admitted', c.admitted], ['fetched', c.fetched], ['delivered', c.delivered], ['failed', c.failed],
      ['skipped', c.skipped], ['cancelled', c.cancelled], ['supplements', c.supplements], ['seeds failed', s.seedsFailed],
    ], 'counts'),
    h('p', { class: 'muted' }, `pages/s now: `, h('strong', { 'data-testid': 'rate' }, formatRate(s.status === 'running' ? rates.rate(id) : null))));
    fill(trapsBox, countTable(Object.entries(s.traps).filter(([, n]) => n > 0), 'traps', 'No link was refused by a spider-trap rule.'));
    fill(outcomesBox, outcomeTables(outcomes));
    fill(chartBox, chart(rates, id));
    renderResults();
  };

  fill(root,
    h('section', { class: 'card' }, head),
    h('div', { class: 'columns' },
      h('section', { class: 'card' }, h('h2', null, 'Counts'), countsBox),
      h('section', { class: 'card' }, h('h2', null, 'Spider traps'), trapsBox),
      h('section', { class: 'card grow' }, h('h2', null, 'Pages per second'), chartBox)),
    h('section', { class: 'card' }, h('h2', null, 'Outcomes by reason'), outcomesBox),
    h('div', { class: 'columns' },
      h('section', { class: 'card grow' }, h('h2', null, 'Latest results'), resultsBox),
      h('section', { class: 'card grow' }, previewTitle, preview)));

  // The WARC route exists when the WARC feature is in this build; the link shows only if it answers.
  app.api.probe(`/sessions/${id}/warc`).then((status) => { warc = status === 200; render(); }, () => { warc = false; });

  return poll(async () => {
    session = await app.api.session(id);
    rates.sample(id, doneOf(session.counts), Date.now());
    [outcomes] = await Promise.all([app.api.outcomes(id), follower.poll()]);
    if (selected === null) {
      const first = follower.latest.find((r) => r.outcome === 'delivered');
      if (first) void showPreview(first.url);
    }
    app.error(null);
    render();
  }, POLL_MS, app.error);
}
