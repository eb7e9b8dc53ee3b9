// Offline validation of rendered Kubernetes manifests (output of
// `kubectl kustomize`), run by scripts/validate-deploy.sh from the tool cache.
//
//   node k8s-validate.js --repo DIR [--secret-example FILE] [--registry FILE] TARGET=FILE...
//
// The crawlfleet workloads expected are the services of the service registry
// (dist/shared/pipeline/services.js, or --registry FILE): one each, no other.
//
// TARGET is base, dev or prod (optionally suffixed, e.g. prod-broken) and picks
// the expectations of that overlay. Three layers of checks, each finding names
// the target, the resource and the field:
//  1. schema: every document against the OpenAPI-derived JSON schema of its
//     apiVersion/kind (kubernetes-models; KEDA CRDs: @kubernetes-models/keda).
//     A kind without a known schema is an error, never skipped.
//  2. strict: unknown fields anywhere in a document (like
//     `kubectl --validate=strict`), from the same models' type declarations.
//  3. policy: the deployment contract of crawlfleet (probes, drain timing,
//     security context, references between objects, autoscaler wiring, ...)
//     and, when dist/ is built, config.json + env checked by the app's loader.
import { Buffer } from 'node:buffer';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Report, checkAppSettings, exitWith, loadAppConfigModule, loadServiceRegistry, loadYamlDocs, ptr } from './lib.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------
// expectations per target
// ---------------------------------------------------------------------------
// The services of the registry (dist/shared/pipeline/services.js, or --registry FILE): set by main.
let SERVICES = [];
let REGISTRY_SOURCE = '';
// The stage queue each service consumes (the stage registry, dist/shared/pipeline/stages.js): set by main.
let QUEUE_OF = {};
const PROFILES = {
  // base: no autoscaler, no Secret (created per environment).
  base: { autoscaler: 'none', externalSecrets: ['crawlfleet'], allowLatest: true },
  // dev: CPU HPA, generated throw-away Secret.
  dev: { autoscaler: 'HorizontalPodAutoscaler', externalSecrets: [], allowLatest: true },
  // prod: KEDA, Secret created out of band, pinned image tag.
  prod: { autoscaler: 'ScaledObject', externalSecrets: ['crawlfleet'], allowLatest: false },
};
const DEFAULT_GRACE_MS = 20000; // SHUTDOWN_GRACE_MS default of the services
const NAMESPACE = 'crawlfleet';

// Model packages per API group (core and built-in groups: kubernetes-models).
const THIRD_PARTY_MODELS = { 'keda.sh': '@kubernetes-models/keda' };
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'CustomResourceDefinition', 'PriorityClass', 'ClusterTriggerAuthentication']);

function modelModule(apiVersion) {
  const i = apiVersion.lastIndexOf('/');
  const group = i < 0 ? '' : apiVersion.slice(0, i);
  const version = i < 0 ? apiVersion : apiVersion.slice(i + 1);
  if (!group) return `kubernetes-models/${version}`;
  if (THIRD_PARTY_MODELS[group]) return `${THIRD_PARTY_MODELS[group]}/${group}/${version}`;
  return `kubernetes-models/${group}/${version}`;
}

function resName(doc) {
  const ns = doc?.metadata?.namespace;
  return `${doc?.kind ?? '?'} ${ns ? `${ns}/` : ''}${doc?.metadata?.name ?? '?'}`;
}

// ---------------------------------------------------------------------------
// 1. schema (ajv validators generated from the OpenAPI / CRD schemas)
// ---------------------------------------------------------------------------
const modelCache = new Map();

async function modelClass(apiVersion, kind) {
  const mod = modelModule(apiVersion);
  if (!modelCache.has(mod)) {
    modelCache.set(mod, await import(mod).catch(() => null));
  }
  const exports = modelCache.get(mod);
  const cls = exports?.[kind];
  return typeof cls === 'function' && cls.apiVersion === apiVersion && cls.kind === kind ? { cls, mod } : null;
}

function formatAjvError(e) {
  let msg = e.message ?? e.keyword;
  if (e.params?.allowedValues) msg += ` (${e.params.allowedValues.join(', ')})`;
  if (e.params?.additionalProperty) msg += ` ("${e.params.additionalProperty}")`;
  return `${e.instancePath || '/'}: ${msg}`;
}

/**
 * The document as the API server decodes it: base64 in Secret/ConfigMap binary
 * data may contain line breaks (kustomize wraps long values at 70 columns; Go's
 * base64 decoder skips them), which the schema's "byte" format does not allow.
 */
function forSchema(doc) {
  const field = doc.kind === 'Secret' ? 'data' : doc.kind === 'ConfigMap' ? 'binaryData' : null;
  if (!field || !doc[field] || typeof doc[field] !== 'object') return doc;
  const unwrapped = Object.fromEntries(Object.entries(doc[field]).map(([k, v]) => [k, typeof v === 'string' ? v.replace(/[\r\n]/g, '') : v]));
  return { ...doc, [field]: unwrapped };
}

async function schemaCheck(docs, where, report, kindsSeen) {
  for (const doc of docs) {
    const id = `${where} ${resName(doc)}`;
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      report.error(where, 'a document is not an object');
      continue;
    }
    if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') {
      report.error(id, '/apiVersion and /kind are required strings');
      continue;
    }
    const found = await modelClass(doc.apiVersion, doc.kind);
    if (!found) {
      report.error(id, `no schema known for apiVersion "${doc.apiVersion}" kind "${doc.kind}" (add its model package to scripts/validate-deploy/tools)`);
      continue;
    }
    kindsSeen.set(`${doc.apiVersion}|${doc.kind}`, { mod: found.mod, kind: doc.kind });
    if (!doc.metadata?.name) report.error(id, '/metadata/name: required');
    try {
      new found.cls(forSchema(doc)).validate();
    } catch (err) {
      const errs = Array.isArray(err?.errors) ? err.errors : null;
      if (!errs) {
        report.error(id, `schema validation failed: ${err?.message ?? err}`);
        continue;
      }
      const seen = new Set();
      for (const e of errs) {
        const line = formatAjvError(e);
        if (!seen.has(line)) report.error(id, `${line} (schema)`);
        seen.add(line);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// 2. strict: unknown fields, from the models' TypeScript declarations
// ---------------------------------------------------------------------------
function buildTypeIndex(kindsSeen) {
  const entries = [...kindsSeen.entries()];
  const lines = entries.map(([, v], i) => `import type { I${v.kind} as T${i} } from '${v.mod}';`);
  lines.push('export interface Kinds {');
  entries.forEach(([key], i) => lines.push(`  ${JSON.stringify(key)}: T${i};`));
  lines.push('}');
  const file = path.join(HERE, '.kinds.generated.ts');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const source = program.getSourceFile(file);
  const diags = ts.getPreEmitDiagnostics(program, source);
  if (diags.length > 0) {
    const text = diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ');
    throw new Error(`cannot load model type declarations: ${text}`);
  }
  const checker = program.getTypeChecker();
  const decl = source.statements.find((s) => ts.isInterfaceDeclaration(s) && s.name.text === 'Kinds');
  const kindsType = checker.getTypeAtLocation(decl);
  const types = new Map();
  for (const sym of checker.getPropertiesOfType(kindsType)) types.set(sym.name, typeOfSymbol(checker, sym, decl));
  return { checker, types };
}

function typeOfSymbol(checker, sym, fallbackNode) {
  if (typeof checker.getTypeOfSymbol === 'function') return checker.getTypeOfSymbol(sym);
  return checker.getTypeOfSymbolAtLocation(sym, sym.valueDeclaration ?? sym.declarations?.[0] ?? fallbackNode);
}

function isArrayLike(checker, t) {
  return checker.isArrayType(t) || checker.isTupleType(t);
}

/** Pushes [pointer, message] for every field the type does not declare. */
function unknownFields(checker, value, type, pointer, out) {
  if (value === null || value === undefined) return;
  const t = checker.getNonNullableType(type);
  if (t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  const members = t.isUnion() ? t.types : [t];
  if (Array.isArray(value)) {
    const arr = members.find((m) => isArrayLike(checker, m));
    if (!arr) return; // wrong type: reported by the schema check
    const [elem] = checker.getTypeArguments(arr);
    if (!elem) return;
    value.forEach((v, i) => unknownFields(checker, v, elem, `${pointer}/${i}`, out));
    return;
  }
  if (typeof value !== 'object') return;
  const objects = members.filter((m) => (m.flags & ts.TypeFlags.Object) && !isArrayLike(checker, m));
  if (objects.length === 0) return;
  const props = new Map();
  let index;
  for (const o of objects) {
    for (const s of checker.getPropertiesOfType(o)) if (!props.has(s.name)) props.set(s.name, s);
    index ??= checker.getIndexTypeOfType(o, ts.IndexKind.String);
  }
  if (props.size === 0 && !index) return; // free-form object (x-kubernetes-preserve-unknown-fields)
  for (const [k, v] of Object.entries(value)) {
    const s = props.get(k);
    if (s) unknownFields(checker, v, typeOfSymbol(checker, s), `${pointer}/${ptr(k)}`, out);
    else if (index) unknownFields(checker, v, index, `${pointer}/${ptr(k)}`, out);
    else {
      const typeName = checker.typeToString(objects[0]).replace(/^I(IoK8sApi|IoK8sApimachineryPkgApis|ComGithubKedacoreKedaV2Apis)?/, '');
      out.push([`${pointer}/${ptr(k)}`, `unknown field "${k}" (not in ${typeName})`]);
    }
  }
}

function strictCheck(docs, where, report, typeIndex) {
  for (const doc of docs) {
    const t = typeIndex.types.get(`${doc.apiVersion}|${doc.kind}`);
    if (!t) continue; // no schema: already an error
    const out = [];
    unknownFields(typeIndex.checker, doc, t, '', out);
    for (const [p, m] of out) report.error(`${where} ${resName(doc)}`, `${p}: ${m} (strict)`);
  }
}

// ---------------------------------------------------------------------------
// 3. policy: the crawlfleet deployment contract
// ---------------------------------------------------------------------------
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function labelsMatch(selector, labels) {
  if (!selector || typeof selector !== 'object') return false;
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

function envValue(container, name) {
  const e = (container.env ?? []).find((x) => x.name === name);
  return e && typeof e.value === 'string' ? e.value : undefined;
}

function preStopSleepSeconds(container) {
  const pre = container.lifecycle?.preStop;
  if (!pre) return null;
  if (pre.sleep && Number.isInteger(pre.sleep.seconds)) return pre.sleep.seconds;
  const cmd = pre.exec?.command;
  if (Array.isArray(cmd)) {
    const m = /(?:^|\s)sleep\s+(\d+)/.exec(cmd.join(' '));
    if (m) return Number(m[1]);
  }
  return null;
}

function decodeSecret(doc) {
  const out = {};
  for (const [k, v] of Object.entries(doc.data ?? {})) out[k] = Buffer.from(String(v), 'base64').toString('utf8');
  for (const [k, v] of Object.entries(doc.stringData ?? {})) out[k] = String(v);
  return out;
}

function policyCheck(docs, where, profile, report, ctx) {
  const byKind = (k) => docs.filter((d) => d.kind === k);
  const find = (k, n) => docs.find((d) => d.kind === k && d.metadata?.name === n);
  const err = (doc, p, m) => report.error(`${where} ${resName(doc)}`, `${p}: ${m}`);
  const workloads = docs.filter((d) => WORKLOAD_KINDS.has(d.kind));
  const isCrawlfleet = (w) => w.spec?.template?.metadata?.labels?.['app.kubernetes.io/name'] === 'crawlfleet';
  const crawlfleet = workloads.filter(isCrawlfleet);
  const component = (w) => w.spec?.template?.metadata?.labels?.['app.kubernetes.io/component'];

  // Namespace: everything namespaced lives in crawlfleet, which is declared.
  if (!find('Namespace', NAMESPACE)) report.error(where, `no Namespace "${NAMESPACE}" in the output`);
  for (const d of docs) {
    if (CLUSTER_SCOPED.has(d.kind)) continue;
    if (d.metadata?.namespace !== NAMESPACE) err(d, '/metadata/namespace', `must be "${NAMESPACE}" (got ${JSON.stringify(d.metadata?.namespace)})`);
  }

  // The services of the registry, once each, and no other.
  for (const s of SERVICES) {
    const n = crawlfleet.filter((w) => component(w) === s).length;
    if (n !== 1) report.error(where, `expected exactly one crawlfleet workload with app.kubernetes.io/component=${s} (service "${s}" of the registry ${REGISTRY_SOURCE}), found ${n}`);
  }
  for (const w of crawlfleet) {
    if (!SERVICES.includes(component(w))) err(w, '/spec/template/metadata/labels/app.kubernetes.io~1component', `"${component(w)}" is not a service of the registry ${REGISTRY_SOURCE} (${SERVICES.join(', ')})`);
  }

  // References between objects.
  const secretKeys = (name) => {
    const s = find('Secret', name);
    if (s) return new Set(Object.keys(decodeSecret(s)));
    if (profile.externalSecrets.includes(name)) return ctx.exampleSecretKeys ?? null;
    return undefined; // missing
  };
  const checkSecretRef = (doc, p, name, key, optional) => {
    if (optional) return;
    const keys = secretKeys(name);
    if (keys === undefined) err(doc, p, `Secret "${name}" is not in the output and not an expected external Secret`);
    else if (keys && key !== undefined && !keys.has(key)) {
      err(doc, p, find('Secret', name)
        ? `Secret "${name}" has no key "${key}"`
        : `key "${key}" of the external Secret "${name}" is not documented in k8s/base/secret.example.yaml`);
    }
  };
  const checkConfigMapRef = (doc, p, name, key, optional) => {
    if (optional) return;
    const cm = find('ConfigMap', name);
    if (!cm) err(doc, p, `ConfigMap "${name}" is not in the output`);
    else if (key !== undefined && !(key in (cm.data ?? {})) && !(key in (cm.binaryData ?? {}))) err(doc, p, `ConfigMap "${name}" has no key "${key}"`);
  };

  const images = new Set();
  let namespaceSetting;
  for (const w of workloads) {
    const base = '/spec/template/spec';
    const pod = w.spec?.template?.spec ?? {};
    const podLabels = w.spec?.template?.metadata?.labels ?? {};
    if (!labelsMatch(w.spec?.selector?.matchLabels, podLabels)) err(w, '/spec/selector/matchLabels', 'must be non-empty and match the pod template labels');
    const podSc = pod.securityContext ?? {};
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    for (const t of w.spec?.volumeClaimTemplates ?? []) volumes.set(t.metadata?.name, { persistentVolumeClaim: { claimName: t.metadata?.name } });
    (pod.volumes ?? []).forEach((v, i) => {
      const p = `${base}/volumes/${i}`;
      if (v.hostPath) err(w, `${p}/hostPath`, 'hostPath volumes are not allowed');
      if (v.secret) checkSecretRef(w, `${p}/secret/secretName`, v.secret.secretName, undefined, v.secret.optional);
      if (v.configMap) checkConfigMapRef(w, `${p}/configMap/name`, v.configMap.name, undefined, v.configMap.optional);
      if (v.persistentVolumeClaim && !find('PersistentVolumeClaim', v.persistentVolumeClaim.claimName)) {
        err(w, `${p}/persistentVolumeClaim/claimName`, `PersistentVolumeClaim "${v.persistentVolumeClaim.claimName}" is not in the output`);
      }
    });
    const containers = pod.containers ?? [];
    containers.forEach((c, i) => {
      const p = `${base}/containers/${i}`;
      const sc = c.securityContext ?? {};
      // Pod Security "restricted" (the namespace enforces it) and resources.
      for (const r of ['requests', 'limits']) {
        for (const res of ['cpu', 'memory']) {
          if (c.resources?.[r]?.[res] === undefined) err(w, `${p}/resources/${r}/${res}`, 'required');
        }
      }
      if (!c.readinessProbe) err(w, `${p}/readinessProbe`, 'required');
      if (!c.livenessProbe) err(w, `${p}/livenessProbe`, 'required');
      if (sc.allowPrivilegeEscalation !== false) err(w, `${p}/securityContext/allowPrivilegeEscalation`, 'must be false');
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) err(w, `${p}/securityContext/capabilities/drop`, 'must contain "ALL"');
      if (sc.privileged) err(w, `${p}/securityContext/privileged`, 'must not be true');
      if (sc.runAsNonRoot !== true && podSc.runAsNonRoot !== true) err(w, `${base}/securityContext/runAsNonRoot`, 'must be true (pod or container)');
      if ((sc.seccompProfile?.type ?? podSc.seccompProfile?.type) !== 'RuntimeDefault' && (sc.seccompProfile?.type ?? podSc.seccompProfile?.type) !== 'Localhost') {
        err(w, `${base}/securityContext/seccompProfile/type`, 'must be RuntimeDefault (pod or container)');
      }
      (c.env ?? []).forEach((e, j) => {
        const s = e.valueFrom?.secretKeyRef;
        if (s) checkSecretRef(w, `${p}/env/${j}/valueFrom/secretKeyRef`, s.name, s.key, s.optional);
        const m = e.valueFrom?.configMapKeyRef;
        if (m) checkConfigMapRef(w, `${p}/env/${j}/valueFrom/configMapKeyRef`, m.name, m.key, m.optional);
      });
      (c.envFrom ?? []).forEach((e, j) => {
        if (e.secretRef) checkSecretRef(w, `${p}/envFrom/${j}/secretRef`, e.secretRef.name, undefined, e.secretRef.optional);
        if (e.configMapRef) checkConfigMapRef(w, `${p}/envFrom/${j}/configMapRef`, e.configMapRef.name, undefined, e.configMapRef.optional);
      });
      (c.volumeMounts ?? []).forEach((m, j) => {
        if (!volumes.has(m.name)) err(w, `${p}/volumeMounts/${j}/name`, `no volume "${m.name}" in the pod`);
      });
      if (!isCrawlfleet(w)) return;

      // crawlfleet services.
      const service = component(w);
      images.add(c.image);
      if (!profile.allowLatest && (/:latest$/.test(c.image) || !/[:@]/.test(c.image.split('/').pop()))) {
        err(w, `${p}/image`, `"${c.image}": pin a released tag or digest, not latest`);
      }
      const cmd = [...(c.command ?? []), ...(c.args ?? [])];
      if (cmd[cmd.length - 1] !== service || !cmd.some((a) => /bin\/crawlfleet\.js$/.test(a))) {
        err(w, `${p}/args`, `must run bin/crawlfleet.js ${service} (got ${JSON.stringify(cmd)})`);
      }
      if (sc.readOnlyRootFilesystem !== true) err(w, `${p}/securityContext/readOnlyRootFilesystem`, 'must be true');
      const tmp = (c.volumeMounts ?? []).find((m) => m.mountPath === '/tmp');
      if (!tmp || !volumes.get(tmp.name)?.emptyDir) err(w, `${p}/volumeMounts`, 'needs an emptyDir at /tmp (read-only root filesystem)');
      const isController = service === 'controller';
      const hostVar = isController ? 'CONTROLLER_HOST' : 'HTTP_HOST';
      const portVar = isController ? 'CONTROLLER_PORT' : 'HTTP_PORT';
      const port = Number(envValue(c, portVar) ?? (isController ? 8080 : 8081));
      if (envValue(c, hostVar) !== undefined && envValue(c, hostVar) !== '0.0.0.0') err(w, `${p}/env`, `${hostVar} must be 0.0.0.0 in a container`);
      const http = (c.ports ?? []).find((x) => x.name === 'http');
      if (!http || http.containerPort !== port) err(w, `${p}/ports`, `needs a port named "http" with containerPort ${port} (${portVar})`);
      const probePort = (pr) => pr?.httpGet && (pr.httpGet.port === 'http' || pr.httpGet.port === port);
      if (c.readinessProbe && (!probePort(c.readinessProbe) || c.readinessProbe.httpGet.path !== '/readyz')) err(w, `${p}/readinessProbe/httpGet`, `must GET /readyz on port ${port}`);
      if (c.livenessProbe && (!probePort(c.livenessProbe) || c.livenessProbe.httpGet.path !== '/healthz')) err(w, `${p}/livenessProbe/httpGet`, `must GET /healthz on port ${port}`);
      // Draining: preStop sleep + SHUTDOWN_GRACE_MS must fit into the grace period.
      const sleep = preStopSleepSeconds(c);
      const graceMs = Number(envValue(c, 'SHUTDOWN_GRACE_MS') ?? DEFAULT_GRACE_MS);
      const tgps = pod.terminationGracePeriodSeconds ?? 30;
      if (sleep === null) err(w, `${p}/lifecycle/preStop`, 'needs a short sleep so endpoints are removed before draining');
      else if (tgps * 1000 <= sleep * 1000 + graceMs) {
        err(w, `${base}/terminationGracePeriodSeconds`, `${tgps}s must exceed preStop ${sleep}s + SHUTDOWN_GRACE_MS ${graceMs}ms`);
      }
      // Config file: a directory mount of the ConfigMap (hot reload), never subPath.
      const configFile = envValue(c, 'CONFIG_FILE');
      if (!configFile) err(w, `${p}/env`, 'CONFIG_FILE must be set');
      else {
        const dir = path.posix.dirname(configFile);
        const m = (c.volumeMounts ?? []).find((x) => x.mountPath === dir || x.mountPath === configFile);
        const vol = m && volumes.get(m.name);
        if (!m || !vol?.configMap) err(w, `${p}/volumeMounts`, `CONFIG_FILE ${configFile}: its directory ${dir} must be a ConfigMap volume mount`);
        else if (m.subPath || m.mountPath === configFile) err(w, `${p}/volumeMounts`, `${m.mountPath}: mount the ConfigMap as a directory without subPath, or it is never updated (no hot reload)`);
        else {
          checkConfigMapRef(w, `${p}/volumeMounts`, vol.configMap.name, path.posix.basename(configFile));
          ctx.configMaps.add(vol.configMap.name);
        }
      }
      if (service === 'delivery') {
        const dir = envValue(c, 'RESULTS_DIR');
        const m = dir && (c.volumeMounts ?? []).find((x) => dir === x.mountPath || dir.startsWith(`${x.mountPath}/`));
        if (!m) err(w, `${p}/env`, 'RESULTS_DIR must be set to a mounted volume (read-only root filesystem)');
      }
      const nsSetting = envValue(c, 'CRAWLER_NAMESPACE') ?? 'crawlfleet';
      if (namespaceSetting !== undefined && namespaceSetting !== nsSetting) err(w, `${p}/env`, `CRAWLER_NAMESPACE "${nsSetting}" differs from other services ("${namespaceSetting}")`);
      namespaceSetting ??= nsSetting;
      ctx.appContainers.push({ w, p, c });
    });
  }
  if (images.size > 1) report.error(where, `all crawlfleet services must run the same image, found ${[...images].join(', ')}`);
  ctx.crawlerNamespace = namespaceSetting ?? 'crawlfleet';

  // The ConfigMaps mounted as config: JSON/YAML parses, no name hash.
  for (const name of ctx.configMaps) {
    const cm = find('ConfigMap', name);
    if (!cm) continue;
    if (name !== 'crawlfleet-config') err(cm, '/metadata/name', 'must be exactly "crawlfleet-config": a name hash would roll pods on every edit instead of hot-reloading (disableNameSuffixHash)');
    for (const [key, text] of Object.entries(cm.data ?? {})) {
      if (/\.json$/.test(key)) {
        try {
          JSON.parse(text);
        } catch (e) {
          err(cm, `/data/${ptr(key)}`, `invalid JSON: ${e.message}`);
        }
      }
    }
  }

  // Services select pods and name their ports.
  for (const s of byKind('Service')) {
    const targets = workloads.filter((w) => labelsMatch(s.spec?.selector, w.spec?.template?.metadata?.labels));
    if (targets.length === 0) {
      err(s, '/spec/selector', 'selects no workload in the output');
      continue;
    }
    (s.spec?.ports ?? []).forEach((sp, i) => {
      const tp = sp.targetPort ?? sp.port;
      const ok = targets.every((w) => (w.spec.template.spec.containers ?? []).some((c) => (c.ports ?? []).some((cp) => cp.name === tp || cp.containerPort === tp)));
      if (!ok) err(s, `/spec/ports/${i}/targetPort`, `${JSON.stringify(tp)} is not a container port of the selected pods`);
    });
  }

  // Disruption budgets: fetcher and extractor, selecting exactly one workload.
  const pdbFor = new Set();
  for (const pdb of byKind('PodDisruptionBudget')) {
    const targets = workloads.filter((w) => labelsMatch(pdb.spec?.selector?.matchLabels, w.spec?.template?.metadata?.labels));
    if (targets.length !== 1) err(pdb, '/spec/selector', `must select exactly one workload, selects ${targets.length}`);
    for (const t of targets) pdbFor.add(component(t));
  }
  for (const s of ['fetcher', 'extractor']) if (!pdbFor.has(s)) report.error(where, `no PodDisruptionBudget for the ${s}`);

  // Autoscalers: targets exist, one autoscaler per workload, replicas left to it.
  const scaled = new Map();
  const addScaled = (doc, ref) => {
    const kind = ref?.kind ?? 'Deployment';
    const target = docs.find((d) => d.kind === kind && d.metadata?.name === ref?.name);
    if (!target) {
      err(doc, '/spec/scaleTargetRef', `${kind} "${ref?.name}" is not in the output`);
      return null;
    }
    const key = `${kind}/${ref.name}`;
    if (scaled.has(key)) err(doc, '/spec/scaleTargetRef', `${key} is already scaled by ${scaled.get(key)}: HPA and KEDA would fight`);
    else scaled.set(key, resName(doc));
    if (target.spec?.replicas !== undefined) err(target, '/spec/replicas', `must be unset: ${resName(doc)} owns the replica count (kubectl apply would reset it)`);
    return target;
  };
  for (const h of byKind('HorizontalPodAutoscaler')) {
    const target = addScaled(h, h.spec?.scaleTargetRef);
    if ((h.spec?.minReplicas ?? 1) > h.spec?.maxReplicas) err(h, '/spec/minReplicas', 'must not exceed maxReplicas');
    const usesCpu = (h.spec?.metrics ?? []).some((m) => m.resource?.name === 'cpu');
    if (target && usesCpu && (target.spec?.template?.spec?.containers ?? []).some((c) => !c.resources?.requests?.cpu)) {
      err(h, '/spec/metrics', 'CPU utilization needs cpu requests on every container of the target');
    }
  }
  for (const so of byKind('ScaledObject')) {
    const target = addScaled(so, so.spec?.scaleTargetRef);
    if ((so.spec?.minReplicaCount ?? 0) > (so.spec?.maxReplicaCount ?? 100)) err(so, '/spec/minReplicaCount', 'must not exceed maxReplicaCount');
    (so.spec?.triggers ?? []).forEach((t, i) => {
      const p = `/spec/triggers/${i}`;
      if (t.type !== 'rabbitmq') return;
      const md = t.metadata ?? {};
      const service = target && component(target);
      if (service && QUEUE_OF[service] && md.queueName !== `${ctx.crawlerNamespace}.${QUEUE_OF[service]}`) {
        err(so, `${p}/metadata/queueName`, `must be "${ctx.crawlerNamespace}.${QUEUE_OF[service]}" (<CRAWLER_NAMESPACE>.${QUEUE_OF[service]}), got ${JSON.stringify(md.queueName)}`);
      }
      if (!['QueueLength', 'MessageRate'].includes(md.mode)) err(so, `${p}/metadata/mode`, 'must be QueueLength or MessageRate');
      if (!(Number(md.value) > 0)) err(so, `${p}/metadata/value`, 'must be a positive number (as a string)');
      if (md.protocol && !['amqp', 'http', 'auto'].includes(md.protocol)) err(so, `${p}/metadata/protocol`, 'must be amqp, http or auto');
      if (t.authenticationRef) {
        const kind = t.authenticationRef.kind ?? 'TriggerAuthentication';
        const ta = find(kind, t.authenticationRef.name);
        if (!ta) err(so, `${p}/authenticationRef`, `${kind} "${t.authenticationRef.name}" is not in the output`);
        else {
          const refs = ta.spec?.secretTargetRef ?? [];
          if (!refs.some((r) => r.parameter === 'host')) err(ta, '/spec/secretTargetRef', 'must provide the "host" parameter (the AMQP URL)');
          refs.forEach((r, j) => checkSecretRef(ta, `/spec/secretTargetRef/${j}`, r.name, r.key, false));
        }
      } else if (!md.host && !md.hostFromEnv) err(so, p, 'needs authenticationRef (host from a Secret) or metadata.hostFromEnv');
    });
  }
  const autoscalers = [...byKind('HorizontalPodAutoscaler'), ...byKind('ScaledObject')];
  if (profile.autoscaler === 'none' && autoscalers.length > 0) report.error(where, `expected no autoscaler, found ${autoscalers.map(resName).join(', ')}`);
  if (profile.autoscaler && profile.autoscaler !== 'none') {
    const fetcher = crawlfleet.find((w) => component(w) === 'fetcher');
    const owner = fetcher && scaled.get(`${fetcher.kind}/${fetcher.metadata.name}`);
    if (!owner || !owner.startsWith(`${profile.autoscaler} `)) report.error(where, `the fetcher must be scaled by a ${profile.autoscaler} (got ${owner ?? 'none'})`);
  }
}

// App settings: each service's rendered config.json + env through the app's loader.
function appSettingsCheck(docs, where, report, ctx, mod) {
  const find = (k, n) => docs.find((d) => d.kind === k && d.metadata?.name === n);
  for (const { w, p, c } of ctx.appContainers) {
    const env = {};
    for (const e of c.env ?? []) {
      if (typeof e.value === 'string') env[e.name] = e.value;
      const s = e.valueFrom?.secretKeyRef;
      if (s) {
        const secret = find('Secret', s.name);
        env[e.name] = secret ? decodeSecret(secret)[s.key] : ctx.exampleSecret?.[s.key];
      }
    }
    const configFile = env.CONFIG_FILE;
    let file = null;
    if (configFile) {
      const m = (c.volumeMounts ?? []).find((x) => x.mountPath === path.posix.dirname(configFile));
      const vol = (w.spec.template.spec.volumes ?? []).find((v) => v.name === m?.name);
      const text = vol?.configMap && find('ConfigMap', vol.configMap.name)?.data?.[path.posix.basename(configFile)];
      if (typeof text === 'string') {
        try {
          file = /\.ya?ml$/.test(configFile) ? null : JSON.parse(text);
        } catch {
          continue; // reported by the policy check
        }
      }
    }
    const problem = checkAppSettings(mod, file ?? {}, env);
    if (problem) report.error(`${where} ${resName(w)}`, `${p}: settings rejected by the app's config schema: ${problem}`);
  }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------
async function main() {
  if (!existsSync(path.join(HERE, '../node_modules/kubernetes-models'))) {
    throw new Error('run me through scripts/validate-deploy.sh (it installs the tools and runs me from their cache directory)');
  }
  const args = process.argv.slice(2);
  let repo = process.cwd();
  let secretExample;
  let registryFile;
  const targets = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--repo') repo = args[++i];
    else if (args[i] === '--secret-example') secretExample = args[++i];
    else if (args[i] === '--registry') registryFile = args[++i];
    else {
      const m = /^([a-z]+)(-[\w-]+)?=(.+)$/.exec(args[i]);
      if (!m || !PROFILES[m[1]]) throw new Error(`bad argument ${args[i]} (want base|dev|prod[-suffix]=FILE)`);
      targets.push({ name: `${m[1]}${m[2] ?? ''}`, profile: PROFILES[m[1]], file: m[3] });
    }
  }
  if (targets.length === 0) throw new Error('no targets');

  const report = new Report('k8s');
  try {
    const registry = await loadServiceRegistry(repo, registryFile);
    SERVICES = registry.names;
    QUEUE_OF = registry.queueOf;
    REGISTRY_SOURCE = registry.source;
  } catch (e) {
    report.error('services', e.message);
    exitWith(report.print());
    return;
  }
  const kindsSeen = new Map();
  const loaded = [];
  const ctxBase = {};
  if (secretExample) {
    const docs = loadYamlDocs(secretExample, report);
    const where = path.relative(repo, secretExample);
    await schemaCheck(docs, where, report, kindsSeen);
    loaded.push({ where, docs });
    const secret = docs.find((d) => d.kind === 'Secret');
    if (!secret) report.error(where, 'no Secret in the example');
    else {
      ctxBase.exampleSecret = decodeSecret(secret);
      ctxBase.exampleSecretKeys = new Set(Object.keys(ctxBase.exampleSecret));
    }
  }
  for (const t of targets) {
    const docs = loadYamlDocs(t.file, report);
    if (docs.length === 0) report.error(t.name, 'no documents rendered');
    await schemaCheck(docs, t.name, report, kindsSeen);
    loaded.push({ where: t.name, docs, target: t });
  }
  const typeIndex = buildTypeIndex(kindsSeen);
  for (const l of loaded) strictCheck(l.docs, l.where, report, typeIndex);
  const mod = await loadAppConfigModule(repo);
  let resources = 0;
  for (const l of loaded) {
    resources += l.docs.length;
    if (!l.target) continue;
    const ctx = { ...ctxBase, configMaps: new Set(), appContainers: [] };
    policyCheck(l.docs, l.where, l.target.profile, report, ctx);
    if (mod) appSettingsCheck(l.docs, l.where, report, ctx, mod);
  }
  const kinds = [...kindsSeen.keys()].map((k) => k.replace('|', ' ')).join(', ');
  exitWith(report.print(`${resources} resources in ${loaded.map((l) => l.where).join(', ')}: schema + strict fields + policy${mod ? ' + app settings' : ''} (${kinds})`));
}

main().catch((err) => {
  console.error(`ERROR [k8s] validator crashed: ${err?.stack ?? err}`);
  process.exitCode = 2;
});
