/**
 * The VE.Bus page of the command gate (src/families/vebus/check.ts, pure) with the setting and
 * RAM-var info of the simulator's device (vebus-mk2-simulation.md §5, §6), and the named modes.
 */
import { describe, expect, it } from 'vitest';
import type { RamVarInfo, SettingInfo } from '../../../src/families/vebus/codec.js';
import { checkVebusCommand, DEFAULT_VEBUS_MODES, expandMode, resolveModeStep, type VebusCheckContext } from '../../../src/families/vebus/check.js';
import type { VebusCommand } from '../../../src/families/vebus/driver.js';

const s = (scale: number, offset: number, def: number, min: number, max: number, access: number | null = 0): SettingInfo => ({ supported: true, scale, offset, default: def, min, max, access });
const r = (scale: number, offset = 0): RamVarInfo => ({ supported: true, scale: (scale << 16) >> 16, offset: (offset << 16) >> 16 });
const ctx: VebusCheckContext = {
  deviceName: 'MultiPlus multi',
  settings: new Map([
    [0, s(1, 0, 0x89b4, 0, 0x6ffc)],
    [2, s(-100, 0, 5760, 4800, 6400)],
    [6, s(-10, 0, 160, 30, 500)],
    [15, s(1, 0, 1, 0, 6)],
    [31, s(-60, -1, 0, 0, 255)],
    [81, s(1, 0, 0, 0, 32, 0x01)],
    [99, { supported: false, scale: 0, offset: 0, default: 0, min: 0, max: 0, access: null }],
  ]),
  ramVars: new Map([
    [4, r(0x7f9c)],
    [10, { supported: false, scale: 0, offset: 0 }],
    [11, r(5, 0x8000)],
    [13, r(0x7f38)],
    [131, r(0xffff)],
  ]),
};
const check = (c: unknown) => checkVebusCommand(c as VebusCommand, ctx);

describe('VE.Bus gate: settings against the device min/max (setting info)', () => {
  it('admits a value inside min…max, rounded to the device step with a note', () => {
    expect(check({ kind: 'write-setting', id: 6, value: 16, ramOnly: false })).toEqual({ ok: true, value: { kind: 'write-setting', id: 6, value: 16, ramOnly: false }, notes: [] });
    const rounded = check({ kind: 'write-setting', id: 2, value: 57.604, ramOnly: true });
    expect(rounded).toMatchObject({ ok: true, value: { value: 57.6 } });
    expect((rounded as { notes: string[] }).notes[0]).toMatch(/rounded .* 57\.6/);
  });
  it('refuses outside min…max with OUT_OF_RANGE and says what is allowed', () => {
    const lo = check({ kind: 'write-setting', id: 6, value: 2.5, ramOnly: false });
    expect(lo).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect((lo as { message: string }).message).toBe("MultiPlus multi: setting 6 (I_MAINS_LIMIT) = 2.5 is outside what the device allows: 3…50 in steps of 0.1");
    expect(check({ kind: 'write-setting', id: 2, value: 64.01, ramOnly: false })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(check({ kind: 'write-setting', id: 15, value: 7, ramOnly: true })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
  });
  it('applies scale and offset exactly (§7.2): setting 31 (scale −60 → /60, offset −1) spans (0−1)/60 … (255−1)/60', () => {
    expect(check({ kind: 'write-setting', id: 31, value: 4, ramOnly: true })).toMatchObject({ ok: true, value: { value: 4 } });
    expect((check({ kind: 'write-setting', id: 31, value: 4.25, ramOnly: true }) as { message: string }).message).toMatch(/allows: -0\.016667…4\.233333/);
  });
  it('an unknown or unsupported id is NOT_FOUND, naming the known ones', () => {
    const unknown = check({ kind: 'write-setting', id: 50, value: 1, ramOnly: false });
    expect(unknown).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect((unknown as { message: string }).message).toMatch(/known settings: 0, 2, 6, 15, 31, 81/);
    expect(check({ kind: 'write-setting', id: 99, value: 1, ramOnly: false })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });
  it('a value of the wrong type is BAD_USER_INPUT', () => {
    expect(check({ kind: 'write-setting', id: 6, value: '16', ramOnly: false })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(check({ kind: 'write-setting', id: 6, value: NaN, ramOnly: false })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(check({ kind: 'write-setting', id: 6, value: true, ramOnly: false })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(check({ kind: 'write-setting', id: 6.5, value: 16, ramOnly: false })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(check({ kind: 'write-setting', id: 6, value: 16 })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(check({ kind: 'format-disk' })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
  });
  it('an access-protected setting is admitted with a note (the device answers 9B without the password)', () => {
    expect((check({ kind: 'write-setting', id: 81, value: 1, ramOnly: false }) as { notes: string[] }).notes[0]).toMatch(/access-protected/);
  });
});

describe('VE.Bus gate: flags and RAM variables', () => {
  it('a flag is a boolean on a supported bit of its word; bits outside the mask are OUT_OF_RANGE', () => {
    expect(check({ kind: 'set-flag', flag: 6, value: true, ramOnly: true })).toMatchObject({ ok: true });
    expect(check({ kind: 'set-flag', flag: 6, value: 1, ramOnly: true })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    const masked = check({ kind: 'set-flag', flag: 15, value: true, ramOnly: false });
    expect(masked).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect((masked as { message: string }).message).toMatch(/mask 0x6ffc.*supported flags of this word: 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14/);
    expect(check({ kind: 'set-flag', flag: 20, value: true, ramOnly: false })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(check({ kind: 'set-flag', flag: 64, value: true, ramOnly: false })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
  });
  it('flags 7, 9, 10, 12 of Flags0 are not to be changed by hand', () => {
    for (const flag of [7, 9, 10, 12]) expect(check({ kind: 'set-flag', flag, value: true, ramOnly: true })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
  });
  it('RAM variables: a bit variable takes a boolean, a number must fit the word, unsupported ids are NOT_FOUND', () => {
    expect(check({ kind: 'write-ram-var', id: 11, value: true })).toMatchObject({ ok: true });
    expect(check({ kind: 'write-ram-var', id: 11, value: 1 })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(check({ kind: 'write-ram-var', id: 13, value: 0.5 })).toMatchObject({ ok: true });
    const big = check({ kind: 'write-ram-var', id: 13, value: 400 });
    expect(big).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect((big as { message: string }).message).toMatch(/allowed 0…327\.675 in steps of 0\.005/);
    expect(check({ kind: 'write-ram-var', id: 131, value: -40000 })).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(check({ kind: 'write-ram-var', id: 131, value: -375 })).toMatchObject({ ok: true });
    expect(check({ kind: 'write-ram-var', id: 10, value: 1 })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(check({ kind: 'write-ram-var', id: 300, value: 1 })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
  });
});

describe('VE.Bus modes (the seed\'s three, RAM-only)', () => {
  it('expand to the seed\'s RAM-only writes: VS_USAGE and DISABLE_CHARGE', () => {
    expect(expandMode('prefer-battery')).toEqual({
      ok: true,
      command: {
        kind: 'apply-mode',
        mode: 'prefer-battery',
        steps: [
          { kind: 'write-setting', id: 15, value: 3, ramOnly: true },
          { kind: 'set-flag', flag: 6, value: true, ramOnly: true },
        ],
      },
    });
    expect(expandMode('prefer-ac')).toMatchObject({ ok: true, command: { steps: [{ id: 15, value: 0 }, { flag: 6, value: true }] } });
    expect(expandMode('charge')).toMatchObject({ ok: true, command: { steps: [{ id: 15, value: 0 }, { flag: 6, value: false }] } });
    expect(Object.keys(DEFAULT_VEBUS_MODES)).toEqual(['prefer-battery', 'prefer-ac', 'charge']);
  });
  it('an unknown mode is NOT_FOUND naming the configured ones; a persistent step is refused', () => {
    expect(expandMode('turbo')).toMatchObject({ ok: false, code: 'NOT_FOUND', message: 'no VE.Bus mode "turbo"; configured modes: prefer-battery, prefer-ac, charge' });
    expect(resolveModeStep({ setting: 'VS_USAGE', value: 3, ramOnly: false as true })).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(resolveModeStep({ flag: 'NO_SUCH_FLAG', value: true, ramOnly: true })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });
  it('the gate checks every step of a mode against the device and refuses smuggled steps', () => {
    const cmd = (expandMode('prefer-battery') as { command: VebusCommand }).command;
    expect(checkVebusCommand(cmd, ctx)).toMatchObject({ ok: true, value: cmd });
    const smuggled = { ...cmd, steps: [{ kind: 'write-setting', id: 6, value: 50, ramOnly: false }] } as VebusCommand;
    expect(checkVebusCommand(smuggled, ctx)).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    // A device whose VS_USAGE max is 2 refuses the mode, naming the step.
    const small = { ...ctx, settings: new Map(ctx.settings).set(15, s(1, 0, 1, 0, 2)) };
    const refused = checkVebusCommand(cmd, small);
    expect(refused).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect((refused as { message: string }).message).toMatch(/^mode "prefer-battery": MultiPlus multi: setting 15 \(VS_USAGE\) = 3 is outside/);
    // Configured modes replace the defaults.
    const custom = { ...ctx, modes: { quiet: { label: 'Quiet', steps: [{ setting: 'VS_USAGE', value: 2, ramOnly: true as const }] } } };
    const q = expandMode('quiet', custom.modes);
    expect(q.ok && checkVebusCommand(q.command, custom)).toMatchObject({ ok: true });
  });
});
