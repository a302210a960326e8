/**
 * The MultiPlus's commands for scheduled jobs (`device-command` actions, src/engine/scheduler/
 * actions.ts): apply a configured mode, write a setting RAM-only. They pass the same family check
 * as the API's mutations (the device's own min/max, RAM-only modes).
 */
import { z } from 'zod';
import { registerDeviceCommand } from '../../engine/scheduler/actions.js';
import { expandMode, type VebusModeDef } from './check.js';
import type { VebusCommand } from './driver.js';
import { vebusCheck } from './family.js';

registerDeviceCommand('vebus', 'apply-mode', {
  args: z.object({ mode: z.string().min(1) }).strict(),
  toCommand: (a, device): VebusCommand => {
    const modes = (device as unknown as { modes?: Record<string, VebusModeDef> }).modes;
    const e = expandMode(a.mode, modes);
    // An unknown mode becomes a command the check refuses with its own message and code.
    return e.ok ? e.command : { kind: 'apply-mode', mode: a.mode, steps: [] };
  },
  check: vebusCheck,
  describe: (a) => `apply mode ${a.mode}`,
});

registerDeviceCommand('vebus', 'write-setting-ram-only', {
  args: z.object({ id: z.number().int().min(0), value: z.number() }).strict(),
  toCommand: (a): VebusCommand => ({ kind: 'write-setting', id: a.id, value: a.value, ramOnly: true }),
  check: vebusCheck,
  describe: (a) => `write setting ${a.id} = ${a.value} (RAM only)`,
});
