// @ts-check
// The web console's build (`npm run build:console`, part of `npm run build`): one HTML page,
// one hashed script and stylesheet into dist/console-ui, served by the controller
// (services/controller/console.ts) at / with the assets under /console/. No CDN: everything
// the page loads comes from the controller.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  logLevel: 'warn',
  build: {
    outDir: resolve(import.meta.dirname, '../dist/console-ui'),
    emptyOutDir: true,
    target: 'es2022',
    // No inline module-preload polyfill: the Content-Security-Policy allows scripts of this origin only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { proxy: { '^/(sessions|config|replicas|stats)': 'http://127.0.0.1:8080' } },
});
