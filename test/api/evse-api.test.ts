/**
 * The EV charger through a real HTTP / WebSocket server (issue 13 §6): the EvCharger device,
 * its controls through the command gate (allowed range with the circuit limit, roles), its
 * events, and EV sessions in the chargeSessions query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/auth.js';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import type { OpenEvseSim } from '../../src/families/openevse/sim.js';

const TOKENS = { viewer: 'viewer-token-0123456789', operator: 'operator-token-0123456789', admin: 'admin-token-0123456789' } as const;
const as = (who: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[who]}` });

const EV = `query { evChargers { id name online status state capacityA minA maxA circuitLimitA configuredA allowedRange { minA maxA why }
  currentA voltageV powerW sessionKWh vehicleConnected charging firmware protocol heartbeat { state armed intervalS fallbackA }
  temperatures { ds3231C } faultCounters { gfi noGround stuckRelay } } }`;

type Ev = {
  id: string;
  online: boolean;
  status: string;
  state: string | null;
  configuredA: number | null;
  allowedRange: { minA: number; maxA: number; why: string } | null;
  heartbeat: { state: string; armed: boolean; intervalS: number | null; fallbackA: number | null };
  protocol: string | null;
  firmware: string | null;
  charging: boolean | null;
  powerW: number | null;
  sessionKWh: number | null;
};

describe('EvCharger API', () => {
  let s: LiveServer;
  let sim: OpenEvseSim;
  const ev = async () => ((await s.gql<{ evChargers: Ev[] }>(EV, {}, as('viewer'))).data?.evChargers ?? [])[0];

  beforeAll(async () => {
    s = await startLiveServer({
      speed: 5,
      evse: { demoCar: false },
      server: {
        tokens: [
          { name: 'wall-display', role: 'viewer', sha256: sha256Hex(TOKENS.viewer) },
          { name: 'phone', role: 'operator', token: TOKENS.operator },
          { name: 'me', role: 'admin', token: TOKENS.admin },
        ],
      },
    });
    sim = s.rig.sim!.openevse.get('evse')!;
    await waitFor(async () => {
      const e = await ev();
      return e?.online && e.heartbeat.armed && e.allowedRange ? e : null;
    }, 'the EVSE online with its heartbeat armed and its range read', 20_000);
  });
  afterAll(async () => s?.stop());

  it('shows the EVSE: state in words, versions, allowed range capped at the circuit limit, heartbeat armed', async () => {
    const e = (await ev())!;
    expect(e).toMatchObject({ id: 'evse0', online: true, status: 'ready', protocol: '5.2.1', firmware: '8.2.3' });
    expect(e.allowedRange).toMatchObject({ minA: 6, maxA: 32 });
    expect(e.allowedRange!.why).toMatch(/circuit limit 32 A/);
    expect(e.heartbeat).toEqual({ state: 'armed', armed: true, intervalS: 30, fallbackA: 6 });
    // the Device interface lists it too
    const d = await s.gql<{ device: { __typename: string; kind: string } }>(`query { device(id: "evse0") { __typename kind } }`, {}, as('viewer'));
    expect(d.data?.device).toEqual({ __typename: 'EvCharger', kind: 'openevse' });
  });

  it('setEvseCurrent above the circuit limit is refused by the gate with the allowed range, and nothing reaches the board', async () => {
    const before = sim.received.length;
    const r = await s.gql(`mutation { setEvseCurrent(deviceId: "evse0", currentA: 40) { sent } }`, {}, as('operator'));
    expect(r.errors?.[0]?.extensions?.code).toBe('OUT_OF_RANGE');
    expect(r.errors?.[0]?.message).toMatch(/EVSE Garage EVSE: 40 A is outside the allowed 6–32 A/);
    expect(sim.received.slice(before).some((l) => l.startsWith('$SC'))).toBe(false);
    const low = await s.gql(`mutation { setEvseCurrent(deviceId: "evse0", currentA: 5) { sent } }`, {}, as('operator'));
    expect(low.errors?.[0]?.extensions?.code).toBe('OUT_OF_RANGE');
  });

  it('setEvseCurrent within the range is carried out with read-back; a viewer may not', async () => {
    const denied = await s.gql(`mutation { setEvseCurrent(deviceId: "evse0", currentA: 16) { sent } }`, {}, as('viewer'));
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const r = await s.gql<{ setEvseCurrent: { sent: boolean; readBack: Record<string, unknown> | null; device: { configuredA: number } } }>(
      `mutation { setEvseCurrent(deviceId: "evse0", currentA: 16) { sent readBack device { ... on EvCharger { configuredA } } } }`,
      {},
      as('operator'),
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.setEvseCurrent.sent).toBe(true);
    expect(sim.snapshot.capacityA).toBe(16);
    await waitFor(async () => ((await ev())?.configuredA === 16 ? true : null), 'the read-back capacity in the view');
  });

  it('sleepEvse and enableEvse change the state; restartEvse is admin only', async () => {
    const r = await s.gql(`mutation { sleepEvse(deviceId: "evse0") { sent } }`, {}, as('operator'));
    expect(r.errors).toBeUndefined();
    await waitFor(async () => ((await ev())?.status === 'sleeping' ? true : null), 'the EVSE sleeping');
    const e = await s.gql(`mutation { enableEvse(deviceId: "evse0") { sent } }`, {}, as('operator'));
    expect(e.errors).toBeUndefined();
    await waitFor(async () => ((await ev())?.status === 'ready' ? true : null), 'the EVSE ready again');
    const restart = await s.gql(`mutation { restartEvse(deviceId: "evse0") { sent } }`, {}, as('operator'));
    expect(restart.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const unknown = await s.gql(`mutation { sleepEvse(deviceId: "nope") { sent } }`, {}, as('operator'));
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('setEvseLimits on a board built without limits says so (the board refuses), with a code', async () => {
    const r = await s.gql(`mutation { setEvseLimits(deviceId: "evse0", timeMinutes: 60) { sent } }`, {}, as('operator'));
    expect(r.errors?.[0]?.extensions?.code).toBeTruthy();
    expect(r.errors?.[0]?.message).toMatch(/TIME_LIMIT\/CHARGE_LIMIT/);
    const none = await s.gql(`mutation { setEvseLimits(deviceId: "evse0") { sent } }`, {}, as('operator'));
    expect(none.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('a car that charges: state events on the subscription, power, and an EV session in chargeSessions(kind: ev)', async () => {
    const client = s.ws({ authorization: `Bearer ${TOKENS.viewer}` });
    const seen: string[] = [];
    const stop = client.subscribe<{ evChargerEvents: { type: string; data: { state?: string } } }>(
      { query: `subscription { evChargerEvents(deviceId: "evse0") { type data } }` },
      { next: (v) => v.data && seen.push(`${v.data.evChargerEvents.type}:${v.data.evChargerEvents.data.state ?? ''}`), error: () => {}, complete: () => {} },
    );
    await new Promise((r) => setTimeout(r, 200));
    sim.act('plug-in');
    sim.act('request-charge');
    await waitFor(async () => ((await ev())?.charging && (await ev())!.powerW! > 1000 ? true : null), 'the car charging', 20_000);
    await waitFor(() => (seen.includes('evse.state:charging') && seen.some((x) => x.startsWith('ev-session.started')) ? true : null), 'the state and session events');
    const q = `query { chargeSessions(filter: { kind: ev }) { edges { node { id kind chargerId endedAt reason energyKWh durationS avgCurrentA faults samples(maxPoints: 50) { at currentA powerW } } } } }`;
    type Node = { kind: string; chargerId: string; endedAt: string | null; reason: string | null; energyKWh: number };
    const running = await waitFor(async () => {
      const r = await s.gql<{ chargeSessions: { edges: Array<{ node: Node }> } }>(q, {}, as('viewer'));
      return r.data?.chargeSessions.edges[0]?.node ?? null;
    }, 'an EV session listed');
    expect(running).toMatchObject({ kind: 'ev', chargerId: 'evse0', endedAt: null });
    sim.act('unplug');
    const ended = await waitFor(async () => {
      const r = await s.gql<{ chargeSessions: { edges: Array<{ node: Node }> } }>(q, {}, as('viewer'));
      const n = r.data?.chargeSessions.edges[0]?.node;
      return n?.endedAt ? n : null;
    }, 'the EV session ended', 20_000);
    expect(ended.reason).toBe('unplugged');
    await waitFor(() => (seen.some((x) => x.startsWith('ev-session.ended')) ? true : null), 'the session end event');
    // the battery filter does not list EV sessions
    const bat = await s.gql<{ chargeSessions: { edges: Array<{ node: { kind: string } }> } }>(`query { chargeSessions(filter: { kind: battery }) { edges { node { kind } } } }`, {}, as('viewer'));
    expect(bat.data?.chargeSessions.edges.every((e) => e.node.kind === 'battery')).toBe(true);
    stop();
  });
});
