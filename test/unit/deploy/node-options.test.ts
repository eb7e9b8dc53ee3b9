/**
 * Every service process runs with the same V8 heap flags whichever way it is started:
 * the supervisor (npm start, tests, bench) and the image (compose and Kubernetes inherit its
 * ENV). The Dockerfile cannot import a constant, so this test holds the two equal.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_NODE_OPTIONS } from '../../../scripts/supervisor.js';
import { packageRoot } from '../../../shared/paths.js';
import { SERVICE_NAMES } from '../../../shared/pipeline/services.js';

describe('service node options', () => {
  it('the image sets the NODE_OPTIONS the supervisor gives its processes', () => {
    const dockerfile = readFileSync(join(packageRoot, 'Dockerfile'), 'utf8');
    const m = /^\s*NODE_OPTIONS="([^"]*)"/m.exec(dockerfile);
    assert.ok(m, 'the Dockerfile sets NODE_OPTIONS in an ENV instruction');
    assert.equal(m[1], SERVICE_NODE_OPTIONS);
  });

  it('no compose service or Kubernetes manifest overrides them', () => {
    const files = ['docker-compose.yml', ...SERVICE_NAMES.map((s) => `k8s/base/${s}.yaml`)];
    for (const f of files) assert.ok(!readFileSync(join(packageRoot, f), 'utf8').includes('NODE_OPTIONS'), `${f} sets NODE_OPTIONS`);
  });
});
