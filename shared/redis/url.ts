/**
 * Where Redis is: one server (`redis://`, `rediss://`) or a Redis Cluster
 * (`redis+cluster://[user:password@]host:port,host:port`, `rediss+cluster://` for TLS, or
 * `redis.clusterNodes` = `host:port,host:port` beside a plain `redis.url` that then only
 * gives the credentials and TLS). Pure parsing: the client is made in client.ts.
 */

export interface ClusterSeed {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: ClusterSeed[]; username?: string; password?: string; tls: boolean };

/** The settings of the config's `redis` section that say where Redis is. */
export interface RedisSettings {
  url: string;
  clusterNodes?: string;
}

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\/(.*)$/i;
const HOST_PORT = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+):(\d{1,5})$/i;

/** `host:port,host:port` → seeds; throws a TypeError naming the bad entry. */
export function parseClusterNodes(list: string): ClusterSeed[] {
  const entries = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) throw new TypeError('must name at least one host:port');
  return entries.map((e) => {
    const m = HOST_PORT.exec(e);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) throw new TypeError(`must be host:port entries separated by commas, got ${JSON.stringify(e)}`);
    return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
  });
}

/** Parses `redis.url` (and `redis.clusterNodes`); throws a TypeError saying what is wrong. */
export function parseRedisTarget(settings: RedisSettings | string): RedisTarget {
  const { url, clusterNodes = '' } = typeof settings === 'string' ? { url: settings } : settings;
  const cluster = CLUSTER_SCHEME.exec(url);
  if (cluster) {
    const rest = cluster[2] as string;
    const at = rest.lastIndexOf('@');
    const auth = at >= 0 ? rest.slice(0, at) : '';
    const hosts = (at >= 0 ? rest.slice(at + 1) : rest).replace(/\/.*$/, '');
    const nodes = parseClusterNodes(clusterNodes.trim() !== '' ? clusterNodes : hosts);
    return { kind: 'cluster', nodes, tls: (cluster[1] as string).toLowerCase() === 'rediss', ...credentials(auth) };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError('must be a redis://, rediss:// or redis+cluster:// URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new TypeError(`must use redis:, rediss: or redis+cluster:, got ${u.protocol}`);
  if (clusterNodes.trim() === '') return { kind: 'single', url };
  if (u.pathname !== '' && u.pathname !== '/' && u.pathname !== '/0') throw new TypeError('a Redis Cluster has only database 0');
  return {
    kind: 'cluster',
    nodes: parseClusterNodes(clusterNodes),
    tls: u.protocol === 'rediss:',
    ...credentials(u.username || u.password ? `${u.username}:${u.password}` : ''),
  };
}

function credentials(auth: string): { username?: string; password?: string } {
  if (auth === '') return {};
  const colon = auth.indexOf(':');
  const user = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth);
  const password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined;
  return { ...(user !== '' ? { username: user } : {}), ...(password !== undefined && password !== '' ? { password } : {}) };
}

/** The target without its password, for logs and readiness answers. */
export function describeRedisTarget(settings: RedisSettings | string): string {
  try {
    const t = parseRedisTarget(settings);
    if (t.kind === 'cluster') return `${t.tls ? 'rediss' : 'redis'}+cluster://${t.username ? `${t.username}@` : ''}${t.nodes.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',')}`;
    const u = new URL(t.url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '***';
  }
}
