import assert from 'node:assert/strict';
import { decodeHtml, sniffCharset } from '../../../services/extractor/charset.js';

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? ascii(p) : Buffer.from(p))));

const UTF8_BOM = [0xef, 0xbb, 0xbf];
const E_ACUTE_1252 = [0xe9];
const TESUTO_SJIS = [0x83, 0x65, 0x83, 0x58, 0x83, 0x67]; // テスト
const CHUUBUN_GBK = [0xd6, 0xd0, 0xce, 0xc4]; // 中文

describe('extractor charset', () => {
  describe('precedence', () => {
    it('BOM beats header and meta', () => {
      const body = bytes(UTF8_BOM, '<meta charset="windows-1252"><p>caf', [0xc3, 0xa9], '</p>');
      const { text, charset } = decodeHtml(body, 'text/html; charset=windows-1252');
      assert.equal(charset, 'utf-8');
      assert.equal(text, '<meta charset="windows-1252"><p>café</p>'); // BOM stripped, é from UTF-8
    });

    it('header beats meta', () => {
      const body = bytes('<meta charset="shift_jis"><p>caf', E_ACUTE_1252, '</p>');
      const { text, charset } = decodeHtml(body, 'text/html; charset=windows-1252');
      assert.equal(charset, 'windows-1252');
      assert.equal(text, '<meta charset="shift_jis"><p>café</p>');
    });

    it('meta beats the UTF-8 default', () => {
      assert.equal(sniffCharset(bytes('<meta charset="windows-1252">', E_ACUTE_1252), 'text/html'), 'windows-1252');
    });

    it('an unknown header label falls through to meta', () => {
      assert.equal(sniffCharset(bytes('<meta charset="shift_jis">'), 'text/html; charset=x-no-such'), 'shift_jis');
    });
  });

  describe('BOMs', () => {
    const cases: { name: string; body: Buffer; charset: string; text: string }[] = [
      { name: 'UTF-8', body: bytes(UTF8_BOM, 'hi'), charset: 'utf-8', text: 'hi' },
      { name: 'UTF-16LE', body: bytes([0xff, 0xfe, 0x68, 0x00, 0x69, 0x00]), charset: 'utf-16le', text: 'hi' },
      { name: 'UTF-16BE', body: bytes([0xfe, 0xff, 0x00, 0x68, 0x00, 0x69]), charset: 'utf-16be', text: 'hi' },
    ];
    for (const c of cases) {
      it(`detects a ${c.name} BOM and strips it`, () => {
        assert.deepEqual(decodeHtml(c.body, 'text/html; charset=iso-8859-1'), { text: c.text, charset: c.charset });
      });
    }
  });

  describe('header', () => {
    it('charset=windows-1252 decodes 0xE9 as é', () => {
      assert.deepEqual(decodeHtml(bytes('caf', E_ACUTE_1252), 'text/html; charset=windows-1252'), { text: 'café', charset: 'windows-1252' });
    });

    // Regression (fixed): Node >= 20.18.3 TextDecoder('windows-1252') decodes 0x80-0x9F as C1 controls (nodejs/node#60888), so decodeHtml(Buffer.from([0x80]), 'text/html; charset=windows-1252').text is '\x80', not '€'.
    it('0x80 in windows-1252 is the euro sign', () => {
      assert.equal(decodeHtml(bytes([0x80]), 'text/html; charset=windows-1252').text, '€');
    });

    const labels: [string, string][] = [
      ['text/html; charset=ISO-8859-1', 'windows-1252'], // WHATWG maps latin1 to windows-1252
      ['text/html; charset="utf-8"', 'utf-8'],
      ["text/html; charset='Shift_JIS'", 'shift_jis'],
      ['text/html;charset=GBK', 'gbk'],
      ['text/html; CHARSET = koi8-r', 'koi8-r'],
      ['text/html', 'utf-8'],
    ];
    for (const [header, charset] of labels) {
      it(`${JSON.stringify(header)} → ${charset}`, () => {
        assert.equal(sniffCharset(Buffer.alloc(0), header), charset);
      });
    }
  });

  describe('meta', () => {
    it('<meta charset="shift_jis"> decodes Japanese', () => {
      const body = bytes('<html><head><meta charset="shift_jis"></head><body>', TESUTO_SJIS, '</body></html>');
      const { text, charset } = decodeHtml(body, 'text/html');
      assert.equal(charset, 'shift_jis');
      assert.equal(text, '<html><head><meta charset="shift_jis"></head><body>テスト</body></html>');
    });

    it('the http-equiv form with charset=gbk decodes Chinese', () => {
      const body = bytes('<meta http-equiv="Content-Type" content="text/html; charset=gbk"><p>', CHUUBUN_GBK, '</p>');
      const { text, charset } = decodeHtml(body, undefined);
      assert.equal(charset, 'gbk');
      assert.equal(text, '<meta http-equiv="Content-Type" content="text/html; charset=gbk"><p>中文</p>');
    });

    const forms: [string, string][] = [
      ['<META CHARSET=windows-1252>', 'windows-1252'],
      ["<meta charset='euc-jp'>", 'euc-jp'],
      ['<meta name="viewport" content="width=device-width"><meta charset = "Big5">', 'big5'],
    ];
    for (const [meta, charset] of forms) {
      it(`${meta} → ${charset}`, () => {
        assert.equal(sniffCharset(bytes(meta), undefined), charset);
      });
    }

    it('ignores a meta that starts after the first 1024 bytes', () => {
      const body = bytes(' '.repeat(1024), '<meta charset="windows-1252">', E_ACUTE_1252);
      const { text, charset } = decodeHtml(body, undefined);
      assert.equal(charset, 'utf-8');
      assert.ok(text.endsWith('\ufffd'));
    });

    it('reads a meta that ends within the first 1024 bytes', () => {
      const meta = '<meta charset="windows-1252">';
      assert.equal(sniffCharset(bytes(' '.repeat(1024 - meta.length), meta), undefined), 'windows-1252');
    });

    // Regression (fixed): per the WHATWG prescan, a <meta> naming UTF-16 means UTF-8 (the bytes were already read as ASCII); here an ASCII page with <meta charset="utf-16"> is decoded as UTF-16LE into garbage.
    it('treats a meta charset of utf-16 as utf-8', () => {
      const body = bytes('<meta charset="utf-16"><a href="/x">x</a>');
      assert.equal(decodeHtml(body, undefined).text, '<meta charset="utf-16"><a href="/x">x</a>');
    });
  });

  describe('fallbacks', () => {
    it('falls back to UTF-8 for an unknown meta label', () => {
      assert.deepEqual(decodeHtml(bytes('<meta charset="x-bogus">caf', [0xc3, 0xa9]), undefined), { text: '<meta charset="x-bogus">café', charset: 'utf-8' });
    });

    it('falls back to UTF-8 with no declaration at all', () => {
      assert.deepEqual(decodeHtml(Buffer.from('日本語', 'utf8'), undefined), { text: '日本語', charset: 'utf-8' });
    });

    it('turns undecodable bytes into U+FFFD instead of throwing', () => {
      assert.equal(decodeHtml(bytes('a', [0xfe, 0xfd], 'b'), 'text/html; charset=utf-8').text, 'a\ufffd\ufffdb');
    });

    it('decodes an empty body', () => {
      assert.deepEqual(decodeHtml(Buffer.alloc(0), undefined), { text: '', charset: 'utf-8' });
    });
  });
});
