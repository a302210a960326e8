/**
 * The Flatpack2 driver in the zwave-js test style: scripted simulator behaviours (src/sim/script.ts)
 * instead of a method per fault, and `expectTx` (test/helpers/expect-tx.ts) to wait on the
 * FakeClock for what the driver writes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CanAdapterLink } from '../../../src/families/can/adapter.js';
import type { CanFrame } from '../../../src/families/can/types.js';
import { decodeFp2 } from '../../../src/families/flatpack2/codec.js';
import type { Flatpack2PsuView } from '../../../src/families/flatpack2/view.js';
import { psuDeviceId } from '../../../src/families/flatpack2/view.js';
import { SIM_PSU_SERIALS } from '../../../src/rig.js';
import { recordTx } from '../../helpers/expect-tx.js';
import { makeSimRig, type TestRig } from '../../helpers/rig.js';

let t: TestRig | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

const [A, B] = SIM_PSU_SERIALS;
const kindOf = (f: CanFrame) => decodeFp2(f).kind;
const describeFrame = (f: CanFrame) => `${f.id.toString(16)} ${decodeFp2(f).kind}`;

describe('Flatpack2 driver against scripted simulator behaviours', () => {
  it('a PSU whose status frames are lost goes offline, is logged in again when it asks, and comes back', async () => {
    t = makeSimRig();
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    const tx = recordTx(t.rig.links.get('can0') as CanAdapterLink, t.clock);
    await tx.expect((f) => kindOf(f) === 'login' && decodeFp2(f).kind === 'login' && (decodeFp2(f) as { serial: string }).serial === B, 3000, { describe: describeFrame });
    await t.clock.advance(2000);
    expect(t.rig.engine.device<Flatpack2PsuView>(psuDeviceId(B))!.online).toBe(true);

    // 10 s of lost status frames from B only (5 Hz): the driver's 5 s status timeout fires.
    sim.script.next('drop-status', { times: 50, when: (s) => s.serial === B });
    await t.clock.advance(7000);
    expect(t.rig.engine.device<Flatpack2PsuView>(psuDeviceId(B))!.online).toBe(false);
    expect(t.rig.engine.device<Flatpack2PsuView>(psuDeviceId(A))!.online).toBe(true);

    // Once its frames get through again it is online; the driver keeps its login alive.
    await t.clock.advance(5000);
    expect(sim.script.pending()).toEqual([]);
    expect(t.rig.engine.device<Flatpack2PsuView>(psuDeviceId(B))!.online).toBe(true);
    await tx.expect((f) => kindOf(f) === 'login' && (decodeFp2(f) as { serial: string }).serial === B, 3000, { describe: describeFrame });
  });

  it('a SET the PSUs miss leaves their output unchanged; the next SET takes effect', async () => {
    t = makeSimRig();
    const sim = t.rig.sim!.flatpack2.get('can0')!;
    const tx = recordTx(t.rig.links.get('can0') as CanAdapterLink, t.clock);
    await t.clock.advance(3000);
    sim.script.next('ignore-set');
    const first = await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 50.2, currentA: 5 });
    expect(first.ok && first.sent).toBe(true);
    await tx.expect((f) => kindOf(f) === 'set', 500, { describe: describeFrame });
    await t.clock.advance(2000);
    expect(sim.script.applied.map((a) => a.behaviour)).toEqual(['ignore-set']);
    expect(sim.psu(A).setVoltageV).not.toBeCloseTo(50.2, 2);

    await t.rig.engine.setPsuOutput('api', 'all', { voltageV: 50.2, currentA: 5 });
    await tx.expect((f) => kindOf(f) === 'set', 500, { describe: describeFrame });
    await t.clock.advance(2000);
    expect(sim.psu(A).setVoltageV).toBeCloseTo(50.2, 2);
  });
});
