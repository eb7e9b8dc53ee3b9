/**
 * Every service process runs with the same V8 heap flags whichever way it is started: the
 * supervisor (npm start, tests, bench) and the deployment files (the image's ENV, which compose
 * and Kubernetes inherit, and the NODE_OPTIONS of a service with flags of its own). The
 * Dockerfile and the manifests cannot import the table, so this test holds them equal to it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SERVICE_NODE_OPTIONS, serviceNodeOptions } from '../../../scripts/supervisor.js';
import { packageRoot } from '../../../shared/paths.js';
import { SERVICE_NAMES } from '../../../shared/pipeline/services.js';

const read = (f: string): string => readFileSync(join(packageRoot, f), 'utf8');

/** NODE_OPTIONS of each container of a Kubernetes manifest (all its documents), or undefined. */
interface Manifest {
  spec?: { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } };
}
function k8sNodeOptions(file: string): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (const doc of read(file).split(/^---$/m).map((d) => parseYaml(d) as Manifest | null)) {
    for (const c of doc?.spec?.template?.spec?.containers ?? []) out.push(c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value);
  }
  return out;
}

describe('service node options', () => {
  it('the image sets the default the supervisor gives its processes', () => {
    const m = /^\s*NODE_OPTIONS="([^"]*)"/m.exec(read('Dockerfile'));
    assert.ok(m, 'the Dockerfile sets NODE_OPTIONS in an ENV instruction');
    assert.equal(m[1], SERVICE_NODE_OPTIONS);
  });

  it('the extractor and delivery have flags of their own', () => {
    assert.notEqual(serviceNodeOptions('extractor'), SERVICE_NODE_OPTIONS);
    assert.notEqual(serviceNodeOptions('delivery'), SERVICE_NODE_OPTIONS);
    assert.equal(serviceNodeOptions('fetcher'), SERVICE_NODE_OPTIONS);
  });

  it('each compose service and Kubernetes Deployment runs with the flags of its service', () => {
    const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { environment?: Record<string, string> }> };
    for (const service of SERVICE_NAMES) {
      const own = serviceNodeOptions(service) === SERVICE_NODE_OPTIONS ? undefined : serviceNodeOptions(service);
      assert.equal(compose.services[service]?.environment?.NODE_OPTIONS, own, `docker-compose.yml ${service}`);
      const containers = k8sNodeOptions(`k8s/base/${service}.yaml`);
      assert.ok(containers.length > 0, `k8s/base/${service}.yaml has a container`);
      for (const value of containers) assert.equal(value, own, `k8s/base/${service}.yaml`);
    }
  });
});
