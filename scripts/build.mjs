#!/usr/bin/env node
/**
 * Builds the server: every src/**\/*.ts transpiled by esbuild to dist/ (same tree, one .js per
 * .ts, ESM for Node 20), so `node dist/cli.js` runs without tsx. Types are checked separately
 * (`npm run typecheck`); this is a transpile, about a second for the whole tree.
 *
 * Why per-file and not one bundle: the relative paths the sources use at run time (migrations/,
 * web-client/dist, package.json) stay the same from dist/ as from src/, the device families
 * stay lazily imported, and native packages (better-sqlite3, serialport, node-hid) need no
 * special handling. Dependencies are loaded from node_modules as they are.
 *
 *   node scripts/build.mjs             build
 *   node scripts/build.mjs --if-stale  build only when a source is newer than the last build
 *                                      (or dist/ is missing); without esbuild (a production
 *                                      install) an existing dist/ is kept as it is
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, rmdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const stamp = join(dist, '.build-stamp');

function tsFiles(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Why dist/ must be rebuilt, or null when it is current. */
export function staleReason() {
  if (!existsSync(src)) return null; // a packaged install: dist/ is all there is
  if (!existsSync(stamp)) return 'dist/ has not been built';
  const built = statSync(stamp).mtimeMs;
  const newer = [...tsFiles(src), join(root, 'drizzle', 'schema.ts')].find((f) => existsSync(f) && statSync(f).mtimeMs > built);
  if (newer) return `${newer.slice(root.length + 1)} changed since the last build`;
  // A deleted source leaves its .js behind; the next full build clears dist/.
  return null;
}

/** Builds dist/ (one build at a time per checkout: concurrent callers wait for it). */
export async function build({ quiet = false } = {}) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error('esbuild is not installed (it is a devDependency): run `npm install` in the powerplane folder');
  }
  const lock = join(root, '.dist-build.lock');
  const t0 = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Someone else is building: wait for them, then see whether anything is left to do.
      if (Date.now() - t0 > 60_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 100));
      if (!staleReason()) return;
    }
  }
  try {
    rmSync(dist, { recursive: true, force: true });
    const entryPoints = tsFiles(src);
    const common = { format: 'esm', platform: 'node', target: 'node20', sourcemap: 'linked', logLevel: quiet ? 'error' : 'warning' };
    // TypeScript a source imports from outside src/ (drizzle/schema.ts) is built under
    // dist/_root/ and the import pointed there; every other relative path stays as it was.
    const outside = new Map(); // absolute .ts path → its output path
    const rewrites = [];
    for (const f of entryPoints) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
        const target = resolve(dirname(f), m[1] + '.ts');
        if (target.startsWith(src + '/') || !target.startsWith(root + '/') || !existsSync(target)) continue;
        const out = join(dist, '_root', relative(root, target)).replace(/\.ts$/, '.js');
        outside.set(target, out);
        const from = join(dist, relative(src, f)).replace(/\.ts$/, '.js');
        let spec = relative(dirname(from), out);
        if (!spec.startsWith('.')) spec = './' + spec;
        rewrites.push({ file: from, was: `"${m[1]}.js"`, now: JSON.stringify(spec) });
      }
    }
    await esbuild.build({ entryPoints, outdir: dist, outbase: src, ...common });
    if (outside.size) await esbuild.build({ entryPoints: [...outside.keys()], outdir: join(dist, '_root'), outbase: root, ...common });
    for (const r of rewrites) {
      const js = readFileSync(r.file, 'utf8');
      if (!js.includes(r.was)) throw new Error(`build: ${r.file} has no import ${r.was} to point at ${r.now}`);
      writeFileSync(r.file, js.split(r.was).join(r.now));
    }
    writeFileSync(stamp, new Date().toISOString() + '\n');
    if (!quiet) console.error(`build: ${entryPoints.length} files → dist/ in ${Date.now() - t0} ms`);
  } finally {
    rmdirSync(lock);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ifStale = process.argv.includes('--if-stale');
  const why = ifStale ? staleReason() : 'requested';
  if (why) {
    try {
      if (ifStale) console.error(`build: rebuilding dist/ (${why})`);
      await build();
    } catch (e) {
      if (ifStale && existsSync(join(dist, 'cli.js'))) console.error(`build: ${e.message}; running the existing dist/`);
      else {
        console.error(`build: ${e.message}`);
        process.exit(1);
      }
    }
  }
}
