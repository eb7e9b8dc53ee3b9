/**
 * Feeds → DocumentContent: RSS 0.9x/2.0 (`<rss><channel><item>`), RSS 1.0 (`<rdf:RDF>` with
 * `<item>`s beside the channel), Atom 1.0 (`<feed><entry>`) and JSON Feed (`version`
 * https://jsonfeed.org/version/…). The record's `feed` holds the title and the items (url,
 * title, publishedAt as ISO 8601), at most documents.maxFeedItems; every item link is a link
 * of the document, admitted like a page's. XML or JSON that is not a feed is kept raw (the
 * record's `rawHtml` when asked). Malformed XML, or JSON that does not parse → document_corrupt.
 */
import { CrawlError } from '../../../shared/errors/index.js';
import type { RecordFeed, RecordFeedItem } from '../../../shared/tasks/types.js';
import { normalizeUrl } from '../../../shared/url/normalize.js';
import type { DocumentLimits } from '../parse.js';
import type { DocumentContent } from './common.js';
import { readXml, xmlText } from './xml.js';

type Node = Record<string, unknown>;

const asArray = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const obj = (v: unknown): Node | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : undefined);

function isoDate(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const t = Date.parse(raw);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

interface RawItem {
  url: string | undefined;
  title: string | undefined;
  date: string | undefined;
}

/** The href of an Atom entry's alternate link (a link without rel is alternate). */
function atomLink(links: unknown): string | undefined {
  const all = asArray(links).map(obj).filter((l): l is Node => l !== undefined);
  const alt = all.find((l) => (l['@_rel'] ?? 'alternate') === 'alternate') ?? all[0];
  return typeof alt?.['@_href'] === 'string' ? alt['@_href'] : undefined;
}

/** Title and items of an XML feed, or null when the root is not a feed's. */
function xmlFeed(tree: Node): { title: string | undefined; items: RawItem[] } | null {
  const rss = obj(tree['rss']);
  if (rss) {
    const channel = obj(asArray(rss['channel'])[0]) ?? {};
    const items = asArray(channel['item']).map(obj).filter((i): i is Node => i !== undefined);
    return {
      title: xmlText(channel['title']),
      items: items.map((i) => ({ url: xmlText(i['link']) ?? (obj(i['guid'])?.['@_isPermaLink'] !== 'false' ? xmlText(i['guid']) : undefined), title: xmlText(i['title']), date: xmlText(i['pubDate']) ?? xmlText(i['date']) })),
    };
  }
  const rdf = obj(tree['RDF']);
  if (rdf) {
    const channel = obj(asArray(rdf['channel'])[0]) ?? {};
    const items = asArray(rdf['item']).map(obj).filter((i): i is Node => i !== undefined);
    return {
      title: xmlText(channel['title']),
      items: items.map((i) => ({ url: xmlText(i['link']) ?? (typeof i['@_about'] === 'string' ? i['@_about'] : undefined), title: xmlText(i['title']), date: xmlText(i['date']) })),
    };
  }
  const atom = obj(tree['feed']);
  if (atom) {
    const entries = asArray(atom['entry']).map(obj).filter((i): i is Node => i !== undefined);
    return {
      title: xmlText(atom['title']),
      items: entries.map((e) => ({ url: atomLink(e['link']), title: xmlText(e['title']), date: xmlText(e['published']) ?? xmlText(e['updated']) })),
    };
  }
  return null;
}

/** Title and items of a JSON Feed, or null when the JSON is not one. */
function jsonFeed(json: unknown): { title: string | undefined; items: RawItem[] } | null {
  const feed = obj(json);
  if (!feed || typeof feed['version'] !== 'string' || !feed['version'].startsWith('https://jsonfeed.org/version/')) return null;
  const s = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.replace(/\s+/g, ' ').trim() : undefined);
  return {
    title: s(feed['title']),
    items: asArray(feed['items'])
      .map(obj)
      .filter((i): i is Node => i !== undefined)
      .map((i) => ({ url: s(i['url']) ?? s(i['external_url']), title: s(i['title']), date: s(i['date_published']) ?? s(i['date_modified']) })),
  };
}

function feedDocument(found: { title: string | undefined; items: RawItem[] }, raw: string, pageUrl: string, limits: DocumentLimits, stripParams: readonly string[]): DocumentContent {
  const kept = found.items.slice(0, limits.maxFeedItems);
  const items: RecordFeedItem[] = kept.map((i) => ({
    url: i.url === undefined ? null : normalizeUrl(i.url, pageUrl, { stripParams }),
    title: i.title ?? null,
    publishedAt: isoDate(i.date),
  }));
  const feed: RecordFeed = { title: found.title ?? null, items };
  const lines = items.map((i) => {
    const label = (i.title ?? i.url ?? '').replace(/[[\]]/g, '\\$&');
    const date = i.publishedAt ? ` (${i.publishedAt})` : '';
    return i.url ? `- [${label}](${i.url})${date}` : `- ${label}${date}`;
  });
  const heading = feed.title ? `# ${feed.title}\n\n` : '';
  return {
    kind: 'feeds',
    title: feed.title,
    markdown: `${heading}${lines.join('\n')}`.trim(),
    text: [feed.title ?? '', ...items.map((i) => [i.title, i.url, i.publishedAt].filter(Boolean).join(' '))].join('\n').trim(),
    raw,
    links: items.flatMap((i) => (i.url ? [{ url: i.url, text: i.title ?? '' }] : [])),
    metadata: {},
    feed,
    truncated: found.items.length > kept.length ? ['feed'] : [],
    charset: 'utf-8',
    charsetSource: 'default',
  };
}

/** Not a feed: the document kept raw, without links. */
function rawDocument(raw: string): DocumentContent {
  return { kind: 'feeds', title: null, markdown: '', text: '', raw, links: [], metadata: {}, truncated: [], charset: 'utf-8', charsetSource: 'default' };
}

/** A feed, or other XML or JSON (`json` says which the type is). */
export function parseFeed(body: Buffer, json: boolean, pageUrl: string, limits: DocumentLimits, stripParams: readonly string[] = []): DocumentContent {
  const raw = new TextDecoder('utf-8').decode(body);
  if (json || /^\s*[[{]/.test(raw)) {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new CrawlError('document_corrupt', `${pageUrl}: not readable JSON (${(err as Error).message})`, { cause: err });
    }
    const found = jsonFeed(value);
    return found ? feedDocument(found, raw, pageUrl, limits, stripParams) : rawDocument(raw);
  }
  const tree = readXml(raw);
  if (tree === null) throw new CrawlError('document_corrupt', `${pageUrl}: not well-formed XML`);
  const found = xmlFeed(tree);
  return found ? feedDocument(found, raw, pageUrl, limits, stripParams) : rawDocument(raw);
}
