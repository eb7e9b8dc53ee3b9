/** What every page gets: the API client, navigation, a place for messages. */
import { ApiError, type ApiClient, type FetchFn } from './lib/api.js';
import { h } from './dom.js';

export const TOKEN_KEY = 'crawlfleet.token';

export interface App {
  api: ApiClient;
  go(hash: string): void;
  /** Shows an error in the page's banner (null clears it). */
  error(err: unknown): void;
  /** The token (for downloads fetched by hand). */
  authHeaders(): Record<string, string>;
}

/** A page renders into `root` and answers how to stop it (its polls). */
export type Page = (root: HTMLElement, app: App, param: string) => () => void;

export const browserFetch: FetchFn = (url, init) => fetch(url, { ...init, credentials: 'omit', cache: 'no-store' });

export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code}, HTTP ${err.status})`;
  return err instanceof Error ? err.message : String(err);
}

/** A form field's error slot: the API's message for `field` goes here. */
export function errorSlot(field: string): HTMLElement {
  return h('div', { class: 'field-error', 'data-error-for': field, role: 'alert' });
}

/** Puts a refusal beside the field it names, or into `general`; answers whether a field took it. */
export function showFieldError(form: HTMLElement, err: unknown, general: HTMLElement): boolean {
  for (const slot of form.querySelectorAll<HTMLElement>('[data-error-for]')) slot.textContent = '';
  general.textContent = '';
  const field = err instanceof ApiError ? err.field : null;
  const slot = field ? form.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(field)}"]`) : null;
  if (slot && err instanceof ApiError) {
    slot.textContent = err.message;
    slot.closest('label, .field')?.classList.add('invalid');
    return true;
  }
  general.textContent = messageOf(err);
  return false;
}
