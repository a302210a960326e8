/** Defect 8.6 through the real HTTP server: the dialect check is visible and a guided start carries its refusal code. */
import { afterEach, describe, expect, it } from 'vitest';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';

let s: LiveServer | null = null;
afterEach(async () => {
  await s?.stop();
  s = null;
});

describe('defect 8.6 in the API', () => {
  it('defect 8.6: a Pylontech stack on a deye config shows dialectStatus mismatch and startCharge fails with BMS_DIALECT_MISMATCH', async () => {
    s = await startLiveServer({ bms: true });
    s.rig.sim!.bms.get('can1')!.setDialect('pylontech');
    type B = { batteries: Array<{ dialect: string; dialectStatus: string | null; detectedDialect: string | null; dialectReason: string | null }> };
    const b = await waitFor(async () => {
      const r = await s!.gql<B>('{ batteries { dialect dialectStatus detectedDialect dialectReason } }');
      return r.data?.batteries[0]?.dialectStatus === 'mismatch' ? r.data.batteries[0] : null;
    }, 'the dialect mismatch');
    expect(b).toMatchObject({ dialect: 'deye', detectedDialect: 'pylontech' });
    expect(b.dialectReason).toMatch(/set "dialect: pylontech"/);
    const r = await s.gql('mutation { startCharge(chargerId: "charger1") { phase } }');
    expect(r.errors?.[0]?.extensions?.code).toBe('BMS_DIALECT_MISMATCH');
    expect(r.errors?.[0]?.message).toMatch(/battery bms0: .*PYLON/);
  });
});
