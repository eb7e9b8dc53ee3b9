/**
 * The crawlfleet console: a login form, then four pages chosen by the URL's hash
 * (#/sessions, #/sessions/<id>, #/new, #/fleet). The API token is kept in sessionStorage (this
 * tab only, gone when it closes) and sent as a bearer header; it never goes into a URL.
 */
import './style.css';
import { ApiClient } from './lib/api.js';
import { browserFetch, messageOf, TOKEN_KEY, type App, type Page } from './app.js';
import { fill, h } from './dom.js';
import { fleetPage } from './pages/fleet.js';
import { loginPage } from './pages/login.js';
import { newCrawlPage } from './pages/new-crawl.js';
import { sessionPage } from './pages/session.js';
import { sessionsPage } from './pages/sessions.js';

const root = document.getElementById('app') as HTMLElement;
let stopPage: () => void = () => undefined;
let loggedIn = false;

const api = new ApiClient({
  fetch: browserFetch,
  token: () => sessionStorage.getItem(TOKEN_KEY),
  onUnauthorized: () => {
    if (!loggedIn) return;
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('The API refused the token; log in again.');
  },
});

const banner = h('div', { class: 'banner', role: 'status', 'data-testid': 'banner' });

const app: App = {
  api,
  go: (hash) => {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  error: (err) => {
    banner.textContent = err === null ? '' : messageOf(err);
    banner.classList.toggle('visible', err !== null);
  },
  authHeaders: (): Record<string, string> => {
    const t = sessionStorage.getItem(TOKEN_KEY);
    return t ? { authorization: `Bearer ${t}` } : {};
  },
};

const ROUTES: [RegExp, Page, string][] = [
  [/^#\/sessions\/([a-z0-9-]+)$/, sessionPage, 'sessions'],
  [/^#\/sessions$/, sessionsPage, 'sessions'],
  [/^#\/new$/, newCrawlPage, 'new'],
  [/^#\/fleet$/, fleetPage, 'fleet'],
];

function layout(active: string): HTMLElement {
  const link = (hash: string, name: string, label: string): HTMLElement =>
    h('a', { href: hash, class: active === name ? 'active' : '', 'data-testid': `nav-${name}` }, label);
  const main = h('main', { id: 'page' });
  fill(root,
    h('header', null,
      h('span', { class: 'brand' }, 'crawlfleet'),
      h('nav', null, link('#/sessions', 'sessions', 'Sessions'), link('#/new', 'new', 'New crawl'), link('#/fleet', 'fleet', 'Fleet')),
      h('button', { class: 'link', type: 'button', 'data-testid': 'logout', onclick: () => { sessionStorage.removeItem(TOKEN_KEY); loggedIn = false; showLogin(null); } }, 'Log out')),
    banner,
    main);
  return main;
}

function route(): void {
  if (!loggedIn) return;
  stopPage();
  app.error(null);
  const hash = location.hash || '#/sessions';
  for (const [re, page, name] of ROUTES) {
    const m = re.exec(hash);
    if (m) {
      stopPage = page(layout(name), app, m[1] ?? '');
      return;
    }
  }
  app.go('#/sessions');
}

function showLogin(message: string | null): void {
  stopPage();
  loggedIn = false;
  stopPage = loginPage(root, app, message ?? '', () => {
    loggedIn = true;
    route();
  });
}

window.addEventListener('hashchange', route);

// A token kept in this tab, or an API without one, opens the console directly.
api.check().then(() => {
  loggedIn = true;
  route();
}, () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin(null);
});
