/**
 * The one XML reader of the documents stage (feeds, DOCX properties): fast-xml-parser with
 * entity expansion OFF, so a billion-laughs DOCTYPE is read as text and never expanded.
 * Only the five predefined entities and character references are decoded, in text values,
 * by xmlText. Namespace prefixes are dropped (`rdf:RDF` → `RDF`, `dc:date` → `date`).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

const ARRAYS = new Set(['item', 'entry', 'link']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  processEntities: false,
  htmlEntities: false,
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => ARRAYS.has(name),
});

/** The parsed tree, or null when the text is not well-formed XML. */
export function readXml(text: string): Record<string, unknown> | null {
  if (XMLValidator.validate(text) !== true) return null;
  try {
    return parser.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Predefined entities and character references decoded; any other entity left as written. */
export function decodeXmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const cp = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : whole;
    }
    return PREDEFINED[name] ?? whole;
  });
}

/** The text of a node (a string, or an element with attributes and `#text`), whitespace collapsed; undefined when empty. */
export function xmlText(node: unknown): string | undefined {
  let v: unknown = node;
  if (Array.isArray(v)) v = v[0];
  if (v !== null && typeof v === 'object') v = (v as Record<string, unknown>)['#text'];
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const t = decodeXmlEntities(String(v)).replace(/\s+/g, ' ').trim();
  return t === '' ? undefined : t;
}
