/** A VE.Bus link's config: a serial MK3, the device id, and the named modes validated at load. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { DEFAULT_VEBUS_MODES } from '../../../src/families/vebus/check.js';
import { simulatedConfig } from '../../../src/rig.js';

const link = (vebus: Record<string, unknown>, transport: Record<string, unknown> = { type: 'serial', path: '/dev/ttyUSB0', baudRate: 2400 }) => ({ links: [{ id: 'mk3', transport, vebus }] });

describe('VE.Bus config', () => {
  it("takes the seed's three modes by default, each a list of RAM-only writes", () => {
    const c = parseConfig(link({ id: 'multi' }));
    const v = c.links[0]!.vebus!;
    expect(v).toMatchObject({ id: 'multi', address: 0, pollIntervalMs: 2000, compat: false });
    expect(v.modes).toEqual(DEFAULT_VEBUS_MODES);
  });
  it('the demo rig has one MultiPlus on its own serial link', () => {
    const c = simulatedConfig({ bms: false, vebus: true });
    const l = c.links.find((x) => x.vebus);
    expect(l).toMatchObject({ id: 'vebus0', transport: { type: 'serial', path: 'simulated', baudRate: 2400 }, vebus: { id: 'multi0' } });
    expect(simulatedConfig({ vebus: false }).links.some((x) => x.vebus)).toBe(false);
  });
  it('refuses at load a mode that would write a setting to EEPROM, naming the key', () => {
    expect(() => parseConfig(link({ id: 'multi', modes: { night: { label: 'Night', steps: [{ setting: 'VS_USAGE', value: 3, ramOnly: false }] } } }))).toThrow(/links\.0\.vebus\.modes\.night[\s\S]*RAM-only/);
  });
  it('refuses at load a mode naming an unknown setting or flag, listing the known ones', () => {
    expect(() => parseConfig(link({ id: 'multi', modes: { night: { label: 'Night', steps: [{ setting: 'VS_USGAE', value: 3, ramOnly: true }] } } }))).toThrow(/mode "night": unknown setting "VS_USGAE"; known: .*VS_USAGE/);
    expect(() => parseConfig(link({ id: 'multi', modes: { night: { label: 'Night', steps: [{ flag: 'NO_CHARGE', value: true, ramOnly: true }] } } }))).toThrow(/unknown flag "NO_CHARGE"; known: .*DISABLE_CHARGE/);
    expect(() => parseConfig(link({ id: 'multi', modes: { 'Night Mode': { label: 'Night', steps: [{ flag: 'DISABLE_CHARGE', value: true, ramOnly: true }] } } }))).toThrow(/mode names are lower-case/);
  });
  it('a VE.Bus link is a stream: a CAN adapter transport is refused', () => {
    expect(() => parseConfig(link({ id: 'multi' }, { path: '/dev/ttyUSB0' }))).toThrow(/vebus is not a CAN device/);
  });
});
