/**
 * The EV charger's commands for scheduled jobs (`device-command` actions, src/engine/scheduler/
 * actions.ts): set the current, enable, disable, sleep. They pass the same family check as the
 * API's mutations (the board's range and the configured circuit limit), with the operator role.
 */
import { z } from 'zod';
import { registerDeviceCommand } from '../../engine/scheduler/actions.js';
import { evseCheck } from './check.js';
import { EVSE_KIND, type EvseCommand, type EvseView } from './types.js';

const check = (cmd: EvseCommand, ctx: { device: import('../types.js').DeviceViewBase }) =>
  evseCheck({ circuitLimitA: (ctx.device as EvseView).circuitLimitA ?? null, role: 'operator' })(cmd, ctx);

registerDeviceCommand(EVSE_KIND, 'set-current', {
  // Whole amps; the range (the board's, capped by the circuit) is the gate's to decide (check.ts).
  args: z.object({ currentA: z.number().int() }).strict(),
  toCommand: (a): EvseCommand => ({ kind: 'setCurrent', amps: a.currentA }),
  check,
  describe: (a) => `set the charging current to ${a.currentA} A`,
});
for (const [name, kind] of [['enable', 'enable'], ['disable', 'disable'], ['sleep', 'sleep']] as const) {
  registerDeviceCommand(EVSE_KIND, name, {
    args: z.object({}).strict(),
    toCommand: (): EvseCommand => ({ kind }),
    check,
    describe: () => name,
  });
}
