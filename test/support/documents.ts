/**
 * Documents made in the tests (no binary fixtures in git): PDFs with pdf-lib (title, pages,
 * a heading, a URI link annotation, an encrypted one, a truncated one, a long one), Word
 * documents with JSZip (headings, a list, a table, emphasis, a hyperlink; a ZIP bomb), and
 * feeds in the four formats.
 */
import JSZip from 'jszip';
import { PDFDocument, PDFName, PDFHexString, PDFString, StandardFonts } from 'pdf-lib';

export interface PdfSpec {
  title?: string;
  author?: string;
  language?: string;
  /** Lines per page; a line starting with `# ` is set large (a heading). */
  pages: string[][];
  /** URI link annotations, by page index. */
  links?: { page: number; url: string }[];
  /** Adds an unreferenced stream of this many bytes: a large file that reads like a small one. */
  padBytes?: number;
}

export async function makePdf(spec: PdfSpec): Promise<Buffer> {
  const doc = await PDFDocument.create();
  if (spec.title) doc.setTitle(spec.title);
  if (spec.author) doc.setAuthor(spec.author);
  if (spec.language) doc.setLanguage(spec.language);
  doc.setCreationDate(new Date('2024-03-01T10:00:00Z'));
  const font = await doc.embedFont(StandardFonts.Helvetica);
  spec.pages.forEach((lines, n) => {
    const page = doc.addPage([600, 800]);
    let y = 740;
    for (const line of lines) {
      const heading = line.startsWith('# ');
      page.drawText(heading ? line.slice(2) : line, { x: 50, y, size: heading ? 24 : 12, font });
      y -= heading ? 40 : 20;
    }
    const annots = (spec.links ?? []).filter((l) => l.page === n).map((l, k) =>
      doc.context.register(doc.context.obj({ Type: 'Annot', Subtype: 'Link', Rect: [50, 100 + 20 * k, 250, 115 + 20 * k], Border: [0, 0, 0], A: { Type: 'Action', S: 'URI', URI: PDFString.of(l.url) } })));
    if (annots.length > 0) page.node.set(PDFName.of('Annots'), doc.context.obj(annots));
  });
  if (spec.padBytes) doc.context.register(doc.context.stream(new Uint8Array(spec.padBytes).fill(0x20)));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** A PDF of `pages` pages with one line of text each. */
export async function makeLongPdf(pages: number): Promise<Buffer> {
  return makePdf({ pages: Array.from({ length: pages }, (_, i) => [`Page ${i + 1}`]) });
}

/** A PDF whose pages have no text (as a scan without OCR has none). */
export async function makeImageOnlyPdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([600, 800]);
  page.drawRectangle({ x: 50, y: 50, width: 400, height: 600 });
  return Buffer.from(await doc.save());
}

/**
 * A PDF encrypted with a user password (Standard security handler, RC4 40-bit): the /Encrypt
 * dictionary's U entry matches no empty password, so a reader needs the password.
 */
export async function makeEncryptedPdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  doc.addPage([600, 800]);
  const pad = '28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A';
  const encrypt = doc.context.register(doc.context.obj({
    Filter: 'Standard', V: 1, R: 2, Length: 40, P: -4,
    O: PDFHexString.of(pad), U: PDFHexString.of('0'.repeat(64)),
  }));
  doc.context.trailerInfo.Encrypt = encrypt;
  doc.context.trailerInfo.ID = doc.context.obj([PDFHexString.of('00112233445566778899AABBCCDDEEFF'), PDFHexString.of('00112233445566778899AABBCCDDEEFF')]);
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** The first `fraction` of a PDF's bytes (a download cut short). */
export function truncate(body: Buffer, fraction = 0.4): Buffer {
  return body.subarray(0, Math.floor(body.length * fraction));
}

const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"';
const para = (inner: string, style?: string, num?: boolean): string =>
  `<w:p><w:pPr>${style ? `<w:pStyle w:val="${style}"/>` : ''}${num ? '<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>' : ''}</w:pPr>${inner}</w:p>`;
const run = (text: string, props = ''): string => `<w:r>${props ? `<w:rPr>${props}</w:rPr>` : ''}<w:t xml:space="preserve">${text}</w:t></w:r>`;

export interface DocxSpec {
  title?: string;
  author?: string;
  /** A hyperlink in the body. */
  link?: { url: string; text: string };
  /** Extra parts (name → content), e.g. a huge one for a ZIP bomb. */
  extraParts?: Record<string, string | Buffer>;
}

/** A Word document: Heading 1, a paragraph with bold and italic, a bulleted list, a 2×2 table, a hyperlink. */
export async function makeDocx(spec: DocxSpec = {}): Promise<Buffer> {
  const zip = new JSZip();
  zip.file('[Content_Types].xml', '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/word/numbering.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>');
  zip.file('_rels/.rels', '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>');
  zip.file('word/_rels/document.xml.rels', `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/numbering" Target="numbering.xml"/>${spec.link ? `<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="${spec.link.url}" TargetMode="External"/>` : ''}</Relationships>`);
  zip.file('word/styles.xml', `<?xml version="1.0" encoding="UTF-8"?><w:styles ${W}><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style><w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/></w:style><w:style w:type="paragraph" w:styleId="ListParagraph"><w:name w:val="List Paragraph"/></w:style></w:styles>`);
  zip.file('word/numbering.xml', `<?xml version="1.0" encoding="UTF-8"?><w:numbering ${W}><w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/><w:lvlText w:val="•"/></w:lvl></w:abstractNum><w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num></w:numbering>`);
  const cell = (t: string): string => `<w:tc>${para(run(t))}</w:tc>`;
  const body = [
    para(run('Annual Report'), 'Heading1'),
    para(run('This is ') + run('bold', '<w:b/>') + run(' and ') + run('italic', '<w:i/>') + run(' text.')),
    para(run('Findings'), 'Heading2'),
    para(run('First point'), 'ListParagraph', true),
    para(run('Second point'), 'ListParagraph', true),
    `<w:tbl><w:tr>${cell('Name')}${cell('Value')}</w:tr><w:tr>${cell('alpha')}${cell('1')}</w:tr></w:tbl>`,
    spec.link ? para(`<w:hyperlink r:id="rId9">${run(spec.link.text)}</w:hyperlink>`) : '',
  ].join('');
  zip.file('word/document.xml', `<?xml version="1.0" encoding="UTF-8"?><w:document ${W}><w:body>${body}</w:body></w:document>`);
  zip.file('docProps/core.xml', `<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">${spec.title ? `<dc:title>${spec.title}</dc:title>` : ''}${spec.author ? `<dc:creator>${spec.author}</dc:creator>` : ''}<dc:language>en-GB</dc:language><dcterms:created xsi:type="dcterms:W3CDTF">2024-02-01T08:00:00Z</dcterms:created></cp:coreProperties>`);
  for (const [name, content] of Object.entries(spec.extraParts ?? {})) zip.file(name, content);
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}

/**
 * A DOCX with a part of over `inflatedBytes` bytes: a few KiB on the wire, far more once
 * inflated. The part is a padding file of zeros, or the document body itself
 * (`word/document.xml`, padded with spaces inside an XML comment).
 */
export function makeZipBombDocx(inflatedBytes: number, part: 'word/media/padding.bin' | 'word/document.xml' = 'word/media/padding.bin'): Promise<Buffer> {
  if (part === 'word/media/padding.bin') return makeDocx({ extraParts: { [part]: Buffer.alloc(inflatedBytes) } });
  const head = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><w:document ${W}><w:body>${para(run('Bomb'))}<!--`);
  const tail = Buffer.from('--></w:body></w:document>');
  return makeDocx({ extraParts: { [part]: Buffer.concat([head, Buffer.alloc(inflatedBytes, 0x20), tail]) } });
}

/** Feeds whose items link to `base` + path. */
export const feeds = {
  rss2: (base: string, paths: string[]): string =>
    `<?xml version="1.0"?><rss version="2.0"><channel><title>News &amp; Notes</title><link>${base}/</link>${paths.map((p, i) => `<item><title>Story ${i + 1}</title><link>${base}${p}</link><pubDate>Tue, 05 Mar 2024 10:0${i}:00 GMT</pubDate></item>`).join('')}</channel></rss>`,
  rss1: (base: string, paths: string[]): string =>
    `<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="${base}/"><title>RDF Site</title><link>${base}/</link></channel>${paths.map((p, i) => `<item rdf:about="${base}${p}"><title>Entry ${i + 1}</title><link>${base}${p}</link><dc:date>2024-03-0${i + 1}T00:00:00Z</dc:date></item>`).join('')}</rdf:RDF>`,
  atom: (base: string, paths: string[]): string =>
    `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Atom Log</title><id>urn:x</id>${paths.map((p, i) => `<entry><title>Post ${i + 1}</title><link rel="self" href="${base}/self/${i}"/><link rel="alternate" href="${p}"/><id>urn:${i}</id><published>2024-03-0${i + 1}T12:00:00Z</published></entry>`).join('')}</feed>`,
  json: (base: string, paths: string[]): string =>
    JSON.stringify({ version: 'https://jsonfeed.org/version/1.1', title: 'JSON Journal', items: paths.map((p, i) => ({ id: String(i), url: `${base}${p}`, title: `Item ${i + 1}`, date_published: `2024-03-0${i + 1}T08:00:00Z` })) }),
  billionLaughs: (): string =>
    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, k) => `<!ENTITY lol${k + 1} "${`&lol${k === 0 ? '' : k};`.repeat(10)}">`).join('')}]><rss version="2.0"><channel><title>&lol9;</title><item><title>One</title><link>http://127.0.0.1/one</link></item></channel></rss>`,
};

/**
 * A PDF of `pages` pages written by hand (pdf-lib takes minutes for 100,000 pages): every
 * page shares one content stream ("Page text") and one font, so 100,000 pages are ~8 MB.
 */
export function makeHugePdf(pages: number): Buffer {
  const parts: string[] = ['%PDF-1.7\n'];
  const offsets: number[] = [];
  let at = parts[0]!.length;
  const add = (n: number, body: string): void => {
    offsets[n] = at;
    const obj = `${n} 0 obj\n${body}\nendobj\n`;
    parts.push(obj);
    at += Buffer.byteLength(obj);
  };
  const stream = 'BT /F1 12 Tf 50 700 Td (Page text) Tj ET';
  const kids: string[] = [];
  for (let i = 0; i < pages; i++) kids.push(`${5 + i} 0 R`);
  add(1, '<< /Type /Catalog /Pages 2 0 R >>');
  add(2, `<< /Type /Pages /Count ${pages} /Kids [${kids.join(' ')}] >>`);
  add(3, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  add(4, `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  for (let i = 0; i < pages; i++) add(5 + i, '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>');
  const count = pages + 5;
  const xref = [`xref\n0 ${count}\n`, '0000000000 65535 f \n'];
  for (let n = 1; n < count; n++) xref.push(`${String(offsets[n]).padStart(10, '0')} 00000 n \n`);
  parts.push(...xref, `trailer\n<< /Size ${count} /Root 1 0 R >>\nstartxref\n${at}\n%%EOF\n`);
  return Buffer.from(parts.join(''));
}
