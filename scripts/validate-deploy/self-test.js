// Negative self-test: the validators must reject deliberately broken copies of
// the real, rendered files, naming the resource and the field. Guards against
// a validator that silently passes everything (a missing schema, a broken
// type index, an ignored exit code).
//
// A registry with one more service than shared/pipeline/services.ts must make
// both the compose and the Kubernetes validation fail naming that service.
//
//   node self-test.js --repo DIR --tmp DIR --secret-example FILE \
//     --prod PROD.yaml --dev DEV.yaml --compose NORMALIZED.yml
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import YAML from 'yaml';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const opts = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) opts[argv[i].replace(/^--/, '')] = argv[i + 1];

function readDocs(file) {
  return YAML.parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()).filter(Boolean);
}
function writeDocs(file, docs) {
  writeFileSync(file, docs.map((d) => YAML.stringify(d)).join('---\n'));
}
function pick(docs, kind, name) {
  const d = docs.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!d) throw new Error(`self-test: ${kind} ${name} not in the rendered output`);
  return d;
}

let failures = 0;
let checks = 0;
function expectRejects(label, cmd, cmdArgs, expected) {
  const r = spawnSync(cmd, cmdArgs, { encoding: 'utf8', cwd: HERE });
  const out = `${r.stdout}\n${r.stderr}`;
  if (r.status === 0) {
    failures++;
    console.error(`ERROR [self-test] ${label}: the validator ACCEPTED a broken copy (exit 0)\n${out}`);
    return;
  }
  if (r.status !== 1) {
    failures++;
    console.error(`ERROR [self-test] ${label}: validator exit ${r.status} (crash?)\n${out}`);
    return;
  }
  const lines = out.split('\n').filter((l) => l.startsWith('ERROR'));
  for (const parts of expected) {
    checks++;
    if (!lines.some((l) => parts.every((p) => l.includes(p)))) {
      failures++;
      console.error(`ERROR [self-test] ${label}: no error line containing ${parts.map((p) => JSON.stringify(p)).join(' + ')}; got:\n${lines.join('\n')}`);
    }
  }
}

// --- Kubernetes: schema, strict fields, KEDA CRD, policy -------------------
const prod = readDocs(opts.prod);
pick(prod, 'Deployment', 'extractor').spec.replicas = 'three';
pick(prod, 'Deployment', 'fetcher').spec.template.spec.containerz = [];
pick(prod, 'Deployment', 'fetcher').spec.template.spec.containers[0].readinessProbe.httpGet.paht = '/readyz';
pick(prod, 'ScaledObject', 'fetcher').spec.pollingInterval = '15s';
pick(prod, 'ScaledObject', 'fetcher').spec.maxReplicaCountz = 60;
pick(prod, 'ScaledObject', 'fetcher').spec.triggers[0].metadata.queueName = 'crawlfleet.extract';
prod.splice(prod.indexOf(pick(prod, 'Deployment', 'cleaner')), 1);
prod.push({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'crawlfleet' } });
const prodBroken = path.join(opts.tmp, 'prod-broken.yaml');
writeDocs(prodBroken, prod);

const dev = readDocs(opts.dev);
pick(dev, 'Deployment', 'controller').spec.template.spec.terminationGracePeriodSeconds = 20;
pick(dev, 'Deployment', 'delivery').spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false;
pick(dev, 'Deployment', 'cleaner').spec.template.spec.containers[0].env.find((e) => e.name === 'REDIS_URL').valueFrom.secretKeyRef.key = 'REDIS_URI';
pick(dev, 'PodDisruptionBudget', 'extractor').spec.selector.matchLabels['app.kubernetes.io/component'] = 'extractorz';
dev.push({
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: { name: 'fetcher-too', namespace: 'crawlfleet' },
  spec: { scaleTargetRef: { name: 'fetcher' }, triggers: [{ type: 'cpu', metadata: { value: '50' }, metricType: 'Utilization' }] },
});
// The app's own config schema (only when dist/ is built: see lib.js).
const appCheck = existsSync(path.join(opts.repo, 'dist/shared/config/index.js'));
if (appCheck) {
  const cm = pick(dev, 'ConfigMap', 'crawlfleet-config');
  const settings = JSON.parse(cm.data['config.json']);
  settings.fetch = { ...settings.fetch, concurency: 8 };
  cm.data['config.json'] = JSON.stringify(settings, null, 2);
}
const devBroken = path.join(opts.tmp, 'dev-broken.yaml');
writeDocs(devBroken, dev);

expectRejects('k8s', process.execPath, [path.join(HERE, 'k8s-validate.js'), '--repo', opts.repo, '--secret-example', opts['secret-example'], `prod-broken=${prodBroken}`, `dev-broken=${devBroken}`], [
  ['[k8s] prod-broken Deployment crawlfleet/extractor', '/spec/replicas', 'must be integer'],
  ['[k8s] prod-broken Deployment crawlfleet/fetcher', '/spec/template/spec/containerz', 'unknown field'],
  ['[k8s] prod-broken Deployment crawlfleet/fetcher', '/spec/template/spec/containers/0/readinessProbe/httpGet/paht', 'unknown field'],
  ['[k8s] prod-broken ScaledObject crawlfleet/fetcher', '/spec/pollingInterval', 'must be integer'],
  ['[k8s] prod-broken ScaledObject crawlfleet/fetcher', '/spec/maxReplicaCountz', 'unknown field'],
  ['[k8s] prod-broken ScaledObject crawlfleet/fetcher', '/spec/triggers/0/metadata/queueName', 'crawlfleet.v3.fetch'],
  ['[k8s] prod-broken Widget crawlfleet/w', 'no schema known'],
  ['[k8s] prod-broken', 'component=cleaner', 'service "cleaner" of the registry', 'found 0'],
  ['[k8s] dev-broken Deployment crawlfleet/controller', '/spec/template/spec/terminationGracePeriodSeconds', 'must exceed'],
  ['[k8s] dev-broken Deployment crawlfleet/delivery', 'readOnlyRootFilesystem', 'must be true'],
  ['[k8s] dev-broken Deployment crawlfleet/cleaner', 'secretKeyRef', 'no key "REDIS_URI"'],
  ['[k8s] dev-broken', 'no PodDisruptionBudget for the extractor'],
  ['[k8s] dev-broken ScaledObject crawlfleet/fetcher-too', '/spec/scaleTargetRef', 'HPA and KEDA would fight'],
  ...(appCheck ? [['[k8s] dev-broken Deployment crawlfleet/fetcher', "rejected by the app's config schema", 'fetch.concurency']] : []),
]);

// --- The service registry ------------------------------------------------------
// A registry that names a service the deployment files do not run: a copy of the
// built registry plus "indexer".
const extraRegistry = path.join(opts.tmp, 'registry-extra.mjs');
writeFileSync(extraRegistry, [
  `import * as real from ${JSON.stringify(pathToFileURL(path.join(opts.repo, 'dist/shared/pipeline/services.js')).href)};`,
  "export const SERVICES = { ...real.SERVICES, indexer: { defaultReplicas: 1, summary: 'self-test' } };",
  'export const SERVICE_NAMES = Object.keys(SERVICES);',
  '',
].join('\n'));
expectRejects('k8s registry', process.execPath, [path.join(HERE, 'k8s-validate.js'), '--repo', opts.repo, '--registry', extraRegistry, `dev=${opts.dev}`], [
  ['[k8s] dev', 'component=indexer', 'service "indexer" of the registry', 'found 0'],
]);
expectRejects('compose registry', process.execPath, [path.join(HERE, 'compose-lint.js'), '--repo', opts.repo, '--registry', extraRegistry, opts.compose], [
  ['[compose] services', 'missing service "indexer"', 'service registry'],
]);

// --- Compose contract -------------------------------------------------------
const compose = YAML.parse(readFileSync(opts.compose, 'utf8'));
compose.services.fetcher.stop_grace_period = '10s';
delete compose.services.extractor.healthcheck;
delete compose.services.cleaner;
compose.services.janitor = { ...compose.services.fetcher, command: ['node', '--enable-source-maps', 'bin/crawlfleet.js', 'janitor'] };
compose.services.delivery.ports = ['8081:8081'];
compose.services.delivery.depends_on = { redis: { condition: 'service_started' }, rabbitmq: { condition: 'service_healthy' } };
// The API open to anyone: no API_TOKEN and no token file.
compose.services.controller.environment = { ...compose.services.controller.environment, API_TOKEN: '' };
delete compose.services.controller.environment.API_TOKEN_FILE;
const composeBroken = path.join(opts.tmp, 'compose-broken.yml');
writeFileSync(composeBroken, YAML.stringify(compose));
expectRejects('compose', process.execPath, [path.join(HERE, 'compose-lint.js'), '--repo', opts.repo, composeBroken], [
  ['service fetcher', 'stop_grace_period', 'must exceed SHUTDOWN_GRACE_MS'],
  ['service extractor', 'healthcheck', 'required'],
  ['service delivery', 'ports', 'only the API service'],
  ['service delivery', 'depends_on.redis', 'service_healthy'],
  ['[compose] services', 'missing service "cleaner"', 'service registry'],
  ['service janitor', 'command', 'not a service of the registry'],
  ['service controller', 'environment.API_TOKEN_FILE', 'the API would be open'],
]);

// --- Dockerfile contract ----------------------------------------------------
const dockerfile = readFileSync(path.join(opts.repo, 'Dockerfile'), 'utf8')
  .replace(/^USER .*$/m, '')
  .replace(/^HEALTHCHECK[\s\S]*?^\s*CMD \[.*\]$/m, '')
  .replace(/--omit=dev/g, '');
const dockerBroken = path.join(opts.tmp, 'Dockerfile.broken');
writeFileSync(dockerBroken, dockerfile);
expectRejects('docker', process.execPath, [path.join(HERE, 'dockerfile-lint.js'), '--repo', opts.repo, '--dockerfile', dockerBroken], [
  ['[docker]', 'non-root USER'],
  ['[docker]', 'HEALTHCHECK'],
  ['[docker]', 'npm ci --omit=dev'],
]);

if (failures > 0) {
  console.error(`ERROR [self-test] ${failures} of ${checks} negative checks failed: the validation cannot be trusted`);
  process.exitCode = 1;
} else {
  console.log(`ok    [self-test] broken copies rejected with the resource and field named (${checks} checks: schema, strict fields, KEDA CRD, unknown kind, policy${appCheck ? ', app settings' : ''}, service registry, compose, Dockerfile)`);
}
