/**
 * Builds the dashboard into web-client/dist, which the server serves at /. `npm run build:web`
 * (also run by postinstall and, when stale, by prestart/pretest). For development,
 * `npx vite web-client` proxies the API to a server on :4000.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
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
