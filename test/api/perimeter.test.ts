/**
 * Issue 9, the HTTP perimeter through real servers: malformed requests (9.1), the CLI's
 * --host (9.2), cross-origin pages (9.3) and unknown paths (9.9).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { spyWire, type WireSpy } from '../helpers/wire.js';
import { mulberry32 } from '../helpers/rng.js';
import { BIN, spawnServer } from '../helpers/server-process.js';

const MUTATION = 'mutation { setPsuOutput(input: { deviceId: "all", voltageV: 53, currentA: 5 }) { sent } }';

/** One raw HTTP/1.1 exchange: whatever bytes we like, the status line (or "closed") back. */
function raw(port: number, request: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    const done = () => resolve(/^HTTP\/1\.[01] \d{3}/.exec(got)?.[0] ?? 'closed');
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('data', (b) => (got += b.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', done);
    sock.end(request);
  });
}

async function startCli(args: string[]): Promise<{ child: ChildProcess; url: string; out: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pp-perim-'));
  const s = await spawnServer(['--port', '0', '--db', join(dir, 'sim.db'), ...args]);
  return { child: s.child, url: s.url, out: s.log };
}

describe('defect 9.1: no request ends the process', () => {
  let cli: Awaited<ReturnType<typeof startCli>>;
  beforeAll(async () => {
    cli = await startCli(['--sim-speed', '1']);
  }, 120_000);
  afterAll(async () => {
    if (cli && cli.child.exitCode === null) {
      cli.child.kill('SIGTERM');
      await new Promise((r) => cli.child.once('exit', r));
    }
  });

  it('defect 9.1: GET /% does not kill the process (404, and the API still answers)', async () => {
    const r = await fetch(`${cli.url}/%`);
    expect(r.status).toBe(404);
    expect((await r.json()).errors[0].extensions.code).toBe('NOT_FOUND');
    const api = await fetch(`${cli.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ system { simulated } }' }) });
    expect(await api.json()).toEqual({ data: { system: { simulated: true } } });
  });

  it('defect 9.1: a fuzz of malformed paths, encodings, methods and headers leaves the server answering', async () => {
    const port = Number(new URL(cli.url).port);
    const rnd = mulberry32(0x9001);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const pieces = ['%', '%%', '%e0%a4%a', '%c0%ae', '%2e%2e%2f', '%00', '%ff', '%u0041', '..', '/', '//', '\\', '?', '#', ';', 'assets', 'graphql', 'index.html', 'é', '\u2028', 'a'.repeat(300), '%25', '+', '&', '=', '%zz'];
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'FOO', 'get', 'G\u00e9T'];
    const headerLines = [
      'Content-Type: application/json',
      'Content-Type: application/x-www-form-urlencoded',
      'Content-Type: multipart/form-data; boundary=x',
      'Content-Type: text/plain',
      'Content-Type: ;;;',
      'Origin: null',
      'Origin: http://evil.example',
      'Origin: %',
      'Authorization: Bearer %',
      'Authorization: \u00ff\u00fe',
      'Accept: text/event-stream',
      'Accept: text/html',
      'Accept: */*;q=%',
      'Accept-Encoding: br, gzip',
      'Range: bytes=-5-',
      'If-None-Match: "x"',
      'X-Graphql-Yoga-Csrf: 1',
      'Sec-Fetch-Site: cross-site',
      'Transfer-Encoding: chunked',
      'Content-Length: 5',
      'Content-Length: -1',
      'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %%%',
    ];
    const bodies = ['', '{', '{"query":1}', '{"query":"{ system { simulated } }","variables":"x"}', 'query=%', '--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"' + MUTATION.replace(/"/g, '\\"') + '"}\r\n--x--', 'zz\r\nnot-a-chunk', '[' .repeat(5000)];
    const requests: string[] = ['GET /% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'];
    for (let i = 0; i < 240; i++) {
      const path = (pick(['/', '/graphql', '/assets/', '/graphql?query=']) + Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(pieces)).join('')).replace(/[\r\n ]/g, '');
      const heads = Array.from({ length: Math.floor(rnd() * 4) }, () => pick(headerLines));
      const body = pick(bodies);
      requests.push(`${pick(methods)} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${heads.join('\r\n')}${heads.length ? '\r\n' : ''}Connection: close\r\n\r\n${body}`);
    }
    const statuses: string[] = [];
    for (let i = 0; i < requests.length; i += 16) statuses.push(...(await Promise.all(requests.slice(i, i + 16).map((r) => raw(port, Buffer.from(r, 'latin1'))))));
    // Every request got an answer or a closed connection, none was an internal error…
    expect(statuses.filter((s) => / 5\d\d$/.test(s) && !/ 503$/.test(s))).toEqual([]);
    // …and the process is alive and serving.
    expect(cli.child.exitCode).toBeNull();
    expect(cli.out()).not.toMatch(/URIError|uncaught|Unhandled/i);
    const api = await fetch(`${cli.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ system { simulated } }' }) });
    expect(await api.json()).toEqual({ data: { system: { simulated: true } } });
  }, 120_000);

  it('defect 9.1: garbage on the WebSocket (bad frames, bad JSON, a non-string authorization) leaves the server answering', async () => {
    const url = `${cli.url.replace('http', 'ws')}/graphql`;
    const closeOf = (send: (ws: WebSocket) => void) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, 'graphql-transport-ws');
        ws.on('open', () => send(ws));
        ws.on('error', () => {});
        ws.on('close', (code) => resolve(code));
        setTimeout(() => ws.terminate(), 5000);
      });
    await closeOf((ws) => ws.send('{not json'));
    await closeOf((ws) => ws.send(Buffer.alloc(10, 0xff), { binary: true }));
    await closeOf((ws) => (ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.from([0x8f, 0xff, 1, 2, 3])));
    // defect 9.8 too: a non-string authorization is no token, not a crash of the socket with 4500.
    const code = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(url, 'graphql-transport-ws');
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: { nested: 1 } } })));
      ws.on('message', (m) => {
        resolve(JSON.parse(String(m)).type);
        ws.close();
      });
      ws.on('close', (c) => resolve(c));
    });
    expect(code).toBe('connection_ack');
    expect(cli.child.exitCode).toBeNull();
    const api = await fetch(`${cli.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ system { simulated } }' }) });
    expect(api.status).toBe(200);
  }, 120_000);
});

describe('defect 9.9: unknown paths are 404; the dashboard is served with ETags and immutable assets', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ speed: 10 });
  });
  afterAll(async () => s?.stop());

  it('defect 9.9: /metrics and other unknown paths answer 404, not the dashboard HTML', async () => {
    for (const p of ['/metrics', '/admin', '/graphqlx', '/assets/nope.js', '/index.php', '/%2e%2e/package.json', '/..%2f..%2fpackage.json']) {
      const r = await fetch(`${s.url}${p}`, { headers: { accept: 'text/html' } });
      expect([p, r.status]).toEqual([p, 404]);
      expect(await r.text()).not.toMatch(/<html/i);
    }
    const home = await fetch(`${s.url}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toMatch(/text\/html/);
    const html = await home.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1];
    const a = await fetch(`${s.url}${asset}`);
    expect(a.status).toBe(200);
    expect(a.headers.get('cache-control')).toMatch(/immutable/);
    const etag = home.headers.get('etag')!;
    expect(etag).toBeTruthy();
    expect((await fetch(`${s.url}/`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${s.url}/`, { method: 'DELETE' })).status).toBe(405);
  });
});

describe('defect 9.2: --host beyond loopback meets the token rule', () => {
  it('defect 9.2: serve --host 0.0.0.0 without a token refuses to start (simulated rig and config file)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-host-'));
    const sim = spawnSync(process.execPath, [BIN, 'serve', '--host', '0.0.0.0', '--port', '0', '--db', join(dir, 'a.db')], { encoding: 'utf8', timeout: 20_000 });
    expect(sim.status).toBe(2);
    expect(sim.stderr).toMatch(/server\.tokens: listening on 0\.0\.0\.0 .*needs server\.tokens/);
    expect(sim.stdout).not.toMatch(/serving GraphQL/);
    const cfg = join(dir, 'powerplane.yaml');
    writeFileSync(cfg, 'buses:\n  - id: can0\n    adapter: { path: /dev/null-nothing }\n');
    const file = spawnSync(process.execPath, [BIN, 'serve', '--config', cfg, '--host', '0.0.0.0', '--port', '0', '--db', join(dir, 'b.db')], { encoding: 'utf8', timeout: 20_000 });
    expect(file.status).toBe(2);
    expect(file.stderr).toMatch(/server\.tokens: listening on 0\.0\.0\.0/);
  });
});

describe('defect 9.3: another web page cannot drive the server', () => {
  let s: LiveServer;
  let wire: WireSpy;
  const GOOD = 'http://dashboard.example:8080';
  beforeAll(async () => {
    s = await startLiveServer({ speed: 10, server: { allowedOrigins: [GOOD] } });
    await waitFor(async () => (await s.gql<{ devices: Array<{ online: boolean }> }>('{ devices { online } }')).data?.devices.filter((d) => d.online).length === 2, 'PSUs online');
    wire = spyWire(s.rig);
  });
  afterAll(async () => {
    wire?.detach();
    await s?.stop();
  });

  const setpointEvents = () => s.store.listEvents({ typePrefix: 'setpoint.' }, 1000, null).items.length;

  it('defect 9.3: cross-origin form posts (urlencoded, multipart, text/plain) and JSON posts are refused and nothing goes on the wire', async () => {
    const before = { events: setpointEvents(), sets: wire.sets() };
    const form = new URLSearchParams({ query: MUTATION });
    const multipart = new FormData();
    multipart.set('operations', JSON.stringify({ query: MUTATION }));
    multipart.set('map', '{}');
    const attempts: Array<[string, RequestInit]> = [];
    for (const origin of ['http://evil.example', undefined]) {
      const h: Record<string, string> = origin ? { origin } : {};
      attempts.push([`form ${origin}`, { method: 'POST', headers: { ...h, 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() }]);
      attempts.push([`multipart ${origin}`, { method: 'POST', headers: h, body: multipart }]);
      attempts.push([`text ${origin}`, { method: 'POST', headers: { ...h, 'content-type': 'text/plain' }, body: JSON.stringify({ query: MUTATION }) }]);
    }
    attempts.push(['json evil', { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/json' }, body: JSON.stringify({ query: MUTATION }) }]);
    attempts.push(['json null origin', { method: 'POST', headers: { origin: 'null', 'content-type': 'application/json' }, body: JSON.stringify({ query: MUTATION }) }]);
    for (const [what, init] of attempts) {
      const r = await fetch(`${s.url}/graphql`, init);
      const body = (await r.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
      expect([what, r.status, body.errors?.[0]?.extensions?.code]).toEqual([what, 403, 'CROSS_ORIGIN_REFUSED']);
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
    }
    // A preflight from another page gets no CORS grant.
    const pre = await fetch(`${s.url}/graphql`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    await new Promise((r) => setTimeout(r, 100)); // a SET would be on the (microtask) bus by now
    expect({ events: setpointEvents(), sets: wire.sets() }).toEqual(before);
  });

  it('defect 9.3: SSE from another origin is refused; the same origin and an allow-listed one are served', async () => {
    const q = `${s.url}/graphql?query=${encodeURIComponent('subscription { telemetry { deviceId } }')}`;
    const evil = await fetch(q, { headers: { accept: 'text/event-stream', origin: 'http://evil.example' } });
    expect(evil.status).toBe(403);
    expect((await evil.json()).errors[0].extensions.code).toBe('CROSS_ORIGIN_REFUSED');
    const cross = await fetch(q, { headers: { accept: 'text/event-stream', 'sec-fetch-site': 'cross-site' } });
    expect(cross.status).toBe(403);
    await cross.body?.cancel();
    const same = await fetch(`${s.url}/graphql`, { method: 'POST', headers: { origin: s.url, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ system { simulated } }' }) });
    expect(same.status).toBe(200);
    const listed = await fetch(`${s.url}/graphql`, { method: 'POST', headers: { origin: GOOD, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ system { simulated } }' }) });
    expect(listed.status).toBe(200);
    expect(listed.headers.get('access-control-allow-origin')).toBe(GOOD);
  });

  it('defect 9.3: a cross-origin WebSocket is refused at the upgrade and nothing goes on the wire', async () => {
    const before = { events: setpointEvents(), sets: wire.sets() };
    const url = `${s.url.replace('http', 'ws')}/graphql`;
    const status = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(url, 'graphql-transport-ws', { origin: 'http://evil.example' });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.send(JSON.stringify({ type: 'connection_init' }));
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: MUTATION } }));
        resolve('open');
      });
      ws.on('error', () => {});
    });
    expect(status).toBe(403);
    // The page's own origin still connects.
    const own = await new Promise<string>((resolve) => {
      const ws = new WebSocket(url, 'graphql-transport-ws', { origin: s.url });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init' })));
      ws.on('message', (m) => {
        resolve(JSON.parse(String(m)).type);
        ws.close();
      });
      ws.on('unexpected-response', (_r, res) => resolve(String(res.statusCode)));
      ws.on('error', () => {});
    });
    expect(own).toBe('connection_ack');
    await new Promise((r) => setTimeout(r, 100));
    expect({ events: setpointEvents(), sets: wire.sets() }).toEqual(before);
  });
});
