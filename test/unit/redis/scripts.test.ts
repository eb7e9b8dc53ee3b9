import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { luaDir } from '../../../shared/paths.js';
import { commandName, scriptSources } from '../../../shared/redis/scripts.js';

/** The leading comment of a Lua file: a `--[[ ... ]]` block or consecutive `--` lines. */
function leadingComment(text: string): string {
  const block = /^\s*--\[\[([\s\S]*?)\]\]/.exec(text);
  if (block) return block[1] as string;
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('--')) break;
    lines.push(line);
  }
  return lines.join('\n');
}

const files = readdirSync(luaDir).filter((f) => f.endsWith('.lua')).sort();

describe('redis Lua scripts', () => {
  it('finds the script files', () => {
    assert.ok(files.length >= 10, `only ${files.length} scripts in ${luaDir}`);
    assert.ok(files.includes('claim-3.lua'));
  });

  it('loads one source per file, in file order', () => {
    const sources = scriptSources();
    assert.deepEqual(sources.map((s) => `${s.name}-${s.numberOfKeys}.lua`), files);
  });

  describe('each file', () => {
    for (const file of files) {
      describe(file, () => {
        const raw = readFileSync(join(luaDir, file), 'utf8');

        it('is named <name>-<numKeys>.lua', () => {
          assert.match(file, /^[a-z][a-z-]*-\d+\.lua$/);
        });

        it('documents each of its KEYS in the header comment', () => {
          const m = /^(.*)-(\d+)\.lua$/.exec(file);
          assert.ok(m);
          const numKeys = Number(m[2]);
          const header = leadingComment(raw);
          assert.ok(header.length > 0, 'no header comment');
          for (let i = 1; i <= numKeys; i++) assert.ok(header.includes(`KEYS[${i}]`), `KEYS[${i}] not documented`);
          assert.ok(!header.includes(`KEYS[${numKeys + 1}]`), `documents KEYS[${numKeys + 1}] beyond numKeys ${numKeys}`);
          assert.match(header, /Returns/, 'reply not documented');
        });

        it('uses no KEYS beyond its numKeys', () => {
          const numKeys = Number(/-(\d+)\.lua$/.exec(file)?.[1]);
          const source = scriptSources().find((s) => `${s.name}-${s.numberOfKeys}.lua` === file);
          assert.ok(source);
          for (const m of source.lua.matchAll(/KEYS\[(\d+)\]/g)) assert.ok(Number(m[1]) <= numKeys, `uses KEYS[${m[1]}]`);
        });
      });
    }
  });

  describe('includes', () => {
    const sources = scriptSources();

    it('leaves no @include line', () => {
      for (const s of sources) assert.ok(!/--- @include/.test(s.lua), s.name);
    });

    it('inlines the ledger functions where the ledger is included', () => {
      for (const file of files) {
        const raw = readFileSync(join(luaDir, file), 'utf8');
        if (!raw.includes('--- @include "includes/ledger"')) continue;
        const source = sources.find((s) => `${s.name}-${s.numberOfKeys}.lua` === file);
        assert.ok(source);
        for (const fn of ['local function nowMs', 'local function parseTask', 'local function packTask', 'local function isTerminal']) {
          assert.ok(source.lua.includes(fn), `${file} lacks ${fn}`);
        }
      }
    });

    it('inlines each include once, ledger before admit', () => {
      const admit = sources.find((s) => s.name === 'admit');
      assert.ok(admit);
      assert.equal(admit.lua.split('local function parseTask').length - 1, 1);
      assert.equal(admit.lua.split('local function admitOne').length - 1, 1);
      assert.ok(admit.lua.indexOf('local function packTask') < admit.lua.indexOf('local function admitOne'));
    });

    it('defines every function a script calls from an include', () => {
      for (const s of sources) {
        for (const fn of ['parseTask', 'packTask', 'isTerminal', 'nowMs', 'openAdmission', 'admitOne', 'closeAdmission', 'completeIfDone']) {
          if (new RegExp(`\\b${fn}\\(`).test(s.lua)) assert.ok(s.lua.includes(`local function ${fn}(`), `${s.name} calls ${fn} without defining it`);
        }
      }
    });

    it('keeps scripts without includes unchanged', () => {
      const gate = sources.find((s) => s.name === 'host-acquire');
      assert.ok(gate);
      assert.equal(gate.numberOfKeys, 3);
      assert.equal(gate.lua, readFileSync(join(luaDir, 'host-acquire-3.lua'), 'utf8'));
    });
  });

  describe('commandName', () => {
    const cases: [string, string][] = [
      ['expired-leases', 'expiredLeases'],
      ['confirm-queued', 'confirmQueued'],
      ['host-acquire', 'hostAcquire'],
      ['expire-session', 'expireSession'],
      ['claim', 'claim'],
    ];
    for (const [name, expected] of cases) {
      it(`${name} → ${expected}`, () => {
        assert.equal(commandName(name), expected);
      });
    }
  });
});

describe('typed script calls', () => {
  it('shared/redis/commands.ts is the only caller of callScript', async () => {
    const { readdirSync, readFileSync, statSync } = await import('node:fs');
    const { join, relative } = await import('node:path');
    const { packageRoot } = await import('../../../shared/paths.js');
    const callers: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith('.ts') && /\bcallScript\(/.test(readFileSync(path, 'utf8'))) callers.push(relative(packageRoot, path));
      }
    };
    for (const top of ['shared', 'services', 'scripts', 'cli', 'bench']) walk(join(packageRoot, top));
    assert.deepEqual(callers.sort(), ['shared/redis/commands.ts', 'shared/redis/scripts.ts']);
  });
});
