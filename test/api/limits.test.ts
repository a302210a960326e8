/**
 * Defect 9.5 (bounded requests) and 9.8 (every refusal has a code from src/codes.ts),
 * through real HTTP / WebSocket servers.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { getIntrospectionQuery } from 'graphql';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { makeSimRig, type TestRig } from '../helpers/rig.js';
import { spyWire } from '../helpers/wire.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { silentLogger } from '../../src/log.js';
import { CODES, isCode, withCodesTable } from '../../src/codes.js';

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
const codeOf = async (r: Response) => ((await r.json()) as { errors?: Array<{ extensions?: { code?: string } }> }).errors?.[0]?.extensions?.code;

/** The query of the report: 1,000 aliases of frames(first: 1000), ~106 KB. */
const ALIAS_BOMB = '{' + Array.from({ length: 1000 }, (_, i) => `a${i}: frames(first: 1000) { edges { node { id at link address bytesHex kind } } }`).join(' ') + '}';
/** Under the token and alias limits, over the cost limit. */
const COST_BOMB = '{' + Array.from({ length: 25 }, (_, i) => `a${i}: frames(first: 1000) { edges { node { id bytesHex } } }`).join(' ') + '}';

describe('defect 9.5: every request is bounded', () => {
  let t: TestRig;
  let server: RunningServer;
  beforeAll(async () => {
    t = makeSimRig();
    server = await startServer({ engine: t.rig.engine, log: silentLogger(), host: '127.0.0.1', port: 0 });
    await t.clock.advance(5000);
  });
  afterAll(async () => {
    await server?.close();
    await t?.stop();
  });

  it('defect 9.5: the alias bomb and a cost bomb are refused with QUERY_TOO_COMPLEX before any frame is read, and the keep-alive cadence holds', async () => {
    const wire = spyWire(t.rig);
    const reads = vi.spyOn(t.store, 'listFrames');
    // Bombs in flight while the (fake) clock runs 10 s of control loop.
    const answers = Promise.all([post(server.url, JSON.stringify({ query: ALIAS_BOMB })), post(server.url, JSON.stringify({ query: COST_BOMB })), post(server.url, JSON.stringify({ query: ALIAS_BOMB }))]);
    for (let i = 0; i < 100; i++) await t.clock.advance(100);
    const codes = await Promise.all((await answers).map(codeOf));
    expect(codes).toEqual(['QUERY_TOO_COMPLEX', 'QUERY_TOO_COMPLEX', 'QUERY_TOO_COMPLEX']);
    expect(reads).not.toHaveBeenCalled();
    const ka = wire.keepAlives();
    wire.detach();
    reads.mockRestore();
    expect(ka.length).toBeGreaterThan(10);
    const gaps = ka.slice(1).map((x, i) => x - ka[i]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2000);
  });

  it('defect 9.5: depth, aliases, first: and the page cost are capped with typed codes', async () => {
    const deep = '{ chargers { psus { ... on Flatpack2Psu { setpoint { at } } } } }';
    expect(await codeOf(await post(server.url, JSON.stringify({ query: deep })))).toBeUndefined(); // a normal nested query is fine
    // GraphiQL's introspection query passes; a deeper one (ofType × 16) does not.
    expect(await codeOf(await post(server.url, JSON.stringify({ query: getIntrospectionQuery() })))).toBeUndefined();
    const tooDeep = `{ __schema { types { fields { type ${'{ ofType '.repeat(16)}{ name }${' }'.repeat(16)} } } } }`;
    expect(await codeOf(await post(server.url, JSON.stringify({ query: tooDeep })))).toBe('QUERY_TOO_COMPLEX');
    const aliases = '{' + Array.from({ length: 40 }, (_, i) => `s${i}: system { simulated }`).join(' ') + '}';
    expect(await codeOf(await post(server.url, JSON.stringify({ query: aliases })))).toBe('QUERY_TOO_COMPLEX');
    expect(await codeOf(await post(server.url, JSON.stringify({ query: '{ frames(first: 5000) { edges { cursor } } }' })))).toBe('BAD_USER_INPUT');
    expect(await codeOf(await post(server.url, JSON.stringify({ query: 'query($n: Int) { events(first: $n) { edges { cursor } } }', variables: { n: 100000 } })))).toBe('BAD_USER_INPUT');
    expect(await codeOf(await post(server.url, JSON.stringify({ query: '{ frames(first: 1000) { edges { cursor node { id at protocol link dir address bytesHex text kind deviceId meta } } } }' })))).toBeUndefined();
  });

  it('defect 9.5: a request body over the limit is refused with PAYLOAD_TOO_LARGE', async () => {
    const r = await post(server.url, JSON.stringify({ query: '{ system { simulated } }', variables: { pad: 'x'.repeat(300_000) } }));
    expect(r.status).toBe(413);
    expect(await codeOf(r)).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('defect 9.5: response size, rate and WebSocket connection limits', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ speed: 10, server: { limits: { maxResponseBytes: 4096, rateBurst: 40, ratePerSecond: 0.001, maxWsConnections: 3 } } });
    await waitFor(() => s.store.listFrames({}, 200, null).items.length >= 100, '100 frames recorded');
  });
  afterAll(async () => s?.stop());

  it('defect 9.5: an answer larger than maxResponseBytes is replaced by PAYLOAD_TOO_LARGE', async () => {
    const r = await post(s.url, JSON.stringify({ query: '{ frames(first: 200) { edges { cursor node { id at link dir address bytesHex kind } } } }' }));
    expect(await codeOf(r)).toBe('PAYLOAD_TOO_LARGE');
  });

  it('defect 9.5: the WebSocket connection cap refuses the next one with TOO_MANY_CONNECTIONS', async () => {
    const url = `${s.url.replace('http', 'ws')}/graphql`;
    const open = (): Promise<{ ws: WebSocket; status: number | 'open'; body: string }> =>
      new Promise((resolve) => {
        const ws = new WebSocket(url, 'graphql-transport-ws');
        ws.on('open', () => resolve({ ws, status: 'open', body: '' }));
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (b: Buffer) => (body += b.toString()));
          res.on('end', () => resolve({ ws, status: res.statusCode ?? 0, body }));
        });
        ws.on('error', () => {});
      });
    const first = [await open(), await open(), await open()];
    expect(first.map((c) => c.status)).toEqual(['open', 'open', 'open']);
    const fourth = await open();
    expect(fourth.status).toBe(503);
    expect(fourth.body).toMatch(/^TOO_MANY_CONNECTIONS/);
    for (const c of first) c.ws.close();
  });

  it('defect 9.5: a client over its rate gets RATE_LIMITED (429)', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 45; i++) {
      last = await post(s.url, JSON.stringify({ query: '{ system { simulated } }' }));
      statuses.push(last.status);
      if (last.status === 429) break;
    }
    expect(statuses.at(-1)).toBe(429);
    expect(await codeOf(last!)).toBe('RATE_LIMITED');
  });
});

describe('defect 9.8: every refusal carries a code from the one list', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ speed: 10, server: { tokens: [{ name: 't', role: 'viewer', token: 'viewer-token-0123456789' }] } });
  });
  afterAll(async () => s?.stop());
  const auth = { authorization: 'Bearer viewer-token-0123456789' };

  it('defect 9.8: variable coercion, a bad cursor, deeply nested input, bad JSON and a forbidden mutation all answer a listed code', async () => {
    const deepList = '['.repeat(20_000) + '"x"' + ']'.repeat(20_000);
    const cases: Array<[string, string, string]> = [
      ['coercion', JSON.stringify({ query: 'query($n: Int) { frames(first: $n) { edges { cursor } } }', variables: { n: 'abc' } }), 'BAD_USER_INPUT'],
      ['coercion (input object)', JSON.stringify({ query: 'query($f: FrameFilter) { frames(filter: $f) { edges { cursor } } }', variables: { f: { address: 5, nope: 1 } } }), 'BAD_USER_INPUT'],
      ['missing variable', JSON.stringify({ query: 'query($id: ID!) { device(id: $id) { id } }' }), 'BAD_USER_INPUT'],
      ['bad cursor', JSON.stringify({ query: '{ frames(after: "zzz") { edges { cursor } } }' }), 'BAD_CURSOR'],
      ['bad cursor (events)', JSON.stringify({ query: '{ events(after: "%%%") { edges { cursor } } }' }), 'BAD_CURSOR'],
      ['deep list input', `{"query":"query($t: [String!]) { events(filter: { types: $t }) { edges { cursor } } }","variables":{"t":${deepList}}}`, 'BAD_USER_INPUT'],
      ['bad JSON', '{nope', 'BAD_USER_INPUT'],
      ['syntax', JSON.stringify({ query: '{ frames(' }), 'GRAPHQL_PARSE_FAILED'],
      ['unknown field', JSON.stringify({ query: '{ nope }' }), 'GRAPHQL_VALIDATION_FAILED'],
      ['forbidden', JSON.stringify({ query: 'mutation { standby(deviceId: "all") { sent } }' }), 'FORBIDDEN'],
      ['bad filter', JSON.stringify({ query: '{ frames(filter: { dir: "up" }) { edges { cursor } } }' }), 'BAD_USER_INPUT'],
    ];
    for (const [what, body, code] of cases) {
      const r = await post(s.url, body, auth);
      expect([what, r.status < 500, await codeOf(r)]).toEqual([what, true, code]);
    }
    const noToken = await post(s.url, JSON.stringify({ query: '{ devices { id } }' }));
    expect(await codeOf(noToken)).toBe('UNAUTHENTICATED');
  });

  it('defect 9.8: a non-string authorization in connection_init is no token (UNAUTHENTICATED), not a socket closed 4500', async () => {
    const client = s.ws({ authorization: { not: 'a string' } });
    const err = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: 'subscription { telemetry { deviceId } }' }, { next: (v) => resolve(v.errors), error: resolve, complete: () => {} });
    });
    expect((err as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('defect 9.8: the codes of the gate and the charger are in the list, and the README table is generated from it', () => {
    for (const c of ['OUT_OF_RANGE', 'DEVICE_OFFLINE', 'NOT_FOUND', 'LINK_DOWN', 'CHARGER_OWNS_PSU', 'CONFLICT', 'NOT_CHARGING', 'NO_PSUS', 'ALREADY_CHARGING', 'BMS_OFFLINE', 'UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'BAD_CURSOR', 'QUERY_TOO_COMPLEX', 'RATE_LIMITED', 'TOO_MANY_CONNECTIONS', 'CROSS_ORIGIN_REFUSED', 'PAYLOAD_TOO_LARGE', 'STORAGE_UNAVAILABLE', 'INTERNAL']) {
      expect(isCode(c)).toBe(true);
      expect(CODES[c as keyof typeof CODES].length).toBeGreaterThan(10);
    }
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    expect(withCodesTable(readme), 'README.md codes table differs from src/codes.ts: run npm run docs:codes').toBe(readme);
  });
});
