/**
 * Fleet: the live replicas by service with the config version each runs and its pages/s,
 * the rollout of the current config version, queue depths, the live rate settings (editable:
 * PATCH /config, the API's refusal shown beside the setting it names), every setting with
 * its origin, and the change history with rollback. Replicas, queues and history are polled
 * every 2 s; the form is rebuilt only after a change, so typing is never overwritten.
 */
import type { ConfigView, HistoryEntry, QueueDepth, Replica, Rollout, SchemaEntry, Stats } from '../lib/api.js';
import { configPatch, formatAge, formatRate, textOf } from '../lib/view.js';
import { errorSlot, messageOf, showFieldError, type App } from '../app.js';
import { countTable } from '../components.js';
import { fill, h, poll } from '../dom.js';

const POLL_MS = 2000;
/** The live settings the form edits: the crawl rates. */
const EDITABLE = (key: string): boolean => key.startsWith('rate.');

function queueRows(stats: Stats): [string, number][] {
  const rows: [string, number][] = [];
  for (const [role, q] of Object.entries(stats.queues)) {
    if (Array.isArray(q)) for (const o of q) rows.push([o.name, o.ready]);
    else if ('queues' in q) rows.push([`${role} (${q.queues.length} queues)`, q.ready]);
    else rows.push([`${role} · ${(q as QueueDepth).name}`, (q as QueueDepth).ready]);
  }
  return rows;
}

function replicaTable(replicas: Replica[], live: number): HTMLElement {
  if (replicas.length === 0) return h('p', { class: 'muted' }, 'No replica reports a heartbeat.');
  const services = [...new Set(replicas.map((r) => r.service))];
  return h('table', { class: 'list', 'data-testid': 'replicas' },
    h('thead', null, h('tr', null, ...['Service', 'Replica', 'Host', 'PID', 'Version', 'Config', 'In flight', 'Pages/s', 'Ready', 'Up', 'Last error'].map((t) => h('th', null, t)))),
    h('tbody', null, ...services.flatMap((svc) => replicas.filter((r) => r.service === svc).map((r, i) => h('tr', { 'data-testid': 'replica-row', 'data-service': r.service },
      h('td', null, i === 0 ? h('strong', null, svc) : ''),
      h('td', { class: 'mono' }, r.id),
      h('td', null, r.host),
      h('td', { class: 'num' }, r.pid),
      h('td', null, r.version),
      h('td', { class: r.configVersion >= live ? 'ok num' : 'warn num', 'data-testid': 'replica-config' }, `v${r.configVersion}`),
      h('td', { class: 'num' }, r.inFlight),
      h('td', { class: 'num' }, formatRate(r.pagesPerSecond)),
      h('td', null, r.ready ? 'yes' : h('span', { class: 'warn', title: r.reasons.join('; ') }, 'no')),
      h('td', null, formatAge(Date.now() - Date.parse(r.startedAt))),
      h('td', { class: 'muted' }, r.lastError ?? ''))))));
}

function rolloutLine(r: Rollout): HTMLElement {
  const done = r.replicas > 0 && r.current === r.replicas;
  return h('p', { class: done ? 'ok' : 'warn', 'data-testid': 'rollout', 'data-current': r.current, 'data-replicas': r.replicas, 'data-version': r.version },
    `${r.current} of ${r.replicas} replicas run config version ${r.version}`,
    r.behind.length > 0 ? ` (behind: ${r.behind.map((b) => `${b.service} ${b.id} at v${b.configVersion}`).join(', ')})` : '');
}

export function fleetPage(root: HTMLElement, app: App): () => void {
  let config: ConfigView | null = null;
  let schema: SchemaEntry[] = [];
  const replicasBox = h('div');
  const rolloutBox = h('div');
  const queuesBox = h('div');
  const rateBox = h('div');
  const settingsBox = h('div');
  const historyBox = h('div');
  const versionBox = h('span', { class: 'muted', 'data-testid': 'config-version' });

  const values = (): Record<string, unknown> => Object.fromEntries((config?.settings ?? []).map((s) => [s.key, s.value]));

  const applied = async (what: string, version: number): Promise<void> => {
    app.error(null);
    await loadConfig();
    fill(versionBox, `config version ${version} (${what})`);
  };

  const buildRateForm = (): void => {
    if (!config) return;
    const live = new Set(schema.filter((e) => e.live).map((e) => e.key));
    const docs = new Map(schema.map((e) => [e.key, e.doc]));
    const editable = config.settings.filter((s) => EDITABLE(s.key) && live.has(s.key));
    const inputs = new Map<string, HTMLInputElement>();
    const general = h('div', { class: 'field-error', role: 'alert', 'data-testid': 'config-error' });
    const form = h('form', { class: 'rate-form', 'data-testid': 'rate-form', novalidate: true },
      ...editable.map((s) => {
        const input = h('input', { type: 'text', name: s.key, id: `c-${s.key}`, value: textOf(s.value), 'data-testid': `setting-${s.key}` });
        inputs.set(s.key, input);
        return h('div', { class: 'field' },
          h('label', { for: `c-${s.key}` }, h('span', { class: 'mono' }, s.key), h('span', { class: 'muted' }, ` (${s.origin})`)),
          input, h('small', { class: 'muted' }, docs.get(s.key) ?? ''), errorSlot(s.key));
      }),
      general,
      h('button', { type: 'submit', 'data-testid': 'apply-config' }, 'Apply to every replica'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
      const patch = configPatch(values(), Object.fromEntries([...inputs].map(([k, i]) => [k, i.value])));
      if (Object.keys(patch).length === 0) {
        general.textContent = 'Nothing changed.';
        return;
      }
      app.api.patchConfig(patch).then((r) => applied(`set ${r.changes.map((c) => `${c.key}=${textOf(c.new)}`).join(', ')}`, r.version), (err: unknown) => showFieldError(form, err, general));
    });
    fill(rateBox, form);
  };

  const renderSettings = (): void => {
    if (!config) return;
    const live = new Set(schema.filter((e) => e.live).map((e) => e.key));
    fill(settingsBox, h('details', null, h('summary', null, `All ${config.settings.length} settings (${live.size} live)`),
      h('table', { class: 'list compact', 'data-testid': 'settings' },
        h('thead', null, h('tr', null, h('th', null, 'Setting'), h('th', null, 'Value'), h('th', null, 'Origin'), h('th', null, 'Live'))),
        h('tbody', null, ...config.settings.map((s) => h('tr', null,
          h('td', { class: 'mono' }, s.key), h('td', { class: 'mono' }, textOf(s.value)), h('td', null, s.origin), h('td', null, live.has(s.key) ? 'yes' : '')))))));
  };

  const renderHistory = (history: HistoryEntry[]): void => {
    const current = config?.version ?? 0;
    fill(historyBox, history.length === 0 ? h('p', { class: 'muted' }, 'No live change yet.') : h('table', { class: 'list', 'data-testid': 'history' },
      h('thead', null, h('tr', null, ...['Version', 'When', 'Who', 'Action', 'Changes', ''].map((t) => h('th', null, t)))),
      h('tbody', null, ...history.map((e) => h('tr', { 'data-testid': 'history-row', 'data-version': e.version },
        h('td', { class: 'num' }, `v${e.version}`),
        h('td', null, `${formatAge(Date.now() - Date.parse(e.at))} ago`),
        h('td', null, e.who),
        h('td', null, e.action),
        h('td', { class: 'mono' }, e.changes.map((c) => `${c.key}: ${textOf(c.old)} → ${textOf(c.new)}`).join('; ')),
        h('td', null, e.version < current ? h('button', { type: 'button', 'data-testid': 'rollback', onclick: () => {
          if (!window.confirm(`Make the live settings of version ${e.version} current again (as a new version)?`)) return;
          app.api.rollback(e.version).then((r) => applied(`rolled back to v${e.version}`, r.version), (err: unknown) => app.error(err));
        } }, `Roll back to v${e.version}`) : h('span', { class: 'muted' }, 'current')))))));
  };

  const loadConfig = async (): Promise<void> => {
    [config, schema] = await Promise.all([app.api.config(), schema.length > 0 ? Promise.resolve(schema) : app.api.configSchema()]);
    fill(versionBox, `config version ${config.version}${config.updatedBy ? ` by ${config.updatedBy}` : ''}`);
    buildRateForm();
    renderSettings();
  };

  fill(root,
    h('section', { class: 'card' }, h('div', { class: 'toolbar' }, h('h1', null, 'Fleet'), versionBox), rolloutBox, replicasBox),
    h('div', { class: 'columns' },
      h('section', { class: 'card' }, h('h2', null, 'Queue depths'), h('p', { class: 'muted' }, 'Messages ready, sampled by the controller.'), queuesBox),
      h('section', { class: 'card grow' }, h('h2', null, 'Crawl rate (live)'), rateBox, settingsBox)),
    h('section', { class: 'card' }, h('h2', null, 'Change history'), historyBox));

  loadConfig().catch((err: unknown) => fill(rateBox, h('p', { class: 'field-error' }, messageOf(err))));

  return poll(async () => {
    const [replicas, rollout, stats, history] = await Promise.all([app.api.replicas(), app.api.rollout(), app.api.stats(), app.api.history(20)]);
    fill(rolloutBox, rolloutLine(rollout));
    fill(replicasBox, replicaTable(replicas, rollout.version));
    fill(queuesBox, countTable(queueRows(stats), 'queues'));
    if (config && history[0] && history[0].version > config.version) await loadConfig();
    renderHistory(history);
    app.error(null);
  }, POLL_MS, app.error);
}
