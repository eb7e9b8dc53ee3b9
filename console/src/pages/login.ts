/** Login: the API token, checked against the API before it is kept (sessionStorage). */
import { messageOf, TOKEN_KEY, type App } from '../app.js';
import { fill, h } from '../dom.js';

export function loginPage(root: HTMLElement, app: App, message: string, done: () => void): () => void {
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, 'data-testid': 'login-token', placeholder: 'API token' });
  const error = h('div', { class: 'field-error', role: 'alert', 'data-testid': 'login-error' }, message);
  const form = h('form', { class: 'login card', 'data-testid': 'login-form' },
    h('h1', null, 'crawlfleet console'),
    h('p', { class: 'muted' }, 'The API token of this cluster (api.token, or the file named by api.tokenFile). It is kept in this browser tab only.'),
    h('label', { for: 'token' }, 'API token'),
    input,
    error,
    h('button', { type: 'submit', 'data-testid': 'login-submit' }, 'Log in'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    error.textContent = '';
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    app.api.check().then(done, (err: unknown) => {
      sessionStorage.removeItem(TOKEN_KEY);
      error.textContent = messageOf(err);
    });
  });
  fill(root, h('div', { class: 'login-wrap' }, form));
  input.focus();
  return () => undefined;
}
