/**
 * The MultiPlus's control for Home Assistant over MQTT (src/mqtt/controls.ts): a `select` of the
 * configured modes. Its state is the mode the device runs on now (read back from its view, "None"
 * while no mode's values all hold or they are not read yet); a choice runs the `apply-mode`
 * command (jobs.ts), the same one the API and the scheduler use, through the family's gate.
 */
import { registerMqttControls } from '../../mqtt/controls.js';
import type { VebusDeviceView } from './family.js';
import { DEFAULT_VEBUS_MODES } from './check.js';
import { activeMode } from './project.js';

registerMqttControls('vebus', (device) => {
  const v = device as VebusDeviceView;
  const modes = v.modes ?? DEFAULT_VEBUS_MODES;
  const names = Object.keys(modes);
  if (names.length === 0) return [];
  return [
    {
      component: 'select',
      object: 'mode',
      config: { name: 'Mode', options: names, icon: 'mdi:transmission-tower-export' },
      // "None" is Home Assistant's word for an unknown select state.
      state: activeMode(v, modes) ?? 'None',
      parse: (payload) => {
        const p = payload.trim();
        // A mode's name, or its label as the dashboard shows it ("Prefer battery").
        const byLabel = names.find((n) => modes[n]!.label.toLowerCase() === p.toLowerCase());
        const mode = Object.prototype.hasOwnProperty.call(modes, p) ? p : (byLabel ?? p);
        // An unknown mode goes on to the gate, which refuses it with the configured list.
        return { ok: true, command: 'apply-mode', args: { mode } };
      },
    },
  ];
});
