/**
 * Serves the built dashboard (web-client/dist) with sirv: ETags, long immutable caching of
 * the hashed files under /assets/, `no-cache` (revalidate) for the rest, and 404 for any
 * path that is not a file. The dashboard routes with the URL hash (#/chargers), so there
 * is no SPA fallback: /metrics or /admin is a 404, never the dashboard's HTML.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import sirv from 'sirv';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB_ROOT = resolve(here, '..', 'web-client', 'dist');

const NOT_BUILT =
  '<!doctype html><meta charset="utf-8"><title>powerplane</title><body style="font-family:sans-serif;background:#111;color:#eee">' +
  '<h1>powerplane</h1><p>The dashboard is not built (npm run build:web). The API is at <a style="color:#8cf" href="/graphql">/graphql</a>.</p>';

export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => void;

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ message: 'no such path; the dashboard is at / and the API at /graphql', extensions: { code: 'NOT_FOUND' } }] }));
}

export function createStaticHandler(root = WEB_ROOT): StaticHandler {
  const built = existsSync(join(root, 'index.html'));
  const files = built
    ? sirv(root, {
        etag: true,
        // The build writes a .gz beside each text file (web-client/vite.config.ts).
        gzip: true,
        maxAge: 0, // revalidate by ETag…
        setHeaders: (res, pathname) => {
          // …except content-hashed build output, which never changes under its name.
          if (pathname.startsWith('/assets/')) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
        },
        onNoMatch: (_req, res) => notFound(res),
      })
    : null;
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: `${req.method} is not accepted here; the API is POST /graphql`, extensions: { code: 'METHOD_NOT_ALLOWED' } }] }));
      return;
    }
    if (files) return files(req, res);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(NOT_BUILT);
      return;
    }
    notFound(res);
  };
}
