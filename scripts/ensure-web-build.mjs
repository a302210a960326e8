#!/usr/bin/env node
/**
 * Builds the dashboard (web-client → web-client/dist) when it is missing or older than its
 * sources, so `npm install && npm start` on a fresh clone serves it with no extra step.
 * `--force` always builds (postinstall). Exits non-zero when the build fails.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const client = join(root, 'web-client');
const builtIndex = join(client, 'dist', 'index.html');

/** Newest modification time under `dir`, skipping the build output. */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue;
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  if (process.argv.includes('--force')) return 'forced';
  if (!existsSync(builtIndex)) return 'web-client/dist is missing';
  if (newestMtime(client) > statSync(builtIndex).mtimeMs) return 'web-client sources changed since the last build';
  return null;
}

if (!existsSync(join(client, 'index.html'))) {
  console.error('ensure-web-build: no web-client/index.html; nothing to build');
  process.exit(0);
}
const why = needsBuild();
if (why) {
  const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  if (!existsSync(vite)) {
    // A production install (npm install --omit=dev) has no vite: it serves the dashboard it came with.
    if (existsSync(builtIndex)) {
      console.error('ensure-web-build: vite is not installed (a production install); serving the dashboard already built in web-client/dist');
      process.exit(0);
    }
    console.error('ensure-web-build: vite is not installed; run `npm install` (with the devDependencies) first');
    process.exit(1);
  }
  console.error(`ensure-web-build: building the dashboard (${why})`);
  const r = spawnSync(process.execPath, [vite, 'build', client, '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
