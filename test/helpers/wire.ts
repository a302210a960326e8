/** Listens on a simulated CAN bus like a logic analyser: every frame the adapter puts on the wire. */
import type { Rig } from '../../src/rig.js';
import { FP2 } from '../../src/families/flatpack2/codec.js';

export interface WireSpy {
  frames: Array<{ at: number; id: number }>;
  /** Flatpack2 SET frames (broadcast setpoints). */
  sets(): number;
  /** Times (engine clock) of the login / keep-alive frames. */
  keepAlives(): number[];
  detach(): void;
}

export function spyWire(rig: Rig, busId = 'can0'): WireSpy {
  const frames: WireSpy['frames'] = [];
  const node = rig.sim!.canBuses.get(busId)!.attach('test-spy', (f) => frames.push({ at: rig.engine.clock.now(), id: f.id }));
  return {
    frames,
    sets: () => frames.filter((f) => f.id === FP2.SET_SHORT || f.id === FP2.SET_LONG).length,
    keepAlives: () => frames.filter((f) => (f.id & 0xffffff00) === FP2.LOGIN_BASE).map((f) => f.at),
    detach: () => node.detach(),
  };
}
