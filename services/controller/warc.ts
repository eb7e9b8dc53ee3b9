/**
 * The WARC files of a session (shared/warc): `GET /sessions/:id/warc` lists them (name, bytes,
 * records, closed), `GET /sessions/:id/warc/:name` streams one. A name is served only when it
 * has the form of the session's WARC file names (no path, no traversal) and the file exists.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../shared/config/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { SessionStore } from '../../shared/ledger/index.js';
import { isSessionWarcName, listSessionWarcs, warcDir } from '../../shared/warc/files.js';

export interface WarcRoutesDeps {
  sessions: Pick<SessionStore, 'get'>;
  config(): Config;
}

const ID = { type: 'string', pattern: '^[a-z0-9-]{1,64}$' } as const;
/** Any name up to 255 characters; whether it is one of the session's files is the handler's 404 (isSessionWarcName). */
const NAME = { type: 'string', minLength: 1, maxLength: 255 } as const;

export function registerWarcRoutes(app: FastifyInstance, deps: WarcRoutesDeps): void {
  const load = async (id: string): Promise<void> => {
    if (!(await deps.sessions.get(id))) throw new CrawlError('not_found', `session ${id} not found`);
  };

  app.get<{ Params: { id: string } }>('/sessions/:id/warc', {
    schema: { params: { type: 'object', properties: { id: ID }, required: ['id'] } },
  }, async (req) => {
    await load(req.params.id);
    return { files: await listSessionWarcs(warcDir(deps.config()), req.params.id) };
  });

  app.get<{ Params: { id: string; name: string } }>('/sessions/:id/warc/:name', {
    schema: { params: { type: 'object', properties: { id: ID, name: NAME }, required: ['id', 'name'] } },
  }, async (req, reply) => {
    const { id, name } = req.params;
    await load(id);
    if (!isSessionWarcName(id, name)) throw new CrawlError('not_found', `session ${id} has no WARC file ${name}`);
    const path = join(warcDir(deps.config()), name);
    const size = await stat(path).then((s) => (s.isFile() ? s.size : null), () => null);
    if (size === null) throw new CrawlError('not_found', `session ${id} has no WARC file ${name}`);
    return reply
      .type('application/warc')
      .header('content-length', size)
      .header('content-disposition', `attachment; filename="${name}"`)
      .send(createReadStream(path, { start: 0, end: size - 1 }));
  });
}
