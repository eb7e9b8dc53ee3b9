#!/usr/bin/env node
// crawlctl: command-line client of the controller's HTTP API (`crawlctl --help`).
// The implementation is cli/crawlctl.ts, compiled to dist/ by `npm run build`.
let mod;
try {
  mod = await import(new URL('../dist/cli/crawlctl.js', import.meta.url).href);
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/crawlctl.js')) {
    console.error('crawlctl is not built: run `npm run build` first');
    process.exit(2);
  }
  throw err;
}
// `crawlctl results <id> | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err && err.code === 'EPIPE') process.exit(0);
  throw err;
});
process.exit(await mod.main(process.argv.slice(2)));
