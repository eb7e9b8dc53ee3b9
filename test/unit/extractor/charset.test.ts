import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import htmlEncodingSniffer from 'html-encoding-sniffer';
import { decodeHtml, detectorSample, sniffCharset } from '../../../services/extractor/charset.js';
import { parsePage } from '../../../services/extractor/parse.js';
import { packageRoot } from '../../../shared/paths.js';

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? ascii(p) : Buffer.from(p))));

const UTF8_BOM = [0xef, 0xbb, 0xbf];
const E_ACUTE_1252 = [0xe9];
const TESUTO_SJIS = [0x83, 0x65, 0x83, 0x58, 0x83, 0x67]; // テスト
const CHUUBUN_GBK = [0xd6, 0xd0, 0xce, 0xc4]; // 中文

/** windows-1251 bytes of Cyrillic text (А–я are 0xC0–0xFF, ё is 0xB8). */
function cp1251(text: string): number[] {
  return Array.from(text, (c) => {
    const cp = c.codePointAt(0) as number;
    if (cp >= 0x410 && cp <= 0x44f) return cp - 0x410 + 0xc0;
    if (cp === 0x451) return 0xb8;
    assert.ok(cp < 0x80, `no windows-1251 byte for ${c} in this helper`);
    return cp;
  });
}

interface EncodingCase {
  file: string;
  index: number;
  data: string;
  encoding: string;
}

describe('extractor charset', () => {
  describe('html5lib-tests encoding cases (test/fixtures/html5lib-encoding.json)', () => {
    const fixture = JSON.parse(readFileSync(join(packageRoot, 'test', 'fixtures', 'html5lib-encoding.json'), 'utf8')) as { cases: EncodingCase[] };

    it('holds the 82 cases of tests1.dat, tests2.dat and test-yahoo-jp.dat', () => {
      assert.equal(fixture.cases.length, 82);
      assert.deepEqual(
        [...new Set(fixture.cases.map((c) => c.file))],
        ['encoding/tests1.dat', 'encoding/tests2.dat', 'encoding/test-yahoo-jp.dat'],
      );
    });

    // Their <meta> starts past the first 1,024 bytes: the prescan misses it, the parser finds it
    // ("changing the encoding while parsing").
    const pastPrescan = new Set([47, 48, 49, 50, 51, 52, 53].map((i) => `encoding/tests1.dat#${i}`));

    for (const c of fixture.cases) {
      const firstLine = JSON.stringify(c.data.slice(0, 60).split('\n').slice(0, 3).join('⏎'));
      it(`${c.file} #${c.index} → ${c.encoding}: ${firstLine}`, () => {
        const got = sniffCharset(ascii(c.data), undefined);
        if (pastPrescan.has(`${c.file}#${c.index}`)) {
          assert.ok(c.data.indexOf('<meta charset="iso8859-2">') > 1024);
          assert.equal(htmlEncodingSniffer(ascii(c.data), { defaultEncoding: 'none' }), 'none');
          assert.deepEqual(got, { charset: c.encoding, source: 'meta' });
        } else if (c.data.startsWith('\xef\xbb\xbf')) {
          assert.deepEqual(got, { charset: c.encoding, source: 'bom' });
        } else if (c.encoding === 'windows-1252' && got.source !== 'meta') {
          // The suite's windows-1252 is the standard's default when nothing is declared. These
          // bodies are ASCII, so our default (UTF-8) gives the same text; what matters is that
          // the prescan found no declaration.
          assert.equal(got.source, 'default');
          assert.equal(got.charset, 'utf-8');
        } else {
          assert.deepEqual(got, { charset: c.encoding, source: 'meta' });
        }
      });
    }
  });

  describe('precedence', () => {
    it('BOM beats header and meta', () => {
      const body = bytes(UTF8_BOM, '<meta charset="windows-1252"><p>caf', [0xc3, 0xa9], '</p>');
      const { text, charset, source } = decodeHtml(body, 'text/html; charset=windows-1252');
      assert.deepEqual({ charset, source }, { charset: 'utf-8', source: 'bom' });
      assert.equal(text, '<meta charset="windows-1252"><p>café</p>'); // BOM stripped, é from UTF-8
    });

    it('header beats meta', () => {
      const body = bytes('<meta charset="shift_jis"><p>caf', E_ACUTE_1252, '</p>');
      assert.deepEqual(decodeHtml(body, 'text/html; charset=windows-1252'), { text: '<meta charset="shift_jis"><p>café</p>', charset: 'windows-1252', source: 'header' });
    });

    it('meta beats detection', () => {
      assert.deepEqual(sniffCharset(bytes('<meta charset="windows-1252">', E_ACUTE_1252), 'text/html'), { charset: 'windows-1252', source: 'meta' });
    });

    it('an unknown header label falls through to meta', () => {
      assert.deepEqual(sniffCharset(bytes('<meta charset="shift_jis">'), 'text/html; charset=x-no-such'), { charset: 'shift_jis', source: 'meta' });
    });
  });

  describe('BOMs', () => {
    const cases: { name: string; body: Buffer; charset: string; text: string }[] = [
      { name: 'UTF-8', body: bytes(UTF8_BOM, 'hi'), charset: 'utf-8', text: 'hi' },
      { name: 'UTF-16LE', body: bytes([0xff, 0xfe, 0x68, 0x00, 0x69, 0x00]), charset: 'utf-16le', text: 'hi' },
      { name: 'UTF-16BE', body: bytes([0xfe, 0xff, 0x00, 0x68, 0x00, 0x69]), charset: 'utf-16be', text: 'hi' },
    ];
    for (const c of cases) {
      it(`detects a ${c.name} BOM, beats the header and strips it`, () => {
        assert.deepEqual(decodeHtml(c.body, 'text/html; charset=iso-8859-1'), { text: c.text, charset: c.charset, source: 'bom' });
      });
    }

    it('a UTF-16LE BOM beats a <meta> naming windows-1252', () => {
      const body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<meta charset="windows-1252">é', 'utf16le')]);
      assert.deepEqual(decodeHtml(body, undefined), { text: '<meta charset="windows-1252">é', charset: 'utf-16le', source: 'bom' });
    });
  });

  describe('header', () => {
    it('charset=windows-1252 decodes 0xE9 as é', () => {
      assert.deepEqual(decodeHtml(bytes('caf', E_ACUTE_1252), 'text/html; charset=windows-1252'), { text: 'café', charset: 'windows-1252', source: 'header' });
    });

    // Regression (fixed): Node >= 20.18.3 TextDecoder('windows-1252') decodes 0x80-0x9F as C1 controls (nodejs/node#60888), so decodeHtml(Buffer.from([0x80]), 'text/html; charset=windows-1252').text is '\x80', not '€'.
    it('0x80-0x9F in windows-1252 are the Encoding Standard code points (€ ‚ … Ÿ)', () => {
      assert.equal(decodeHtml(bytes([0x80, 0x82, 0x85, 0x9f]), 'text/html; charset=windows-1252').text, '€‚…Ÿ');
    });

    it('x-user-defined from the header decodes 0x80-0xFF into U+F780-U+F7FF', () => {
      assert.deepEqual(decodeHtml(bytes('a', [0x80, 0xff]), 'text/html; charset=x-user-defined'), { text: 'a\uf780\uf7ff', charset: 'x-user-defined', source: 'header' });
    });

    const labels: [string, string][] = [
      ['text/html; charset=ISO-8859-1', 'windows-1252'], // the Encoding Standard maps latin1 to windows-1252
      ['text/html; charset="utf-8"', 'utf-8'],
      ["text/html; charset='Shift_JIS'", 'shift_jis'],
      ['text/html;charset=GBK', 'gbk'],
      ['text/html; CHARSET = koi8-r', 'koi8-r'],
      ['text/html; charset=utf8; foo=bar', 'utf-8'],
      ['text/html; charset=unicode-1-1-utf-8', 'utf-8'],
    ];
    for (const [header, charset] of labels) {
      it(`${JSON.stringify(header)} → ${charset}`, () => {
        assert.deepEqual(sniffCharset(Buffer.alloc(0), header), { charset, source: 'header' });
      });
    }

    for (const header of ['text/html', 'text/html; charset=', 'text/html; charset=bogus', 'text/html; charset=replacement', 'text/html; xcharset=utf-16']) {
      it(`${JSON.stringify(header)} declares nothing`, () => {
        assert.deepEqual(sniffCharset(bytes('<p>hi</p>'), header), { charset: 'utf-8', source: 'default' });
      });
    }
  });

  describe('meta (the HTML Standard prescan)', () => {
    it('<meta charset="shift_jis"> decodes Japanese', () => {
      const body = bytes('<html><head><meta charset="shift_jis"></head><body>', TESUTO_SJIS, '</body></html>');
      assert.deepEqual(decodeHtml(body, 'text/html'), { text: '<html><head><meta charset="shift_jis"></head><body>テスト</body></html>', charset: 'shift_jis', source: 'meta' });
    });

    it('the http-equiv form with charset=gbk decodes Chinese', () => {
      const body = bytes('<meta http-equiv="Content-Type" content="text/html; charset=gbk"><p>', CHUUBUN_GBK, '</p>');
      const { text, charset, source } = decodeHtml(body, undefined);
      assert.deepEqual({ charset, source }, { charset: 'gbk', source: 'meta' });
      assert.equal(text, '<meta http-equiv="Content-Type" content="text/html; charset=gbk"><p>中文</p>');
    });

    it('a windows-1251 page whose real <meta> follows a commented-out one', () => {
      const russian = 'Привет, мир';
      const body = bytes('<!doctype html><head><!-- <meta charset="koi8-r"> --><meta charset="windows-1251"></head><p>', cp1251(russian), '</p>');
      const { text, charset, source } = decodeHtml(body, 'text/html');
      assert.deepEqual({ charset, source }, { charset: 'windows-1251', source: 'meta' });
      assert.ok(text.endsWith(`<p>${russian}</p>`), text);
    });

    it('a bogus label is passed over for the next <meta>', () => {
      assert.deepEqual(sniffCharset(bytes('<meta charset="x-bogus"><meta charset="windows-1251">'), undefined), { charset: 'windows-1251', source: 'meta' });
    });

    it('content="…charset=…" without http-equiv declares nothing', () => {
      assert.deepEqual(sniffCharset(bytes('<meta content="text/html; charset=koi8-r">'), undefined), { charset: 'utf-8', source: 'default' });
    });

    // html-encoding-sniffer 6 throws on these (jsdom/html-encoding-sniffer#26).
    for (const content of ['text/html; charset', 'charset=', 'charset = ', 'charset  ']) {
      it(`content=${JSON.stringify(content)} declares nothing and the next <meta> counts`, () => {
        const meta = `<meta http-equiv="content-type" content="${content}">`;
        assert.deepEqual(sniffCharset(bytes(meta, '<p>hi'), undefined), { charset: 'utf-8', source: 'default' });
        assert.deepEqual(sniffCharset(bytes(meta, '<meta charset="koi8-r">'), undefined), { charset: 'koi8-r', source: 'meta' });
      });
    }

    const forms: [string, string][] = [
      ['<META CHARSET=windows-1252>', 'windows-1252'],
      ["<meta charset='euc-jp'>", 'euc-jp'],
      ['<meta name="viewport" content="width=device-width"><meta charset = "Big5">', 'big5'],
      ['<meta charset="x-user-defined">', 'windows-1252'],
      ['<meta charset="utf-16be">', 'utf-8'],
    ];
    for (const [meta, charset] of forms) {
      it(`${meta} → ${charset}`, () => {
        assert.deepEqual(sniffCharset(bytes(meta), undefined), { charset, source: 'meta' });
      });
    }

    it('a meta past the first 1024 bytes is found by the parser', () => {
      const body = bytes('<head><script>', 'var x = 1;\n'.repeat(100), '</script><meta charset="koi8-r"><p>', [0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]);
      assert.deepEqual(decodeHtml(body, undefined), { text: `${body.subarray(0, -6).toString('latin1')}Привет`, charset: 'koi8-r', source: 'meta' });
    });

    it('the parser finds a late http-equiv meta with its content', () => {
      const body = bytes('<!--', '-'.repeat(2000), '--><meta content="text/html; charset=\'windows-1251\'" http-equiv=Content-Type>');
      assert.deepEqual(sniffCharset(body, undefined), { charset: 'windows-1251', source: 'meta' });
    });

    it('a late meta inside a script, a comment or an attribute value does not count', () => {
      const body = bytes(' '.repeat(1024), '<script>document.write(\'<meta charset="koi8-r">\')</script><!-- <meta charset="koi8-r"> --><p title=\'<meta charset="koi8-r">\'>caf', [0xc3, 0xa9]);
      assert.deepEqual(sniffCharset(body, undefined), { charset: 'utf-8', source: 'detected' });
    });

    it('a late bogus label is passed over for the next meta, and UTF-16 becomes UTF-8', () => {
      assert.deepEqual(sniffCharset(bytes(' '.repeat(1024), '<meta charset="x-bogus"><meta charset="windows-1250">'), undefined), { charset: 'windows-1250', source: 'meta' });
      assert.deepEqual(sniffCharset(bytes(' '.repeat(1024), '<meta charset="utf-16le">'), undefined), { charset: 'utf-8', source: 'meta' });
    });

    it('a late http-equiv other than content-type, or content without charset=, declares nothing', () => {
      const body = bytes(' '.repeat(1024), '<meta http-equiv="refresh" content="0; charset=koi8-r"><meta http-equiv="content-type" content="text/html; charset">');
      assert.deepEqual(sniffCharset(body, undefined), { charset: 'utf-8', source: 'default' });
    });

    it('reads a meta that ends within the first 1024 bytes', () => {
      const meta = '<meta charset="windows-1252">';
      assert.deepEqual(sniffCharset(bytes(' '.repeat(1024 - meta.length), meta), undefined), { charset: 'windows-1252', source: 'meta' });
    });

    // Regression (fixed): per the WHATWG prescan, a <meta> naming UTF-16 means UTF-8 (the bytes were already read as ASCII); here an ASCII page with <meta charset="utf-16"> is decoded as UTF-16LE into garbage.
    it('treats a meta charset of utf-16 as utf-8', () => {
      const body = bytes('<meta charset="utf-16"><a href="/x">x</a>');
      assert.deepEqual(decodeHtml(body, undefined), { text: '<meta charset="utf-16"><a href="/x">x</a>', charset: 'utf-8', source: 'meta' });
    });
  });

  describe('nothing declared', () => {
    it('valid UTF-8 bytes with non-ASCII characters are UTF-8, detected', () => {
      assert.deepEqual(decodeHtml(Buffer.from('<p>日本語 café</p>', 'utf8'), undefined), { text: '<p>日本語 café</p>', charset: 'utf-8', source: 'detected' });
    });

    it('valid UTF-8 cut inside its last character (a byte cap) is still UTF-8', () => {
      const full = Buffer.from('<p>café 日本', 'utf8');
      const { charset, source, text } = decodeHtml(full.subarray(0, full.length - 1), 'text/html');
      assert.deepEqual({ charset, source }, { charset: 'utf-8', source: 'detected' });
      assert.equal(text, '<p>café 日\ufffd');
    });

    it('ASCII-only bytes are UTF-8 by default', () => {
      assert.deepEqual(decodeHtml(bytes('<p>plain</p>'), undefined), { text: '<p>plain</p>', charset: 'utf-8', source: 'default' });
    });

    it('an empty body is UTF-8 by default', () => {
      assert.deepEqual(decodeHtml(Buffer.alloc(0), undefined), { text: '', charset: 'utf-8', source: 'default' });
    });

    it('a bogus meta label on UTF-8 bytes: UTF-8, detected', () => {
      assert.deepEqual(decodeHtml(bytes('<meta charset="x-bogus">caf', [0xc3, 0xa9]), undefined), { text: '<meta charset="x-bogus">café', charset: 'utf-8', source: 'detected' });
    });

    it('caf\\xe9 na\\xefve (too short for the detector to decide) → windows-1252 by default, accents right', () => {
      assert.deepEqual(decodeHtml(bytes('caf', [0xe9], ' na', [0xef], 've'), undefined), { text: 'café naïve', charset: 'windows-1252', source: 'default' });
    });

    it('a German windows-1252 page → windows-1252, detected, accents right', () => {
      const german = 'Größere Übungen für Schüler: Die Straße führt über die Brücke. '.repeat(3);
      const body = Buffer.concat([bytes('<!doctype html><title>t</title><p>'), Buffer.from(german, 'latin1'), bytes('</p>')]);
      const { text, charset, source } = decodeHtml(body, 'text/html');
      assert.deepEqual({ charset, source }, { charset: 'windows-1252', source: 'detected' });
      assert.ok(text.includes(german));
    });

    it('an undeclared windows-1251 page → windows-1251, detected', () => {
      const russian = 'Это тестовая страница на русском языке. Погода в Москве сегодня хорошая. ';
      const body = bytes('<!doctype html><title>t</title><p>', cp1251(russian.repeat(3)), '</p>');
      const { text, charset, source } = decodeHtml(body, undefined);
      assert.deepEqual({ charset, source }, { charset: 'windows-1251', source: 'detected' });
      assert.ok(text.includes(russian));
    });

    it('an undeclared Shift_JIS page → shift_jis, detected', () => {
      const body = bytes('<p>', [...TESUTO_SJIS, ...TESUTO_SJIS, ...TESUTO_SJIS, ...TESUTO_SJIS], '</p>');
      assert.deepEqual(decodeHtml(body, undefined), { text: '<p>テストテストテストテスト</p>', charset: 'shift_jis', source: 'detected' });
    });

    it('the detector reads only the first 64 KiB', () => {
      // The first 64 KiB are Shift_JIS; far more windows-1251 follows, which decides when read.
      const sjis = Buffer.from(Array.from({ length: 200 }, () => TESUTO_SJIS).flat());
      const russian = Buffer.from(cp1251('Это тестовая страница на русском языке. '.repeat(2_000)));
      const body = Buffer.concat([Buffer.alloc(64 * 1024 - sjis.length, 0x20), sjis, russian]);
      assert.deepEqual(sniffCharset(body.subarray(64 * 1024 - sjis.length), undefined), { charset: 'windows-1251', source: 'detected' });
      assert.deepEqual(sniffCharset(body, undefined), { charset: 'shift_jis', source: 'detected' });
    });
  });

  describe('the detector sample', () => {
    const cases: [string, string, string][] = [
      ['tags become spaces, text bytes stay', '<p class="x">caf\xe9</p>', ' caf\xe9 '],
      ['scripts, styles and comments go whole', 'a<SCRIPT>var s = "<p>\xe9";</script>b<style>p{}</style >c<!-- <p>\xe9 -->d', 'a b c d'],
      ['an unclosed script ends the text', 'a<script>\xe9\xe9', 'a '],
      ['an unclosed comment ends the text', 'a<!-- \xe9', 'a '],
      ['an unclosed tag is kept', 'a<p \xe9', 'a<p \xe9'],
      ['text without markup is kept', 'na\xefve', 'na\xefve'],
    ];
    for (const [name, html, text] of cases) {
      it(name, () => assert.equal(detectorSample(ascii(html)).toString('latin1'), text));
    }

    it('reads the first 64 KiB only', () => {
      assert.equal(detectorSample(Buffer.alloc(100_000, 0xe9)).length, 64 * 1024);
    });

    it('takes one pass over pathological markup', () => {
      const start = process.hrtime.bigint();
      for (const unit of ['<script', '<!--', '<style<', '<a']) detectorSample(ascii(unit.repeat(20_000)));
      for (const unit of ['<meta ', '<meta>', '<meta x=">']) sniffCharset(ascii(`${unit.repeat(50_000)}\xe9`), undefined);
      assert.ok(Number(process.hrtime.bigint() - start) / 1e6 < 1000);
    });
  });

  describe('the parsed page', () => {
    const body = bytes('<!doctype html><title>Caf', [0xe9], ' na', [0xef], 've</title><a href="/d', [0xe9], 'j', [0xe0], '">x</a>');
    const fieldSets: Record<string, string>[] = [{}, { heading: 'title' }];
    for (const fields of fieldSets) {
      it(`says the charset and how it was found (${Object.keys(fields).length ? 'cheerio' : 'streaming'} path)`, () => {
        const page = parsePage(body, 'text/html', 'http://127.0.0.1/', fields, { followNofollow: false, maxLinks: 10 });
        assert.equal(page.charset, 'windows-1252');
        assert.equal(page.charsetSource, 'default');
        assert.equal(page.title, 'Café naïve');
        assert.deepEqual(page.links, ['http://127.0.0.1/d%C3%A9j%C3%A0']);
      });
    }
  });

  describe('errors', () => {
    it('turns undecodable bytes into U+FFFD instead of throwing', () => {
      assert.equal(decodeHtml(bytes('a', [0xfe, 0xfd], 'b'), 'text/html; charset=utf-8').text, 'a\ufffd\ufffdb');
    });
  });
});
