import { describe, expect, it } from 'vitest';
import { decideRestore, type RestoreInput } from '../../src/engine/restore.js';

const base: RestoreInput = {
  now: 10_000,
  runStartedAt: 1_000,
  setpoint: null,
  startup: null,
  startupAlreadyApplied: false,
  lastRestoreAt: null,
  ownedByCharger: false,
  standby: { voltageV: 48.0, currentA: 0.1 },
};

describe('restore-on-reconnect and startup apply', () => {
  it('does nothing with no setpoint and no startup values', () => {
    expect(decideRestore(base).action).toBe('none');
  });
  it('re-applies the last setpoint of this run', () => {
    const d = decideRestore({ ...base, setpoint: { voltageV: 53, currentA: 10, origin: 'api', at: 5_000, standby: false }, startup: { voltageV: 50, currentA: 5 } });
    expect(d).toMatchObject({ action: 'set', origin: 'restore', voltageV: 53, currentA: 10 });
  });
  it('a standby setpoint is restored as standby', () => {
    const d = decideRestore({ ...base, setpoint: { voltageV: 48, currentA: 0.1, origin: 'api', at: 5_000, standby: true } });
    expect(d).toMatchObject({ action: 'set', standby: true, voltageV: 48 });
  });
  it('issue 8: a charger\'s setpoint is restored as standby (no charger runs it); a charger bus with nothing to restore gets standby', () => {
    const charging = { voltageV: 53.3, currentA: 15, origin: 'charger', at: 5_000, standby: false };
    expect(decideRestore({ ...base, setpoint: charging })).toMatchObject({ action: 'set', standby: true, voltageV: 48, currentA: 0.1 });
    expect(decideRestore({ ...base, chargerBus: true })).toMatchObject({ action: 'set', standby: true, voltageV: 48 });
  });
  it('issue 8: the standby a restore gave a PSU that logged in does not block another PSU\'s startup values, even within the burst window', () => {
    const restoredStandby = { voltageV: 48, currentA: 0.1, origin: 'restore', at: 9_500, standby: true };
    const d = decideRestore({ ...base, setpoint: restoredStandby, startup: { voltageV: 51, currentA: 5 }, lastRestoreAt: 9_500, chargerBus: true });
    expect(d).toMatchObject({ action: 'set', origin: 'startup', voltageV: 51 });
    // A person's setpoint in this run still wins over startup values.
    const manual = { ...restoredStandby, origin: 'api', voltageV: 53, currentA: 2, standby: false };
    expect(decideRestore({ ...base, setpoint: manual, startup: { voltageV: 51, currentA: 5 } })).toMatchObject({ origin: 'restore', voltageV: 53 });
  });
  it('startup values win over a setpoint from a previous run, once', () => {
    const prev = { voltageV: 53, currentA: 10, origin: 'api', at: 500, standby: false };
    expect(decideRestore({ ...base, setpoint: prev, startup: { voltageV: 50, currentA: 5 } })).toMatchObject({ origin: 'startup', voltageV: 50 });
    expect(decideRestore({ ...base, setpoint: prev, startup: { voltageV: 50, currentA: 5 }, startupAlreadyApplied: true })).toMatchObject({ origin: 'restore', voltageV: 53 });
  });
  it('coalesces the burst of PSUs coming back after a reconnect into one SET', () => {
    const sp = { voltageV: 53, currentA: 10, origin: 'api', at: 5_000, standby: false };
    expect(decideRestore({ ...base, setpoint: sp, lastRestoreAt: 9_500 }).action).toBe('none');
    expect(decideRestore({ ...base, setpoint: sp, lastRestoreAt: 7_000 }).action).toBe('set');
  });
  it('stays out of the way of a charger', () => {
    const sp = { voltageV: 53, currentA: 10, origin: 'api', at: 5_000, standby: false };
    expect(decideRestore({ ...base, setpoint: sp, ownedByCharger: true }).action).toBe('none');
  });
});
