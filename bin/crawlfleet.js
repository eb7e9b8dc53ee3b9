#!/usr/bin/env node
// Starts one crawlfleet service: `crawlfleet <controller|fetcher|extractor|delivery|cleaner>`.
// This is the container command; `npm start` runs the same launcher once per process.
const SERVICES = ['controller', 'fetcher', 'extractor', 'delivery', 'cleaner'];
const name = process.argv[2];
if (!SERVICES.includes(name)) {
  console.error(`usage: crawlfleet <${SERVICES.join('|')}>`);
  process.exit(2);
}
let mod;
try {
  mod = await import(new URL(`../dist/services/${name}/index.js`, import.meta.url).href);
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(`dist/services/${name}/index.js`)) {
    console.error('crawlfleet is not built: run `npm run build` first');
    process.exit(2);
  }
  throw err;
}
try {
  await mod.main();
} catch (err) {
  console.error(JSON.stringify({ level: 'fatal', service: name, msg: 'failed to start', err: err && err.message }));
  process.exit(1);
}
