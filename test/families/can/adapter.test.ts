import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../../src/clock.js';
import { CanAdapterLink, type LinkState } from '../../../src/families/can/adapter.js';
import { WaveshareAdapterSim } from '../../../src/families/can/adapter-sim.js';
import type { CanFrame } from '../../../src/families/can/types.js';
import { encodeVariable, settingFrame, type WaveshareFraming } from '../../../src/families/can/waveshare.js';
import { createMemoryLink } from '../../../src/link/transports/memory.js';
import type { Transport, TransportFactory } from '../../../src/link/transports/types.js';
import { CanBusSim } from '../../../src/families/can/bus-sim.js';

const bytes = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));

// flatpack2.md §4 #11 (MTI's default SET) and #1 (status of PSU 1).
const SET_ALL: CanFrame = { id: 0x05ff4004, extended: true, remote: false, data: bytes('C8 00 18 15 18 15 70 17') };
const STATUS: CanFrame = { id: 0x05014004, extended: true, remote: false, data: bytes('17 00 00 D1 12 EE 00 17') };

interface Rig {
  clock: FakeClock;
  link: ReturnType<typeof createMemoryLink>;
  bus: CanBusSim;
  sim: WaveshareAdapterSim;
  adapter: CanAdapterLink;
  /** Frames other bus nodes (a PSU) received. */
  onBus: CanFrame[];
  psu: ReturnType<CanBusSim['attach']>;
  received: { frame: CanFrame; ts: number }[];
  sent: { frame: CanFrame; ts: number }[];
  states: { state: LinkState; detail: string; at: number }[];
  /** Raw bytes the device side received from the host. */
  toDevice: Uint8Array[];
  /** Raw bytes the host side received from the device. */
  toHost: Uint8Array[];
}

let rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs) await r.adapter.stop();
  rigs = [];
});

function rig(opts: { framing?: WaveshareFraming; bitrate?: number; busBitrate?: number; factory?: (link: Rig['link']) => TransportFactory } = {}): Rig {
  const clock = new FakeClock();
  const link = createMemoryLink('can0');
  const bus = new CanBusSim({ bitrate: opts.busBitrate ?? 125_000 });
  const sim = new WaveshareAdapterSim({ transport: link.device, bus });
  sim.start();
  const onBus: CanFrame[] = [];
  const psu = bus.attach('psu', (f) => onBus.push(f));
  const adapter = new CanAdapterLink({
    busId: 'can0',
    factory: opts.factory ? opts.factory(link) : link.hostFactory(),
    framing: opts.framing ?? 'variable',
    bitrate: opts.bitrate ?? 125_000,
    clock,
  });
  const r: Rig = { clock, link, bus, sim, adapter, onBus, psu, received: [], sent: [], states: [], toDevice: [], toHost: [] };
  adapter.onFrame((frame, ts) => r.received.push({ frame, ts }));
  adapter.onTx((frame, ts) => r.sent.push({ frame, ts }));
  adapter.onState((state, detail) => r.states.push({ state, detail, at: clock.now() }));
  link.device.onData((c) => r.toDevice.push(c));
  link.host.onData((c) => r.toHost.push(c));
  rigs.push(r);
  return r;
}

async function bringUp(r: Rig): Promise<void> {
  r.adapter.start();
  await r.clock.advance(200);
  expect(r.adapter.state).toBe('up');
}

describe('CanAdapterLink ↔ WaveshareAdapterSim over a memory link', () => {
  it('sends the setting frame on open and goes up after settleMs', async () => {
    const r = rig();
    r.adapter.start();
    expect(r.adapter.state).toBe('connecting');
    await r.clock.advance(0);
    // flatpack2.md §6.3: the exact frame MTI sends at 125 kbit/s, variable framing.
    expect(r.toDevice).toEqual([bytes('AA 55 12 07 02 00 00 00 00 00 00 00 00 00 01 00 00 00 00 1C')]);
    expect(r.sim.config).toEqual({ framing: 'variable', bitrate: 125_000 });
    await r.clock.advance(199);
    expect(r.adapter.state).toBe('connecting');
    expect((await r.adapter.send(SET_ALL)).ok).toBe(false); // not before the adapter settled
    await r.clock.advance(1);
    expect(r.adapter.state).toBe('up');
    expect(r.states.map((s) => s.state)).toEqual(['connecting', 'up']);
  });

  for (const framing of ['variable', 'fixed'] as const) {
    it(`moves frames both ways in ${framing} framing`, async () => {
      const r = rig({ framing });
      await bringUp(r);
      expect(r.sim.config?.framing).toBe(framing);
      r.toDevice.length = 0;

      expect((await r.adapter.send(SET_ALL)).ok).toBe(true);
      await settle();
      expect(r.onBus).toEqual([SET_ALL]);
      expect(r.sent).toEqual([{ frame: SET_ALL, ts: r.clock.now() }]);
      expect(r.toDevice[0]!.length).toBe(framing === 'fixed' ? 20 : 15);

      await r.clock.advance(50);
      r.psu.send(STATUS);
      await settle();
      expect(r.received).toEqual([{ frame: STATUS, ts: r.clock.now() }]);
      // The adapter answers in the framing the setting command chose (§6.3).
      expect(r.toHost.at(-1)!.length).toBe(framing === 'fixed' ? 20 : 15);
      expect(r.adapter.stats).toMatchObject({ frames: 1, txFrames: 1, txFailures: 0, droppedBytes: 0 });
    });
  }

  it('goes down on unplug, retries after 1 s, 2 s, 4 s, 8 s… and comes back up on replug', async () => {
    const r = rig();
    await bringUp(r);
    r.link.unplug();
    await settle();
    expect(r.adapter.state).toBe('down');
    expect(r.states.at(-1)!.detail).toMatch(/memory:can0 unplugged/);
    const t0 = r.clock.now();

    await r.clock.advance(16_000);
    const attempts = r.states.filter((s) => s.state === 'connecting' && s.at > t0).map((s) => s.at - t0);
    expect(attempts).toEqual([1000, 3000, 7000, 15000]);
    expect(r.adapter.state).toBe('down');
    expect(r.adapter.stats.lastError).toMatch(/not present — is the adapter plugged in\?/);

    r.link.replug();
    await r.clock.advance(15_000); // next attempt at t0 + 31 s
    expect(r.adapter.state).toBe('connecting');
    await r.clock.advance(200);
    expect(r.adapter.state).toBe('up');
    expect(r.clock.now() - t0).toBe(31_200);
    expect(r.adapter.stats.reconnects).toBe(5);

    // Frames flow again, and a fresh loss starts the backoff at 1 s again.
    r.psu.send(STATUS);
    await settle();
    expect(r.received.map((x) => x.frame)).toEqual([STATUS]);
    r.link.unplug();
    await settle();
    const t1 = r.clock.now();
    await r.clock.advance(1000);
    expect(r.states.filter((s) => s.state === 'connecting' && s.at > t1).map((s) => s.at - t1)).toEqual([1000]);
  });

  it('caps the backoff at 30 s', async () => {
    const r = rig();
    r.link.unplug();
    r.adapter.start();
    await r.clock.advance(200_000);
    const at = r.states.filter((s) => s.state === 'connecting').map((s) => s.at - r.states[0]!.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps.slice(0, 7)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('send() while down returns LINK_DOWN without throwing', async () => {
    const r = rig();
    expect(await r.adapter.send(SET_ALL)).toMatchObject({ ok: false, code: 'LINK_DOWN' }); // never started
    await bringUp(r);
    r.link.unplug();
    await settle();
    await expect(r.adapter.send(SET_ALL)).resolves.toMatchObject({ ok: false, code: 'LINK_DOWN' });
    expect(r.adapter.stats.txFailures).toBe(2);
    expect(r.onBus).toEqual([]);
  });

  it('counts garbage the device sends and still decodes the frames after it', async () => {
    const r = rig();
    await bringUp(r);
    // flatpack2.md §6.4: "00 FF 55" and "AA 12" are garbage; then a §6.1-framed status frame.
    await r.link.device.write(bytes('00 FF 55 AA 12'));
    await r.link.device.write(encodeVariable(STATUS));
    await settle();
    expect(r.received.map((x) => x.frame)).toEqual([STATUS]);
    expect(r.adapter.stats).toMatchObject({ frames: 1, droppedBytes: 5, badType: 1 });
  });

  it('reconnects when a write fails', async () => {
    let failWrites = false;
    const factory = (link: Rig['link']): TransportFactory => async () => {
      const host = link.host;
      const t: Transport = {
        get description() {
          return host.description;
        },
        get isOpen() {
          return host.isOpen;
        },
        open: () => host.open(),
        close: () => host.close(),
        write: (b) => (failWrites ? Promise.reject(new Error('EIO: i/o error')) : host.write(b)),
        onData: (l) => host.onData(l),
        onClose: (l) => host.onClose(l),
      };
      return t;
    };
    const r = rig({ factory });
    await bringUp(r);
    failWrites = true;
    expect(await r.adapter.send(SET_ALL)).toMatchObject({ ok: false, code: 'WRITE_FAILED' });
    expect(r.adapter.stats.lastError).toMatch(/EIO/);
    await settle();
    // The reopen's setting write fails too, so the link backs off.
    expect(r.adapter.state).toBe('down');
    failWrites = false;
    await r.clock.advance(1200);
    expect(r.adapter.state).toBe('up');
    expect((await r.adapter.send(SET_ALL)).ok).toBe(true);
  });

  it('reconnect() closes, reopens and resends the setting frame', async () => {
    const r = rig();
    await bringUp(r);
    r.toDevice.length = 0;
    r.adapter.reconnect('no status for 30 s');
    expect(r.adapter.state).toBe('down');
    await r.clock.advance(200);
    expect(r.adapter.state).toBe('up');
    expect(r.toDevice).toEqual([settingFrame({ framing: 'variable', bitrate: 125_000 })]);
    expect(r.states.map((s) => s.detail)).toContain('reconnecting: no status for 30 s');
    expect(r.adapter.stats.reconnects).toBe(1);
  });

  it('retries when the factory itself fails (nothing to open)', async () => {
    let present = false;
    const r = rig({
      factory: (link) => async () => {
        if (!present) throw new Error('no serial port with USB 1a86:7523 found — is the adapter plugged in?');
        return link.host;
      },
    });
    r.adapter.start();
    await settle();
    expect(r.adapter.state).toBe('down');
    expect(r.states.at(-1)!.detail).toMatch(/1a86:7523/);
    present = true;
    await r.clock.advance(1200);
    expect(r.adapter.state).toBe('up');
  });

  it('passes no traffic when the adapter runs at the wrong bit rate', async () => {
    const r = rig({ bitrate: 250_000, busBitrate: 125_000 });
    await bringUp(r); // the link itself comes up: the adapter never says the bit rate is wrong
    expect(r.sim.config).toEqual({ framing: 'variable', bitrate: 250_000 });
    expect((await r.adapter.send(SET_ALL)).ok).toBe(true);
    r.psu.send(STATUS);
    await settle();
    expect(r.onBus).toEqual([]);
    expect(r.received).toEqual([]);
    expect(r.sim.stats.blockedWrongBitrate).toBe(2);
  });

  it('stop() closes the port and leaves no timers behind', async () => {
    const r = rig();
    await bringUp(r);
    r.link.unplug();
    await settle();
    await r.adapter.stop();
    expect(r.adapter.state).toBe('down');
    expect(r.link.host.isOpen).toBe(false);
    expect(r.clock.pendingTimers()).toBe(0);
    r.link.replug();
    await r.clock.advance(60_000);
    expect(r.adapter.state).toBe('down');
  });

  it('rejects an unsupported bit rate at construction', () => {
    const link = createMemoryLink('x');
    expect(
      () => new CanAdapterLink({ busId: 'x', factory: link.hostFactory(), framing: 'variable', bitrate: 83_333, clock: new FakeClock() }),
    ).toThrow(/allowed bit rates/);
  });
});

describe('memory link', () => {
  it('delivers asynchronously, and refuses to open while unplugged', async () => {
    const link = createMemoryLink('m');
    const got: number[] = [];
    link.device.onData((c) => got.push(...c));
    await link.host.open();
    const written = link.host.write(bytes('01 02'));
    expect(got).toEqual([]); // not synchronous: no re-entrancy into the writer
    await written;
    await settle();
    expect(got).toEqual([1, 2]);

    const closes: (Error | undefined)[] = [];
    link.host.onClose((e) => closes.push(e));
    link.unplug();
    await settle();
    expect(closes.map((e) => e?.message)).toEqual(['memory:m unplugged']);
    expect(link.plugged).toBe(false);
    await expect(link.host.write(bytes('03'))).rejects.toThrow(/not open/);
    await expect(link.host.open()).rejects.toThrow('memory:m not present — is the adapter plugged in?');
    link.replug();
    await link.host.open();
    await link.host.close();
    await settle();
    expect(closes).toHaveLength(1); // close() does not fire onClose
  });
});

describe('CanBusSim', () => {
  it('delivers to every other node, in order, asynchronously', async () => {
    const bus = new CanBusSim({ bitrate: 125_000 });
    const a: number[] = [];
    const b: number[] = [];
    const na = bus.attach('a', (f) => a.push(f.id));
    const nb = bus.attach('b', (f) => b.push(f.id));
    na.send({ ...STATUS, id: 1 });
    na.send({ ...STATUS, id: 2 });
    nb.send({ ...STATUS, id: 3 });
    expect(a).toEqual([]);
    await settle();
    expect(a).toEqual([3]);
    expect(b).toEqual([1, 2]);
    nb.detach();
    na.send({ ...STATUS, id: 4 });
    await settle();
    expect(b).toEqual([1, 2]);
    expect(bus.frameCount).toBe(4);
  });
});
