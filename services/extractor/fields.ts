/** Custom fields of a session: name → CSS selector; the value is the first match's text. */
import type { CheerioAPI } from 'cheerio';

export function extractFields($: CheerioAPI, fields: Readonly<Record<string, string>>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [name, selector] of Object.entries(fields)) {
    let value: string | null = null;
    try {
      const text = $(selector).first().text().replace(/\s+/g, ' ').trim();
      value = text === '' ? null : text;
    } catch {
      value = null;
    }
    out[name] = value;
  }
  return out;
}
