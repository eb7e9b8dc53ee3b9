/**
 * Lua scripts are files: `shared/redis/lua/<name>-<numKeys>.lua`, each with a header that
 * documents KEYS, ARGV and the reply. `--- @include "includes/x"` lines are replaced by
 * the named file, so shared pieces of the ledger live once. Scripts are read once per
 * process and defined on each client with ioredis' defineCommand (EVALSHA, falling back
 * to EVAL after a Redis restart flushed the script cache).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { luaDir } from '../paths.js';

export interface ScriptSource {
  name: string;
  numberOfKeys: number;
  lua: string;
}

const INCLUDE = /^--- @include "([\w/-]+)"\s*$/gm;

function expand(text: string, seen: Set<string>): string {
  return text.replace(INCLUDE, (_line, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return expand(readFileSync(join(luaDir, `${name}.lua`), 'utf8'), seen);
  });
}

let cache: ScriptSource[] | null = null;

/** Every script, with includes expanded. */
export function scriptSources(): ScriptSource[] {
  if (cache) return cache;
  cache = readdirSync(luaDir)
    .filter((f) => f.endsWith('.lua'))
    .sort()
    .map((file) => {
      const m = /^([a-z][a-z-]*)-(\d+)\.lua$/.exec(file);
      if (!m) throw new Error(`Lua script ${file} is not named <name>-<numKeys>.lua`);
      return { name: m[1] as string, numberOfKeys: Number(m[2]), lua: expand(readFileSync(join(luaDir, file), 'utf8'), new Set()) };
    });
  return cache;
}

/** camelCase command name of a script: `expired-leases` → `expiredLeases`. */
export function commandName(script: string): string {
  return script.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

const defined = new WeakSet<Redis>();

/** Defines every script on a client (idempotent). */
export function defineScripts(client: Redis): void {
  if (defined.has(client)) return;
  for (const s of scriptSources()) {
    client.defineCommand(commandName(s.name), { numberOfKeys: s.numberOfKeys, lua: s.lua });
  }
  defined.add(client);
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/** Calls a defined script by file name, with its keys then its arguments. */
export function callScript(client: Redis, name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  defineScripts(client);
  const fn = (client as unknown as Record<string, ScriptFn>)[commandName(name)];
  if (!fn) throw new Error(`no Lua script named ${name}`);
  return fn.call(client, ...keys, ...args);
}
