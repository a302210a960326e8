import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';

const tmp = mkdtempSync(join(tmpdir(), 'pp-config-'));
const write = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

describe('config', () => {
  it('loads a full YAML config with defaults filled in', () => {
    const p = write(
      'ok.yaml',
      `buses:
  - id: can0
    adapter: { path: /dev/ttyUSB0, framing: fixed }
    flatpack2:
      psus:
        "192750001639": { name: Left, startup: { voltageV: 53.5, currentA: 10 }, applyOnStart: true }
`,
    );
    const c = loadConfigFile(p);
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 4000, tokens: [], allowedOrigins: [] });
    expect(c.links[0].transport).toMatchObject({ usbId: '1a86:7523', serialBaud: 2_000_000, bitrate: 125_000, framing: 'fixed', autodetect: true });
    expect(c.links[0].flatpack2?.psus['192750001639']).toMatchObject({ name: 'Left', applyOnStart: true });
    expect(c.links[0].flatpack2?.ovpV).toBe(59.5);
  });

  it('defect 8.7: the adapter framing defaults to the checksummed fixed framing; explicit variable still works', () => {
    const fp2 = { psus: {} };
    expect(parseConfig({ buses: [{ id: 'can0', adapter: { path: '/dev/ttyUSB0' }, flatpack2: fp2 }] }, 'test.yaml').links[0].transport).toMatchObject({ framing: 'fixed' });
    expect(parseConfig({ buses: [{ id: 'can0', adapter: { path: '/dev/ttyUSB0', framing: 'variable' }, flatpack2: fp2 }] }, 'test.yaml').links[0].transport).toMatchObject({ framing: 'variable' });
  });

  it.each([
    [{ buses: [{ id: 'can0', adapter: { bitrate: 123 } }] }, /buses\.0\.adapter\.bitrate: must be one of the adapter's CAN bit rates: 1000000, 800000/],
    [{ buses: [{ id: 'can0', adapter: { serialBaud: 57600 } }] }, /buses\.0\.adapter\.serialBaud: must be one of 9600/],
    [{ buses: [{ id: 'can0', adapter: {}, flatpack2: { psus: { '12': {} } } }] }, /buses\.0\.flatpack2\.psus\.12: PSU serial numbers are 12 decimal digits/],
    [{ buses: [{ id: 'can0', adapter: {}, flatpack2: { ovpV: 70 } }] }, /buses\.0\.flatpack2\.ovpV/],
    [{ buses: [{ id: 'can0', adapter: {}, bogus: 1 }] }, /buses\.0: Unrecognized key.*bogus/],
    [{ buses: [] }, /buses: name at least one link/],
    [{ links: [] }, /links: name at least one link/],
    [{ server: { host: '0.0.0.0' }, buses: [{ id: 'can0', adapter: {}, flatpack2: {} }] }, /server\.tokens: listening on 0\.0\.0\.0 .* needs server\.tokens/],
    [{ buses: [{ id: 'can0', adapter: { autodetect: false } }] }, /give either "path" or "autodetect: true"/],
    [{ buses: [{ id: 'a', adapter: {}, flatpack2: {} }, { id: 'a', adapter: {}, flatpack2: {} }] }, /buses\.1\.id: duplicate link id "a"/],
    [{ links: [{ id: 'can0', transport: {} }] }, /links\.0: link "can0" names no device family: add one section, one of flatpack2, bms/],
    [{ links: [{ id: 'can0', transport: {}, flatpack2: {}, bms: { id: 'b', dialect: 'deye' } }] }, /a link carries one device family/],
    [{ links: [{ id: 'can0', transport: { type: 'serial', path: '/dev/ttyS0', baudRate: 2400 }, flatpack2: {} }] }, /links\.0\.transport\.type: flatpack2 speaks CAN/],
    [{ links: [{ id: 'x', transport: { type: 'bluetooth' }, flatpack2: {} }] }, /links\.0\.transport\.type/],
    [{ links: [{ id: 'x', transport: {}, toaster: {} }] }, /links\.0.*toaster/],
  ])('names the key and what is allowed: %j', (raw, msg) => {
    expect(() => parseConfig(raw, 'test.yaml')).toThrow(ConfigError);
    expect(() => parseConfig(raw, 'test.yaml')).toThrow(msg);
  });

  it('reports YAML syntax errors and unreadable files clearly', () => {
    expect(() => loadConfigFile(write('bad.yaml', 'buses: [\n'))).toThrow(/is not valid YAML/);
    expect(() => loadConfigFile(join(tmp, 'missing.yaml'))).toThrow(/cannot read config file .*missing\.yaml/);
  });

  it('accepts a non-loopback host when an apiToken is set', () => {
    const c = parseConfig({ server: { host: '0.0.0.0', apiToken: 'a-long-enough-token' }, buses: [{ id: 'can0', adapter: {}, flatpack2: {} }] });
    expect(c.server.host).toBe('0.0.0.0');
  });

  it('reads links[] with a transport per link, and the older buses[]/adapter as the same config', () => {
    const newer = parseConfig({
      links: [
        { id: 'can0', transport: { type: 'waveshare-usb-can-a', path: '/dev/ttyUSB0' }, flatpack2: { psus: {} } },
        { id: 'can1', transport: { path: '/dev/ttyUSB1', bitrate: 500000 }, bms: { id: 'bms0', dialect: 'deye' } },
      ],
    });
    const older = parseConfig({
      buses: [
        { id: 'can0', adapter: { path: '/dev/ttyUSB0' }, flatpack2: { psus: {} } },
        { id: 'can1', adapter: { path: '/dev/ttyUSB1', bitrate: 500000 }, bms: { id: 'bms0', dialect: 'deye' } },
      ],
    });
    expect(older).toEqual(newer);
    expect(newer.links[1].transport).toMatchObject({ type: 'waveshare-usb-can-a', bitrate: 500000 });
  });
});

describe('config: broadcast SET', () => {
  it('refuses different startup values for PSUs sharing a bus', () => {
    const raw = {
      buses: [
        {
          id: 'can0',
          adapter: {},
          flatpack2: {
            psus: {
              '192750001639': { startup: { voltageV: 53, currentA: 10 }, applyOnStart: true },
              '163850019608': { startup: { voltageV: 54, currentA: 10 }, applyOnStart: true },
            },
          },
        },
      ],
    };
    expect(() => parseConfig(raw)).toThrow(/buses\.0\.flatpack2\.psus: .*broadcast to the whole bus/);
  });
});

describe('config: startup values pass the command gate at load', () => {
  it('refuses an out-of-range startup voltage, naming the key', () => {
    const raw = { buses: [{ id: 'can0', adapter: {}, flatpack2: { psus: { '192750001639': { startup: { voltageV: 58, currentA: 10 }, applyOnStart: true } } } }] };
    expect(() => parseConfig(raw)).toThrow(/buses\.0\.flatpack2\.psus\.192750001639\.startup: voltage 58 V is outside 43\.5–57\.6 V/);
  });
});
