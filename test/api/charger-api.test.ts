/** The charger over GraphQL: start, live progress over graphql-ws, interlock, stop, sessions. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';

describe('charger API', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ speed: 50, pack: { socPct: 40 } });
    await waitFor(async () => (await s.gql<{ devices: Array<{ online: boolean }> }>('{ devices { online } }')).data?.devices.filter((d) => d.online).length === 2, 'PSUs online');
  });
  afterAll(async () => s?.stop());

  it('starts a charge, streams progress, refuses manual setpoints, stops, and lists the session', async () => {
    const progress = collect<{ chargeProgress: { phase: string; deliveredAh: number } }>(s.ws(), 'subscription { chargeProgress(chargerId: "charger1") { phase deliveredAh } }');
    const bad = await s.gql('mutation { startCharge(chargerId: "charger1", currentA: 500) { phase } }');
    expect((bad.errors as Array<{ extensions: { code: string } }>)[0].extensions.code).toBe('OUT_OF_RANGE');
    const nf = await s.gql('mutation { startCharge(chargerId: "nope") { phase } }');
    expect((nf.errors as Array<{ extensions: { code: string } }>)[0].extensions.code).toBe('NOT_FOUND');

    const r = await s.gql<{ startCharge: { phase: string; targetVoltageV: number; chargeCurrentA: number; psus: Array<{ id: string }> } }>(
      'mutation { startCharge(chargerId: "charger1", currentA: 24) { phase targetVoltageV chargeCurrentA psus { id } } }',
    );
    expect(r.errors).toBeUndefined();
    expect(r.data!.startCharge).toMatchObject({ phase: 'detect', targetVoltageV: 57.6, chargeCurrentA: 24 });
    expect(r.data!.startCharge.psus).toHaveLength(2);
    await waitFor(() => progress.items.some((p) => p.chargeProgress.phase === 'CC'), 'CC over the subscription', 20_000);

    const manual = await s.gql('mutation { setPsuOutput(input: { deviceId: "all", voltageV: 50, currentA: 5 }) { message } }');
    expect((manual.errors as Array<{ extensions: { code: string }; message: string }>)[0]).toMatchObject({ extensions: { code: 'CHARGER_OWNS_PSU' } });
    expect((manual.errors as Array<{ message: string }>)[0].message).toMatch(/stop the charge first/);

    const q = await s.gql<{ chargers: Array<{ phase: string; progress: number; deliveredAh: number; session: { id: string } }> }>(
      '{ chargers { phase progress deliveredAh session { id } } }',
    );
    const c = q.data!.chargers[0];
    expect(c.progress).toBeGreaterThan(0);
    const stop = await s.gql<{ stopCharge: { phase: string; stopReason: string } }>('mutation { stopCharge(chargerId: "charger1") { phase stopReason } }');
    expect(stop.data!.stopCharge).toEqual({ phase: 'done', stopReason: 'User stop (API)' });

    const sessions = await s.gql<{ chargeSessions: { nodes: Array<{ id: string; outcome: string; deliveredAh: number; phases: Array<{ phase: string; endedAt: string | null }>; samples: Array<{ ah: number }> }> } }>(
      '{ chargeSessions(first: 5) { nodes { id outcome deliveredAh phases { phase endedAt } samples(maxPoints: 50) { ah } } } }',
    );
    const sess = sessions.data!.chargeSessions.nodes[0];
    expect(sess.id).toBe(c.session.id);
    expect(sess.outcome).toBe('stopped');
    expect(sess.phases.map((p) => p.phase)).toEqual(['detect', 'ramp', 'CC', 'done']);
    expect(sess.phases.slice(0, 3).every((p) => p.endedAt !== null)).toBe(true);
    expect(sess.samples.length).toBeGreaterThan(0);
    progress.stop();
  }, 120_000);

  it('validates settings updates through the gate', async () => {
    const bad = await s.gql('mutation { updateChargerSettings(chargerId: "charger1", settings: { cellVoltageMaxV: 3.65 }) { targetVoltageV } }');
    const err = (bad.errors as Array<{ extensions: { code: string }; message: string }>)[0];
    expect(err.extensions.code).toBe('OUT_OF_RANGE');
    expect(err.message).toMatch(/cellVoltageMaxV/);
    const ok = await s.gql<{ updateChargerSettings: { targetVoltageV: number; settings: { tailCurrentA: number } } }>(
      'mutation { updateChargerSettings(chargerId: "charger1", settings: { cellVoltageMaxV: 3.5, tailCurrentA: 3 }) { targetVoltageV settings { tailCurrentA } } }',
    );
    expect(ok.data!.updateChargerSettings).toEqual({ targetVoltageV: 56, settings: { tailCurrentA: 3 } });
  });
});
