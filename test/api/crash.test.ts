/**
 * Crash safety as a user would meet it: a real server process charging the simulated pack is
 * killed with SIGKILL in the middle of CC; started again on the same database file, it
 * continues the same charge session (Ah so far kept) through a soft start.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tempDbPath } from '../helpers/rig.js';
import { waitFor } from '../helpers/server.js';
import { gqlData, killServers, spawnServer } from '../helpers/server-process.js';

afterEach(killServers);

const serve = (dbPath: string) => spawnServer(['--port', '0', '--db', dbPath, '--sim-speed', '50'], { timeoutMs: 20_000 });
const gql = gqlData;

type C = { chargers: Array<{ phase: string; deliveredAh: number; session: { id: string } | null }> };
const CHARGER = '{ chargers { phase deliveredAh session { id } } }';

describe('crash safety', () => {
  it('SIGKILL in the middle of CC, restart: the same session continues from the log', async () => {
    const dbPath = tempDbPath('pp-crash-');
    const first = await serve(dbPath);
    await waitFor(async () => (await gql<{ devices: Array<{ kind: string; online: boolean }> }>(first.url, '{ devices { kind online } }')).devices.filter((d) => d.kind === 'flatpack2' && d.online).length === 2, 'PSUs online', 15_000);
    await gql(first.url, 'mutation { startCharge(chargerId: "charger1") { phase } }');
    const inCc = await waitFor(async () => {
      const c = (await gql<C>(first.url, CHARGER)).chargers[0];
      return c.phase === 'CC' && c.deliveredAh > 0.5 ? c : null;
    }, 'CC with some Ah delivered', 30_000);
    // Let a progress write land (every 5 s of simulated time = 0.1 s here), then kill hard.
    await new Promise((r) => setTimeout(r, 300));
    const before = (await gql<C>(first.url, CHARGER)).chargers[0];
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = await serve(dbPath);
    const resumed = await waitFor(async () => {
      const c = (await gql<C>(second.url, CHARGER)).chargers[0];
      return c.session?.id === inCc.session!.id && ['detect', 'ramp', 'CC', 'CV'].includes(c.phase) ? c : null;
    }, 'the same session to be running again', 30_000);
    expect(resumed.session!.id).toBe(before.session!.id);
    // Ah so far come back from the store (at most one progress interval may be lost).
    expect(resumed.deliveredAh).toBeGreaterThan(before.deliveredAh * 0.8);
    const s = await gql<{ chargeSession: { resumes: number; outcome: string | null; phases: Array<{ phase: string }> } }>(
      second.url,
      'query($id: ID!) { chargeSession(id: $id) { resumes outcome phases { phase } } }',
      { id: before.session!.id },
    );
    expect(s.chargeSession.resumes).toBe(1);
    expect(s.chargeSession.outcome).toBeNull();
    const phases = s.chargeSession.phases.map((p) => p.phase);
    // The first run got to CC; the resume re-entered through DETECT (soft start).
    expect(phases.slice(0, 3)).toEqual(['detect', 'ramp', 'CC']);
    expect(phases.slice(3)[0]).toBe('detect');
    // The log says what happened.
    expect(second.log()).toMatch(/resuming session/);
    // A manual stop is remembered across a restart: no auto-resume after it.
    await gql(second.url, 'mutation { stopCharge(chargerId: "charger1") { phase } }');
    second.child.kill('SIGKILL');
    await new Promise((r) => second.child.once('exit', r));
    const third = await serve(dbPath);
    await waitFor(async () => (await gql<{ devices: Array<{ online: boolean }> }>(third.url, '{ devices { online } }')).devices.some((d) => d.online), 'PSUs online', 15_000);
    await new Promise((r) => setTimeout(r, 500));
    const c3 = (await gql<C>(third.url, CHARGER)).chargers[0];
    expect(c3.phase).toBe('done');
  }, 90_000);
});
