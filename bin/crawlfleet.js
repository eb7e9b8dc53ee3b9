#!/usr/bin/env node
// Starts one crawlfleet service: `crawlfleet <service>` (the list is shared/pipeline/services.ts).
// This is the container command; `npm start` runs the same launcher once per process.
// `crawlfleet namespace delete <ns> [--force]` removes a namespace (scripts/namespace.ts).
// `crawlfleet migrate [--wait <s>]` drains the previous release's queue layout (scripts/migrate.ts).
const dist = (path) => new URL(`../dist/${path}`, import.meta.url).href;

async function load(path) {
  try {
    return await import(dist(path));
  } catch (err) {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(`dist/${path}`)) {
      console.error('crawlfleet is not built: run `npm run build` first');
      process.exit(2);
    }
    throw err;
  }
}

const { SERVICE_NAMES, isServiceName } = await load('shared/pipeline/services.js');
const name = process.argv[2];
if (name === 'namespace') {
  const { main } = await load('scripts/namespace.js');
  process.exit(await main(process.argv.slice(3)));
}
if (name === 'migrate') {
  const { main } = await load('scripts/migrate.js');
  process.exit(await main(process.argv.slice(3)));
}
if (!isServiceName(name)) {
  console.error(`usage: crawlfleet <${SERVICE_NAMES.join('|')}>\n       crawlfleet namespace delete <namespace> [--force]\n       crawlfleet migrate [--wait <seconds>]`);
  process.exit(2);
}
const mod = await load(`services/${name}/index.js`);
try {
  await mod.main();
} catch (err) {
  console.error(JSON.stringify({ level: 'fatal', service: name, msg: 'failed to start', err: err && err.message }));
  process.exit(1);
}
