import assert from 'node:assert/strict';
import { DOCX_TYPE, PPTX_TYPE, XLSX_TYPE, kindOf, mimeEssence, sniffContentType, type ContentKind } from '../../../shared/content/sniff.js';

const b = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

/** A ZIP of stored entries (local file headers and data only: what the sniffer reads). */
function zip(entries: [name: string, data: string][]): Buffer {
  return Buffer.concat(
    entries.map(([name, data]) => {
      const header = Buffer.alloc(30);
      header.writeUInt32LE(0x04034b50, 0);
      header.writeUInt16LE(20, 4); // version needed
      header.writeUInt32LE(data.length, 18); // compressed size
      header.writeUInt32LE(data.length, 22); // uncompressed size
      header.writeUInt16LE(name.length, 26);
      return Buffer.concat([header, Buffer.from(name, 'latin1'), Buffer.from(data, 'latin1')]);
    }),
  );
}

const CONTENT_TYPES: [string, string] = ['[Content_Types].xml', `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">${'<Default/>'.repeat(20)}</Types>`];
const RELS: [string, string] = ['_rels/.rels', '<?xml version="1.0"?><Relationships/>'];
const DOCX = zip([CONTENT_TYPES, RELS, ['word/document.xml', '<w:document/>']]);
const XLSX = zip([CONTENT_TYPES, RELS, ['xl/workbook.xml', '<workbook/>']]);
const PPTX = zip([CONTENT_TYPES, RELS, ['ppt/presentation.xml', '<p/>']]);
const PLAIN_ZIP = zip([['readme.txt', 'hello'], ['word/not-office.txt', 'x']]);

const PDF = b('%PDF-1.7\n%', [0xe2, 0xe3, 0xcf, 0xd3], '\n1 0 obj\n<< /Type /Catalog >>\nendobj\n');
const PNG = b([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13], 'IHDR');
const MP4 = b([0, 0, 0, 0x18], 'ftypisom', [0, 0, 0, 0], 'isommp41');
const WEBM = b([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84], 'webm', [0x42, 0x87]);
const RSS = b('<?xml version="1.0" encoding="utf-8"?>\n<!-- feed -->\n<rss version="2.0"><channel><title>t</title></channel></rss>');
const ATOM = b('<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>');
const RDF = b('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel/></rdf:RDF>');
const RDF_NOT_RSS = b('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><x/></rdf:RDF>');
const JSON_FEED = b('{\n  "version": "https://jsonfeed.org/version/1.1",\n  "title": "t",\n  "items": []\n}');

type Row = [name: string, bytes: Buffer, contentType: string | undefined, detectedType: string | null, kind: ContentKind];

function table(rows: Row[], opts?: { noSniff: boolean }): void {
  for (const [name, bytes, contentType, detectedType, kind] of rows) {
    it(`${name}: ${JSON.stringify(contentType ?? null)} → ${detectedType ?? '(as sent)'}, ${kind}`, () => {
      assert.deepEqual(sniffContentType(bytes, contentType, opts), { contentType: contentType ?? null, detectedType, kind });
    });
  }
}

describe('content type sniffing (shared/content/sniff)', () => {
  describe('no Content-Type: the HTML signatures, after whitespace, any case, then space or ">"', () => {
    const tags = ['<!DOCTYPE HTML', '<HTML', '<HEAD', '<SCRIPT', '<IFRAME', '<H1', '<DIV', '<FONT', '<TABLE', '<A', '<STYLE', '<TITLE', '<B', '<BODY', '<BR', '<P', '<!--'];
    const rows: Row[] = [];
    for (const tag of tags) {
      rows.push([`${tag}>`, b(`${tag}>x`), undefined, 'text/html', 'html']);
      rows.push([`lowercase ${tag.toLowerCase()} + space after whitespace`, b(` \t\r\n\f${tag.toLowerCase()} x`), undefined, 'text/html', 'html']);
    }
    rows.push(['<PRE> is not a signature', b('<PRE>x</PRE>'), undefined, 'text/plain', 'text']);
    rows.push(['<Bx> needs a tag-terminating byte', b('<Bx>'), undefined, 'text/plain', 'text']);
    rows.push(['<HTML without a following byte', b('<HTML'), undefined, 'text/plain', 'text']);
    rows.push(['a UTF-8 BOM before <!doctype html> (crawler: still HTML)', b([0xef, 0xbb, 0xbf], '<!doctype html><p>x'), undefined, 'text/html', 'html']);
    table(rows);
  });

  describe('no Content-Type: the other signatures of the unknown-type rules', () => {
    table([
      ['<?xml', b('  <?xml version="1.0"?><root/>'), undefined, 'text/xml', 'xml'],
      ['%PDF-', PDF, undefined, 'application/pdf', 'pdf'],
      ['%!PS-Adobe-', b('%!PS-Adobe-3.0\n'), undefined, 'application/postscript', 'binary'],
      ['UTF-16BE BOM', b([0xfe, 0xff, 0x00, 0x68]), undefined, 'text/plain', 'text'],
      ['UTF-16LE BOM', b([0xff, 0xfe, 0x68, 0x00]), undefined, 'text/plain', 'text'],
      ['UTF-8 BOM', b([0xef, 0xbb, 0xbf], 'hi'), undefined, 'text/plain', 'text'],
      // images
      ['ICO', b([0x00, 0x00, 0x01, 0x00, 0x01, 0x00]), undefined, 'image/x-icon', 'binary'],
      ['CUR', b([0x00, 0x00, 0x02, 0x00, 0x01, 0x00]), undefined, 'image/x-icon', 'binary'],
      ['BMP', b('BM', [0x36, 0x00, 0x00, 0x00, 0x00, 0x00]), undefined, 'image/bmp', 'binary'],
      ['GIF87a', b('GIF87a', [1, 0]), undefined, 'image/gif', 'binary'],
      ['GIF89a', b('GIF89a', [1, 0]), undefined, 'image/gif', 'binary'],
      ['WebP', b('RIFF', [0x24, 0, 0, 0], 'WEBPVP8 '), undefined, 'image/webp', 'binary'],
      ['PNG', PNG, undefined, 'image/png', 'binary'],
      ['JPEG', b([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10], 'JFIF'), undefined, 'image/jpeg', 'binary'],
      // audio and video
      ['.snd', b('.snd', [0, 0, 0, 24]), undefined, 'audio/basic', 'binary'],
      ['AIFF', b('FORM', [0, 0, 0, 4], 'AIFF'), undefined, 'audio/aiff', 'binary'],
      ['MP3 with ID3', b('ID3', [4, 0, 0, 0, 0, 0, 0]), undefined, 'audio/mpeg', 'binary'],
      ['Ogg', b('OggS', [0, 2]), undefined, 'application/ogg', 'binary'],
      ['MIDI', b('MThd', [0, 0, 0, 6, 0, 1]), undefined, 'audio/midi', 'binary'],
      ['AVI', b('RIFF', [0, 0, 0, 0], 'AVI LIST'), undefined, 'video/avi', 'binary'],
      ['WAVE', b('RIFF', [0, 0, 0, 0], 'WAVEfmt '), undefined, 'audio/wave', 'binary'],
      ['MP4 (ftyp box with mp4 brand)', MP4, undefined, 'video/mp4', 'binary'],
      ['WebM (EBML DocType webm)', WEBM, undefined, 'video/webm', 'binary'],
      // archives
      ['gzip', b([0x1f, 0x8b, 0x08, 0x00]), undefined, 'application/x-gzip', 'binary'],
      ['ZIP', PLAIN_ZIP, undefined, 'application/zip', 'binary'],
      ['RAR', b('Rar ', [0x1a, 0x07, 0x00, 0xcf]), undefined, 'application/x-rar-compressed', 'binary'],
      // Office documents inside a ZIP
      ['DOCX ([Content_Types].xml + word/)', DOCX, undefined, DOCX_TYPE, 'docx'],
      ['XLSX ([Content_Types].xml + xl/)', XLSX, undefined, XLSX_TYPE, 'binary'],
      ['PPTX ([Content_Types].xml + ppt/)', PPTX, undefined, PPTX_TYPE, 'binary'],
      // feeds
      ['RSS after <?xml and a comment', RSS, undefined, 'application/rss+xml', 'feed'],
      ['Atom', ATOM, undefined, 'application/atom+xml', 'feed'],
      ['RSS 1.0 (rdf:RDF with both namespaces)', RDF, undefined, 'application/rss+xml', 'feed'],
      ['rdf:RDF without the RSS namespace', RDF_NOT_RSS, undefined, 'text/xml', 'xml'],
      ['an <rss> root without <?xml', b('<rss version="2.0"></rss>'), undefined, 'application/rss+xml', 'feed'],
      ['JSON Feed', JSON_FEED, undefined, 'application/feed+json', 'feed'],
      // the rest
      ['plain text', b('Just some words.\n'), undefined, 'text/plain', 'text'],
      ['binary data bytes, no signature', b([0x01, 0x02, 0x03, 0x7f]), undefined, 'application/octet-stream', 'binary'],
      ['empty body', Buffer.alloc(0), undefined, 'text/plain', 'text'],
    ]);
  });

  describe('MP4 and WebM edge cases', () => {
    table([
      ['ftyp box longer than the bytes', b([0, 0, 0, 0x40], 'ftypmp42'), undefined, 'application/octet-stream', 'binary'],
      ['mp4 brand among the compatible brands', b([0, 0, 0, 0x18], 'ftypM4V ', [0, 0, 0, 0], 'M4V mp42'), undefined, 'video/mp4', 'binary'],
      ['ftyp box without an mp4 brand', b([0, 0, 0, 0x14], 'ftypqt  ', [0, 0, 0, 0], 'qt  '), undefined, 'application/octet-stream', 'binary'],
      ['EBML header of Matroska (not webm)', b([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x82, 0x88], 'matroska'), undefined, 'application/octet-stream', 'binary'],
    ]);
  });

  describe('the unknown types and application/octet-stream', () => {
    table([
      ['unknown/unknown', PDF, 'unknown/unknown', 'application/pdf', 'pdf'],
      ['application/unknown', b('<html>'), 'application/unknown', 'text/html', 'html'],
      ['*/*', DOCX, '*/*', DOCX_TYPE, 'docx'],
      ['an unparsable Content-Type', b('<p>x'), 'html', 'text/html', 'html'],
      ['a PDF served as application/octet-stream', PDF, 'application/octet-stream', 'application/pdf', 'pdf'],
      ['a DOCX served as application/octet-stream', DOCX, 'application/octet-stream', DOCX_TYPE, 'docx'],
      ['binary served as application/octet-stream agrees', b([0, 1, 2, 3]), 'application/octet-stream', null, 'binary'],
    ]);
  });

  describe('X-Content-Type-Options: nosniff', () => {
    table(
      [
        ['the type as sent stands (a PDF sent as text/html)', PDF, 'text/html', null, 'html'],
        ['application/octet-stream stands', PDF, 'application/octet-stream', null, 'binary'],
        ['no type: no HTML signatures', b('<html><p>x'), undefined, 'text/plain', 'text'],
        ['no type: %PDF- still recognised', PDF, undefined, 'application/pdf', 'pdf'],
        ['no type: no feed sniffing', RSS, undefined, 'text/plain', 'text'],
        ['no type: images still recognised', PNG, undefined, 'image/png', 'binary'],
      ],
      { noSniff: true },
    );
  });

  describe('text/plain as Apache sends it by default: text or binary', () => {
    table([
      ['text', b('hello world'), 'text/plain', null, 'text'],
      ['text, charset=ISO-8859-1', b('caf', [0xe9]), 'text/plain; charset=ISO-8859-1', null, 'text'],
      ['binary bytes, no signature', b([0x00, 0x01, 0x02]), 'text/plain; charset=UTF-8', 'application/octet-stream', 'binary'],
      ['a PNG', PNG, 'text/plain; charset=iso-8859-1', 'image/png', 'binary'],
      ['HTML stays text (no scriptable signatures here)', b('<html><p>x'), 'text/plain', null, 'text'],
      ['a UTF-16LE BOM with zero bytes is text', b([0xff, 0xfe, 0x68, 0x00]), 'text/plain', null, 'text'],
      ['a UTF-16BE BOM then a binary byte is text (the two BOM bytes are enough here)', b([0xfe, 0xff, 0x01]), 'text/plain', null, 'text'],
      ['a UTF-8 BOM before binary bytes is text', b([0xef, 0xbb, 0xbf, 0x01]), 'text/plain', null, 'text'],
      ['"BMW…" text is not a BMP', b('BMW and Audi'), 'text/plain', null, 'text'],
    ]);
  });

  describe('text/html: feed or HTML', () => {
    table([
      ['HTML', b('<!doctype html><html>'), 'text/html; charset=utf-8', null, 'html'],
      ['RSS served as text/html', RSS, 'text/html', 'application/rss+xml', 'feed'],
      ['Atom served as text/html', ATOM, 'text/html', 'application/atom+xml', 'feed'],
      ['RSS 1.0 served as text/html', RDF, 'text/html', 'application/rss+xml', 'feed'],
      ['XHTML with an XML declaration', b('<?xml version="1.0"?>\n<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml">'), 'text/html', null, 'html'],
      ['an unterminated comment', b('<!-- no end'), 'text/html', null, 'html'],
    ]);
  });

  describe('types that contradict the bytes', () => {
    table([
      ['a PDF served as text/html', PDF, 'text/html', 'application/pdf', 'pdf'],
      ['a DOCX served as text/html', DOCX, 'text/html; charset=utf-8', DOCX_TYPE, 'docx'],
      ['a PNG served as text/html', PNG, 'text/html', 'image/png', 'binary'],
      ['a gzip served as application/xml', b([0x1f, 0x8b, 0x08, 0x00]), 'application/xml', 'application/x-gzip', 'binary'],
      ['a PDF served as application/json', PDF, 'application/json', 'application/pdf', 'pdf'],
      ['a PDF served as text/plain; charset=utf-8', PDF, 'text/plain; charset=utf-8', 'application/pdf', 'pdf'],
      ['an HTML error page served as application/pdf', b('<!DOCTYPE html><title>Not found</title>'), 'application/pdf', 'text/html', 'html'],
      ['an HTML page served as a DOCX', b('<html><body>login'), DOCX_TYPE, 'text/html', 'html'],
      ['a PDF served as application/pdf agrees', PDF, 'application/pdf', null, 'pdf'],
      ['a damaged PDF that is not HTML keeps its type', b('garbage'), 'application/pdf', null, 'pdf'],
      ['a DOCX served as application/zip', DOCX, 'application/zip', DOCX_TYPE, 'docx'],
      ['a DOCX served as its type agrees', DOCX, DOCX_TYPE, null, 'docx'],
      ['a JPEG served as image/png', b([0xff, 0xd8, 0xff, 0xe0]), 'image/png', 'image/jpeg', 'binary'],
      ['an unknown image format keeps its type', b('????'), 'image/avif', null, 'binary'],
      ['WebM served as video/mp4', WEBM, 'video/mp4', 'video/webm', 'binary'],
      ['"ID3 tags" text served as text/html is not audio', b('ID3 tags explained'), 'text/html', null, 'html'],
    ]);
  });

  describe('XML and JSON types', () => {
    table([
      ['RSS served as text/xml', RSS, 'text/xml', 'application/rss+xml', 'feed'],
      ['Atom served as application/xml', ATOM, 'application/xml; charset=utf-8', 'application/atom+xml', 'feed'],
      ['RSS served as its type agrees', RSS, 'application/rss+xml', null, 'feed'],
      ['a sitemap served as application/xml', b('<?xml version="1.0"?><urlset/>'), 'application/xml', null, 'xml'],
      ['SVG', b('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'image/svg+xml', null, 'xml'],
      ['a JSON Feed served as application/json', JSON_FEED, 'application/json', 'application/feed+json', 'feed'],
      ['JSON', b('{"a":1}'), 'application/json', null, 'json'],
      ['JSON-LD', b('{"@context":"x"}'), 'application/ld+json', null, 'json'],
      ['Markdown', b('# Title'), 'text/markdown', null, 'text'],
      ['CSV', b('a,b\n1,2'), 'text/csv', null, 'text'],
      ['a font', b('wOF2'), 'font/woff2', null, 'binary'],
    ]);
  });

  describe('helpers', () => {
    const essences: [string | undefined, string | null][] = [
      ['text/html; charset=utf-8', 'text/html'],
      ['  Text/HTML ', 'text/html'],
      ['text/html;', 'text/html'],
      ['html', null],
      ['/html', null],
      ['text/ html', null],
      ['', null],
      [undefined, null],
    ];
    for (const [sent, essence] of essences) {
      it(`mimeEssence(${JSON.stringify(sent)}) is ${JSON.stringify(essence)}`, () => assert.equal(mimeEssence(sent), essence));
    }

    const kinds: [string, ContentKind][] = [
      ['text/html', 'html'],
      ['application/xhtml+xml', 'html'],
      ['application/pdf', 'pdf'],
      [DOCX_TYPE, 'docx'],
      ['application/feed+json', 'feed'],
      ['application/rdf+xml', 'xml'],
      ['text/plain', 'text'],
      ['application/octet-stream', 'binary'],
      ['video/mp4', 'binary'],
    ];
    for (const [type, kind] of kinds) {
      it(`kindOf(${type}) is ${kind}`, () => assert.equal(kindOf(type), kind));
    }

    it('reads Office entries from the local file headers within the first 4 KiB only', () => {
      const padded = zip([CONTENT_TYPES, ['media/big.bin', 'x'.repeat(5000)], ['word/document.xml', '<w:document/>']]);
      assert.equal(sniffContentType(padded, undefined).detectedType, 'application/zip');
      assert.equal(sniffContentType(DOCX, undefined).detectedType, DOCX_TYPE);
    });

    it('a ZIP with word/ entries but no [Content_Types].xml is a plain ZIP', () => {
      assert.equal(sniffContentType(PLAIN_ZIP, 'application/zip').detectedType, null);
    });
  });
});
