/**
 * POST /sessions `warc` and `warcRecordSecrets`: booleans, named in a refusal; the spec holds
 * them only when asked (a session without them reads as false), and the warc directory follows
 * the config.
 */
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { validatorFactory } from '../../../services/controller/index.js';
import { buildSpec, createSessionSchema } from '../../../services/controller/sessions.js';
import { loadConfig } from '../../../shared/config/index.js';
import { warcDir } from '../../../shared/warc/files.js';

type Validate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

describe('session option warc', () => {
  const validate = validatorFactory()({}, {})({ schema: createSessionSchema as never, method: 'POST', url: '/sessions', httpPart: 'body' }) as unknown as Validate;
  const first = (): string => `body${validate.errors?.[0]?.instancePath ?? ''} ${validate.errors?.[0]?.message ?? ''}`;
  const cfg = loadConfig({ env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8' }, file: null }).config;
  const seeds = ['http://127.0.0.1:8000/'];

  it('takes booleans and names the field of anything else', () => {
    assert.equal(validate({ seeds, warc: true, warcRecordSecrets: false }), true);
    assert.equal(validate({ seeds, warc: 'yes' }), false);
    assert.equal(first(), 'body/warc must be boolean');
    assert.equal(validate({ seeds, warcRecordSecrets: 1 }), false);
    assert.equal(first(), 'body/warcRecordSecrets must be boolean');
  });

  it('puts them in the spec only when asked', () => {
    const on = buildSpec({ seeds, warc: true, warcRecordSecrets: true }, cfg);
    assert.equal(on.warc, true);
    assert.equal(on.warcRecordSecrets, true);
    const off = buildSpec({ seeds, warc: false }, cfg);
    assert.equal('warc' in off, false);
    assert.equal('warcRecordSecrets' in off, false);
  });

  it('keeps the files in warc.dir, or <RESULTS_DIR>/warc', () => {
    assert.equal(warcDir(cfg), resolve(join(cfg.deliver.resultsDir, 'warc')));
    const own = loadConfig({ env: { WARC_DIR: '/srv/warc', RESULTS_DIR: '/data/results' }, file: null }).config;
    assert.equal(warcDir(own), '/srv/warc');
  });
});
