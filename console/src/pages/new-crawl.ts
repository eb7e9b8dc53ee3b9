/**
 * New crawl: seeds, limits, scope, fields and formats → POST /sessions. The API judges the
 * request; its 400 message is shown beside the field it names (body/maxPages → maxPages).
 */
import { crawlRequest, type CrawlForm } from '../lib/view.js';
import { errorSlot, showFieldError, type App } from '../app.js';
import { fill, h } from '../dom.js';

const FORMATS = ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata', 'headers'];

type TextField = Exclude<keyof CrawlForm, 'formats'>;

export function newCrawlPage(root: HTMLElement, app: App): () => void {
  const inputs = new Map<TextField, HTMLInputElement | HTMLTextAreaElement>();
  const field = (name: TextField, label: string, help: string, multi = false, extra: Record<string, string> = {}): HTMLElement => {
    const input = multi
      ? h('textarea', { name, id: `f-${name}`, rows: 3, 'data-testid': `field-${name}`, ...extra })
      : h('input', { name, id: `f-${name}`, type: 'text', 'data-testid': `field-${name}`, ...extra });
    inputs.set(name, input);
    return h('div', { class: 'field' }, h('label', { for: `f-${name}` }, label), input, h('small', { class: 'muted' }, help), errorSlot(name));
  };
  const formatBoxes = FORMATS.map((f) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'formats', value: f, 'data-testid': `format-${f}`, checked: f === 'markdown' }), f));
  const general = h('div', { class: 'field-error', role: 'alert', 'data-testid': 'form-error' });
  const submit = h('button', { type: 'submit', 'data-testid': 'submit-crawl' }, 'Start crawl');

  const form = h('form', { class: 'card crawl-form', 'data-testid': 'crawl-form', novalidate: true },
    h('h1', null, 'New crawl'),
    h('fieldset', null, h('legend', null, 'Seeds'),
      field('seeds', 'Seed URLs', 'One URL per line.', true, { placeholder: 'http://127.0.0.1:8000/' }),
      field('label', 'Label', 'Optional; the sessions list filters by it.')),
    h('fieldset', null, h('legend', null, 'Limits'),
      h('div', { class: 'columns' },
        field('maxPages', 'Max pages', 'Default session.defaultMaxPages.', false, { inputmode: 'numeric' }),
        field('maxDepth', 'Max depth', 'Links from a seed; default session.defaultMaxDepth.', false, { inputmode: 'numeric' }),
        field('timeoutMs', 'Timeout (ms)', 'Deadline of the session; default session.defaultTimeoutMs.', false, { inputmode: 'numeric' }))),
    h('fieldset', null, h('legend', null, 'Scope'),
      h('div', { class: 'columns' },
        field('allowedHosts', 'Allowed hosts', 'One per line; default the seeds\' hosts.', true),
        field('include', 'Include', 'URL patterns (regular expressions), one per line.', true),
        field('exclude', 'Exclude', 'URL patterns, one per line.', true))),
    h('fieldset', null, h('legend', null, 'Output'),
      field('fields', 'Fields', 'One name=CSS selector per line, e.g. price=.price', true),
      h('div', { class: 'field' }, h('span', { class: 'label' }, 'Formats'), h('div', { class: 'checks' }, ...formatBoxes), errorSlot('formats'))),
    general,
    submit);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
    const text = (k: TextField): string => inputs.get(k)?.value ?? '';
    const values: CrawlForm = {
      seeds: text('seeds'), label: text('label'), maxPages: text('maxPages'), maxDepth: text('maxDepth'), timeoutMs: text('timeoutMs'),
      allowedHosts: text('allowedHosts'), include: text('include'), exclude: text('exclude'), fields: text('fields'),
      formats: formatBoxes.map((l) => l.querySelector('input') as HTMLInputElement).filter((i) => i.checked).map((i) => i.value),
    };
    submit.disabled = true;
    app.api.createSession(crawlRequest(values)).then((s) => app.go(`#/sessions/${s.id}`), (err: unknown) => {
      submit.disabled = false;
      showFieldError(form, err, general);
    });
  });

  fill(root, form);
  return () => undefined;
}
