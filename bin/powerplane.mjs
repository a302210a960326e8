#!/usr/bin/env node
// Runs the built server (dist/, made by `npm install` / `npm run build`). In a source checkout
// a source newer than the build is rebuilt first (esbuild, about a second), so the command
// never runs stale code; a packaged install (no src/) just runs dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/cli.js', import.meta.url);
const { staleReason, build } = await import('../scripts/build.mjs').catch(() => ({ staleReason: () => null, build: null }));
const why = staleReason();
if (why && build) {
  try {
    await build({ quiet: true });
  } catch (e) {
    if (!existsSync(fileURLToPath(dist))) {
      console.error(`powerplane: cannot build dist/ (${e.message})`);
      process.exit(2);
    }
    console.error(`powerplane: dist/ is out of date (${why}) and could not be rebuilt (${e.message}); running it anyway`);
  }
}
if (!existsSync(fileURLToPath(dist))) {
  console.error('powerplane: dist/cli.js is missing; run `npm install` (or `npm run build`) in the powerplane folder');
  process.exit(2);
}
await import(dist.href);
