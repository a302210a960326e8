/**
 * The EV charger's controls for Home Assistant over MQTT (src/mqtt/controls.ts):
 *
 * - `number` charging_current: its min/max are the range the gate allows now (the board's own
 *   `GC` range capped at the circuit limit); it is announced once that range is read. Its state
 *   is the current the pilot advertises. A value goes to `set-current` (jobs.ts), so a value
 *   outside the range is refused by the gate (OUT_OF_RANGE) before anything reaches the board.
 * - `switch` enabled: OFF while the board is disabled or sleeping; ON/OFF run `enable`/`disable`.
 */
import { registerMqttControls, numberPayload, type MqttControl } from '../../mqtt/controls.js';
import { allowedCurrentRange } from './check.js';
import { EVSE_KIND, type EvseView } from './types.js';

registerMqttControls(EVSE_KIND, (device) => {
  const v = device as EvseView;
  const out: MqttControl[] = [];
  const range = allowedCurrentRange(v, v.circuitLimitA ?? null);
  if (!('error' in range)) {
    out.push({
      component: 'number',
      object: 'charging_current',
      config: { name: 'Charging current', min: range.minA, max: range.maxA, step: 1, mode: 'slider', unit_of_measurement: 'A', device_class: 'current', icon: 'mdi:ev-station' },
      state: v.capacityA === null ? null : String(v.capacityA),
      parse: (payload) => {
        const n = numberPayload(payload);
        if (n === null) return { ok: false, code: 'BAD_USER_INPUT', message: `EVSE ${v.name}: charging_current/set takes a whole number of amps (${range.minA}–${range.maxA} A), not "${payload.trim()}"` };
        if (!Number.isInteger(n)) return { ok: false, code: 'BAD_USER_INPUT', message: `EVSE ${v.name}: the board takes whole amps; send ${Math.floor(n)} or ${Math.ceil(n)} (allowed ${range.minA}–${range.maxA} A)` };
        // The range is the gate's to enforce (it may have changed since this control was announced).
        return { ok: true, command: 'set-current', args: { currentA: n } };
      },
    });
  }
  out.push({
    component: 'switch',
    object: 'enabled',
    config: { name: 'Enabled', payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:ev-plug-type2' },
    state: v.stateName === null ? null : v.stateName === 'disabled' || v.stateName === 'sleeping' ? 'OFF' : 'ON',
    parse: (payload) => {
      const p = payload.trim().toLowerCase();
      if (p === 'on' || p === 'enable') return { ok: true, command: 'enable', args: {} };
      if (p === 'off' || p === 'disable') return { ok: true, command: 'disable', args: {} };
      if (p === 'sleep') return { ok: true, command: 'sleep', args: {} };
      return { ok: false, code: 'BAD_USER_INPUT', message: `EVSE ${v.name}: enabled/set takes ON, OFF or sleep, not "${payload.trim()}"` };
    },
  });
  return out;
});
