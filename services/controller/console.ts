/**
 * The web console (console/, built by Vite into dist/console-ui by `npm run build`): the
 * page at `/` and its assets under `/console/`. They are static and need no token (the
 * console asks for it on its login form and sends it as a bearer header to the API); every
 * API route keeps its check (security.ts). The answers carry a Content-Security-Policy that
 * allows scripts, styles and connections to this origin only, so a crawled page's text shown
 * in the console (titles, Markdown previews) can never run or load anything.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { packageRoot } from '../../shared/paths.js';

export const CONSOLE_PREFIX = '/console/';
/** Where `npm run build` puts the console (vite.config.ts: build.outDir). */
export const CONSOLE_DIR = join(packageRoot, 'dist', 'console-ui');

export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** True for the console's page and assets: answered without a token, before the readiness check. */
export function isConsolePath(path: string): boolean {
  return path === '/' || path === '/console' || path.startsWith(CONSOLE_PREFIX);
}

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Serves the console from `dir` (default the built one); without a build `/` says how to make it. */
export async function registerConsole(app: FastifyInstance, dir: string = CONSOLE_DIR): Promise<void> {
  const built = existsSync(join(dir, 'index.html'));
  const index = (reply: FastifyReply): FastifyReply => {
    reply.headers(SECURITY_HEADERS);
    if (!built) return reply.code(404).type('text/plain; charset=utf-8').send(`the web console is not built (${dir}): run npm run build\n`);
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html', dir, { cacheControl: false });
  };
  if (built) {
    await app.register(fastifyStatic, {
      root: dir,
      prefix: CONSOLE_PREFIX,
      index: false,
      // Assets have content hashes in their names (Vite): cached for good. index.html is
      // answered by `index` below, revalidated every time.
      maxAge: 365 * 24 * 3600 * 1000,
      immutable: true,
      setHeaders: (res) => {
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
      },
    });
  } else {
    app.get(`${CONSOLE_PREFIX}*`, { schema: { hide: true } }, async (_req, reply) => index(reply));
  }
  app.get('/', { schema: { hide: true } }, async (_req, reply) => index(reply));
  app.get('/console', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/', 302));
}
