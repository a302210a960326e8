/**
 * Builds the dashboard into web-client/dist, which the server serves at /. `npm run build:web`
 * (also run by postinstall and, when stale, by prestart/pretest). For development,
 * `npx vite web-client` proxies the API to a server on :4000.
 */
import { defineConfig, type Plugin } from 'vite';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** Writes a .gz beside every text file of the build; the server (sirv, gzip: true) sends it to browsers that accept gzip. */
function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'powerplane-precompress',
    apply: 'build',
    configResolved(c) {
      outDir = join(c.root, c.build.outDir);
    },
    closeBundle() {
      const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
      for (const f of walk(outDir)) if (/\.(js|css|html|svg|webmanifest)$/.test(f)) writeFileSync(`${f}.gz`, gzipSync(readFileSync(f), { level: 9 }));
    },
  };
}

export default defineConfig({
  base: '/',
  plugins: [precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Everything is served by our own server: no CDN, no web fonts, no external requests.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  server: {
    proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } },
  },
});
