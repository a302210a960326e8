/**
 * OpenEVSE test bench: a simulated board on the device side of a memory link, and the generic
 * SupervisedLink (src/link/supervisor.ts) with the RAPI framer on the host side, as the rig
 * builds it for a stream family.
 */
import type { FakeClock } from '../../src/clock.js';
import type { RapiFrame } from '../../src/families/openevse/codec.js';
import { RapiFramer } from '../../src/families/openevse/framer.js';
import { OpenEvseSim, type EvseSimProfileName, type OpenEvseSimOptions } from '../../src/families/openevse/sim.js';
import { SupervisedLink } from '../../src/link/supervisor.js';
import type { Clock } from '../../src/clock.js';
import type { TransportFactory } from '../../src/link/transports/types.js';
import { createMemoryLink, type MemoryLink } from '../../src/link/transports/memory.js';

/** A RAPI link as the rig makes it: SupervisedLink + RapiFramer on any transport factory. */
export function rapiLink(id: string, factory: TransportFactory, clock: Clock): { link: SupervisedLink<RapiFrame>; framer: RapiFramer } {
  const framer = new RapiFramer();
  const link = new SupervisedLink<RapiFrame>(factory, framer, { id, clock, name: 'OpenEVSE board', describe: (f) => f.line });
  return { link, framer };
}

export interface EvseBench {
  mem: MemoryLink;
  link: SupervisedLink<RapiFrame>;
  framer: RapiFramer;
  sim: OpenEvseSim;
  /** Every frame the host received, oldest first. */
  rx: RapiFrame[];
}

/** A simulated board on a memory link with a SupervisedLink on the host side (up, sim started). */
export async function evseBench(clock: FakeClock, opts: { profile?: EvseSimProfileName } & Partial<Omit<OpenEvseSimOptions, 'transport' | 'clock'>> = {}): Promise<EvseBench> {
  const mem = createMemoryLink('evse');
  const sim = new OpenEvseSim({ ...opts, transport: mem.device, clock });
  const { link, framer } = rapiLink('evse1', mem.hostFactory(), clock);
  const rx: RapiFrame[] = [];
  link.onFrame((f) => rx.push(f));
  link.start();
  for (let i = 0; i < 50 && link.state !== 'up'; i++) await clock.advance(0);
  if (link.state !== 'up') throw new Error(`evse bench: the link did not come up (${link.detail})`);
  sim.start();
  return { mem, link, framer, sim, rx };
}
