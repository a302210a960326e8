/**
 * The GraphQL API through a real HTTP server and a graphql-ws client on the simulated rig:
 * subscribe, set an output, see the SET frame leave, see telemetry follow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { SIM_PSU_SERIALS } from '../../src/rig.js';
import { psuDeviceId } from '../../src/families/flatpack2/view.js';

const idA = psuDeviceId(SIM_PSU_SERIALS[0]);
const idB = psuDeviceId(SIM_PSU_SERIALS[1]);

const DEVICES = `{ devices { id kind name online lastSeen ... on Flatpack2Psu { serial outputVoltageV outputCurrentA outputPowerW inputVoltageV intakeTempC outputTempC state setpoint { voltageV currentA origin at } warnings alarms } } }`;
const SET = `mutation($input: SetPsuOutputInput!) { setPsuOutput(input: $input) { voltageV currentA clamped deviceIds sent message } }`;

type Dev = { id: string; online: boolean; outputVoltageV: number | null; outputCurrentA: number | null; setpoint: { voltageV: number; currentA: number; origin: string } | null };

describe('GraphQL API over HTTP and WebSocket', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ speed: 10, pack: { socPct: 30 } });
    await waitFor(async () => {
      const r = await s.gql<{ devices: Dev[] }>(DEVICES);
      return r.data?.devices.length === 2 && r.data.devices.every((d) => d.online);
    }, 'both simulated PSUs online');
  });
  afterAll(async () => s?.stop());

  it('reports the simulated rig', async () => {
    const r = await s.gql<{ system: { simulated: boolean } }>('{ system { simulated } }');
    expect(r.data?.system.simulated).toBe(true);
  });

  it('lists both PSUs with live values and resolves device(id)', async () => {
    const r = await s.gql<{ devices: Dev[] }>(DEVICES);
    expect(r.errors).toBeUndefined();
    expect(r.data!.devices.map((d) => d.id).sort()).toEqual([idA, idB].sort());
    const one = await s.gql<{ device: { id: string; serial: string } }>(`query($id: ID!) { device(id: $id) { id ... on Flatpack2Psu { serial } } }`, { id: idB });
    expect(one.data?.device).toEqual({ id: idB, serial: SIM_PSU_SERIALS[1] });
  });

  it('subscribe, set an output, see the SET frame leave and telemetry follow', async () => {
    const client = s.ws();
    const events = collect<{ events: { type: string; data: { origin: string; voltageV: number } } }>(client, `subscription { events(types: ["setpoint.accepted"]) { type data } }`);
    const telemetry = collect<{ telemetry: { deviceId: string; outputCurrentA: number | null; outputVoltageV: number | null } }>(
      client,
      `subscription($id: ID) { telemetry(deviceId: $id) { deviceId outputCurrentA outputVoltageV } }`,
      { id: idA },
    );
    const changed = collect<{ deviceChanged: { id: string } }>(client, `subscription { deviceChanged { id online } }`);
    await waitFor(() => telemetry.items.length > 0, 'first telemetry point');

    const r = await s.gql<{ setPsuOutput: { voltageV: number; currentA: number; deviceIds: string[]; sent: boolean } }>(SET, {
      input: { deviceId: idA, voltageV: 54.0, currentA: 12.0 },
    });
    expect(r.errors).toBeUndefined();
    expect(r.data!.setPsuOutput).toMatchObject({ voltageV: 54, currentA: 12, sent: true });
    expect(r.data!.setPsuOutput.deviceIds.sort()).toEqual([idA, idB].sort());

    await waitFor(() => events.items.length > 0, 'setpoint.accepted over graphql-ws');
    expect(events.items[0].events.data).toMatchObject({ origin: 'api', voltageV: 54 });

    // The SET frame left on the wire: 12.0 A (0x0078), 54.00 V (0x1518) twice, OVP 59.50 V (0x173E).
    type FrameNode = { protocol: string; link: string; address: string; bytesHex: string; dir: string; meta: unknown };
    const frames = await s.gql<{ frames: { edges: Array<{ node: FrameNode }> } }>(
      `{ frames(filter: { dir: "tx", kind: "set" }, first: 5) { edges { node { protocol link address bytesHex dir meta } } } }`,
    );
    expect(frames.data!.frames.edges[0].node).toEqual({
      protocol: 'can',
      link: 'can0',
      address: '05FF4004',
      bytesHex: '78 00 18 15 18 15 3E 17',
      dir: 'tx',
      meta: { extended: true, remote: false },
    });
    // The generic filter finds the same frame by protocol and address.
    const byAddress = await s.gql<{ frames: { edges: Array<{ node: { bytesHex: string } }> } }>(
      `{ frames(filter: { protocol: "can", link: "can0", address: "05FF4004" }, first: 1) { edges { node { bytesHex } } } }`,
    );
    expect(byAddress.data!.frames.edges[0].node.bytesHex).toBe('78 00 18 15 18 15 3E 17');

    // Telemetry follows the setpoint: current rises to the 12 A limit into the low pack.
    await waitFor(() => telemetry.items.some((p) => (p.telemetry.outputCurrentA ?? 0) > 10), 'current to follow the setpoint', 15_000);
    expect(telemetry.items.every((p) => p.telemetry.deviceId === idA)).toBe(true);
    expect(changed.items.length).toBeGreaterThan(0);

    const dev = await s.gql<{ device: Dev }>(`query($id: ID!) { device(id: $id) { ... on Flatpack2Psu { setpoint { voltageV currentA origin } } } }`, { id: idB });
    expect(dev.data!.device.setpoint).toEqual({ voltageV: 54, currentA: 12, origin: 'api' });
    events.stop();
    telemetry.stop();
    changed.stop();
  });

  it('refuses bad setpoints with a typed error and sends nothing', async () => {
    const before = await s.gql<{ frames: { edges: unknown[] } }>(`{ frames(filter: { dir: "tx", kind: "set" }, first: 100) { edges { cursor } } }`);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ deviceId: idA, voltageV: 60, currentA: 10 }, 'OUT_OF_RANGE', /outside 43\.5–57\.6 V/],
      [{ deviceId: 'all', voltageV: 50, currentA: 50 }, 'OUT_OF_RANGE', /outside 0\.1–41\.7 A/],
      [{ deviceId: 'fp2-nope', voltageV: 50, currentA: 5 }, 'NOT_FOUND', /no device "fp2-nope"/],
    ];
    for (const [input, code, msg] of cases) {
      const r = await s.gql(SET, { input });
      expect(r.errors?.[0].extensions?.code).toBe(code);
      expect(r.errors?.[0].message).toMatch(msg);
    }
    const after = await s.gql<{ frames: { edges: unknown[] } }>(`{ frames(filter: { dir: "tx", kind: "set" }, first: 100) { edges { cursor } } }`);
    expect(after.data!.frames.edges.length).toBe(before.data!.frames.edges.length);
    const rej = await s.gql<{ events: { edges: Array<{ node: { data: { code: string } } }> } }>(
      `{ events(filter: { types: ["setpoint.rejected"] }, first: 10) { edges { node { data } } } }`,
    );
    expect(rej.data!.events.edges.map((e) => e.node.data.code)).toEqual(['NOT_FOUND', 'OUT_OF_RANGE', 'OUT_OF_RANGE']);
  });

  it('pages frames and events with cursors', async () => {
    const p1 = await s.gql<{ frames: { edges: Array<{ cursor: string; node: { id: string } }>; pageInfo: { endCursor: string; hasNextPage: boolean } } }>(
      `{ frames(first: 3) { edges { cursor node { id } } pageInfo { endCursor hasNextPage } } }`,
    );
    expect(p1.data!.frames.edges).toHaveLength(3);
    expect(p1.data!.frames.pageInfo.hasNextPage).toBe(true);
    const p2 = await s.gql<{ frames: { edges: Array<{ node: { id: string } }> } }>(`query($a: String) { frames(first: 3, after: $a) { edges { node { id } } } }`, {
      a: p1.data!.frames.pageInfo.endCursor,
    });
    const ids1 = p1.data!.frames.edges.map((e) => Number(e.node.id));
    const ids2 = p2.data!.frames.edges.map((e) => Number(e.node.id));
    expect(Math.min(...ids1)).toBeGreaterThan(Math.max(...ids2));
  });

  it('serves downsampled telemetry history', async () => {
    const r = await s.gql<{ telemetry: { nodes: Array<{ at: string; outputVoltageV: number }> } }>(
      `query($id: ID!) { telemetry(deviceId: $id, maxPoints: 10) { nodes { at outputVoltageV } } }`,
      { id: idA },
    );
    expect(r.errors).toBeUndefined();
    const pts = r.data!.telemetry.nodes;
    expect(pts.length).toBeGreaterThan(1);
    expect(pts.length).toBeLessThanOrEqual(10);
    expect(pts[0].outputVoltageV).toBeGreaterThan(40);
    expect(Date.parse(pts[1].at)).toBeGreaterThan(Date.parse(pts[0].at));
  });

  it('serves GraphiQL with its assets inlined (no CDN)', async () => {
    const html = await (await fetch(`${s.url}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(html).toMatch(/<title>powerplane<\/title>/);
    expect(html).toMatch(/renderYogaGraphiQL/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:/);
  });

  it('answers subscriptions over SSE on the same URL', async () => {
    const ctrl = new AbortController();
    const res = await fetch(`${s.url}/graphql?query=${encodeURIComponent(`subscription { telemetry { deviceId outputVoltageV } }`)}`, {
      headers: { accept: 'text/event-stream' },
      signal: ctrl.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('outputVoltageV')) text += new TextDecoder().decode((await reader.read()).value);
    ctrl.abort();
    expect(text).toMatch(/"deviceId":"fp2-/);
  });
});

describe('API token', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ apiToken: 'correct-horse-battery-staple' });
  });
  afterAll(async () => s?.stop());

  it('refuses mutations and (since defect 9.4) reads without the token, over HTTP and WebSocket', async () => {
    const r = await s.gql(`mutation { standby(deviceId: "all") { message } }`);
    expect(r.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    const wrong = await s.gql(`mutation { standby(deviceId: "all") { message } }`, undefined, { authorization: 'Bearer nope' });
    expect(wrong.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    const read = await s.gql<{ devices: unknown[] }>('{ devices { id } }');
    expect(read.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    const readOk = await s.gql<{ devices: unknown[] }>('{ devices { id } }', undefined, { authorization: 'Bearer correct-horse-battery-staple' });
    expect(readOk.errors).toBeUndefined();
    const ok = await s.gql(`mutation { standby(deviceId: "all") { message } }`, undefined, { authorization: 'Bearer correct-horse-battery-staple' });
    // Authorized: the gate now decides (PSUs may not be online yet in this fresh rig).
    expect(ok.errors?.[0]?.extensions?.code ?? 'OK').not.toBe('UNAUTHENTICATED');
    const client = s.ws();
    const res = await new Promise<{ errors?: Array<{ extensions?: { code?: string } }> }>((resolve) => {
      client.subscribe({ query: `mutation { standby(deviceId: "all") { message } }` }, { next: (v) => resolve(v as never), error: (e) => resolve({ errors: [{ extensions: { code: String(e) } }] }), complete: () => {} });
    });
    expect(res.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });
});
