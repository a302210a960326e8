/**
 * The MK3 + MultiPlus simulator (shared/protocols/vebus-mk2-simulation.md) on the memory
 * transport and the FakeClock: a bare host writes frames and reads what comes back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { createMemoryLink } from '../../../src/link/transports/memory.js';
import {
  addressSelect,
  combinedModeCommand,
  decodeDcInfo,
  decodeWinmon,
  encodeFrame,
  getRamVarInfo,
  getSettingInfo,
  hex,
  infoRequest,
  ledRequest,
  mkFrame,
  readRamVars,
  readSetting,
  resetMk,
  typicalRamVarInfo,
  versionRequest,
  winmon,
  writeAddress,
  writeData,
  writeViaId,
  type Mk2Frame,
} from '../../../src/families/vebus/codec.js';
import { Mk2Framer } from '../../../src/families/vebus/framer.js';
import { BYTE_TIME_MS, VebusSim, type VebusSimOptions } from '../../../src/families/vebus/sim.js';

const stops: Array<() => void> = [];
afterEach(() => {
  while (stops.length) stops.pop()!();
});

async function setup(opts: Partial<VebusSimOptions> = {}) {
  const clock = new FakeClock();
  const mem = createMemoryLink('vebus');
  await mem.host.open();
  const sim = new VebusSim({ clock, transport: mem.device, ...opts });
  const framer = new Mk2Framer();
  const rx: Array<{ at: number; frame: Mk2Frame }> = [];
  const chunks: Array<{ at: number; bytes: Uint8Array }> = [];
  mem.host.onData((c) => {
    chunks.push({ at: clock.now(), bytes: c });
    for (const f of framer.push(c)) rx.push({ at: clock.now(), frame: f });
  });
  sim.start();
  stops.push(() => sim.stop());
  const send = (f: Mk2Frame) => mem.host.write(encodeFrame(f));
  /** Sends, waits 300 ms, returns the frames received meanwhile (V frames included). */
  const ask = async (f: Mk2Frame, ms = 300): Promise<Mk2Frame[]> => {
    const from = rx.length;
    await send(f);
    await clock.advance(ms);
    return rx.slice(from).map((r) => r.frame);
  };
  const askHex = async (f: Mk2Frame, ms = 300) => (await ask(f, ms)).filter((x) => x.body[0] !== 0x56 || f.body[0] === 0x56).map((x) => hex(encodeFrame(x)));
  await clock.advance(0);
  return { clock, mem, sim, rx, chunks, send, ask, askHex, framer };
}

async function selected(opts: Partial<VebusSimOptions> = {}, combined = true) {
  const s = await setup(opts);
  await s.ask(addressSelect(0));
  if (combined) await s.ask(combinedModeCommand());
  return s;
}

describe('VebusSim: version frames and MK commands (simulation §2, §3)', () => {
  it('sends a V with tail B at start and after 1 s of silence; after A 01 00 the tail is the address', async () => {
    const s = await setup();
    expect(s.rx.map((r) => hex(encodeFrame(r.frame)))).toEqual(['07 FF 56 24 DB 11 00 42 52']);
    await s.clock.advance(1000);
    expect(s.rx).toHaveLength(2);
    expect(s.rx[1]!.at - s.rx[0]!.at).toBe(1000);
    expect(await s.askHex(addressSelect(0))).toEqual(['04 FF 41 01 00 BB']);
    expect(await s.askHex(versionRequest())).toEqual(['07 FF 56 24 DB 11 00 00 C1'.replace('C1', hex([-(0x07 + 0xff + 0x56 + 0x24 + 0xdb + 0x11) & 0xff]))]);
  });
  it('sleep stops all output; waking sends a V at once', async () => {
    const s = await setup();
    s.sim.sleep(true);
    const n = s.rx.length;
    await s.clock.advance(5000);
    expect(s.rx.length).toBe(n);
    expect(await s.ask(versionRequest())).toEqual([]);
    s.sim.sleep(false);
    await s.clock.advance(0);
    expect(s.rx.length).toBe(n + 1);
  });
  it('winmon and F before any address (or for another address) get no reply', async () => {
    const s = await setup();
    expect(await s.askHex(infoRequest(0))).toEqual([]);
    await s.ask(addressSelect(3));
    expect(await s.askHex(readRamVars('X', [0]))).toEqual([]);
  });
  it('§5: the default scenario frames are byte for byte those of the reference', async () => {
    const s = await selected();
    expect(await s.askHex(infoRequest(0))).toEqual(['0F 20 00 00 00 00 0C A0 14 00 00 00 64 00 00 87 26']);
    expect(await s.askHex(infoRequest(1))).toEqual(['0F 20 01 01 00 09 08 E4 59 6B 01 DD 59 78 00 C3 A4']);
    expect(await s.askHex(infoRequest(5))).toEqual(['0D 41 10 05 00 00 14 1E 00 F4 01 A0 00 77 5F']);
    expect(await s.askHex(ledRequest())).toEqual(['08 FF 4C 05 00 00 00 80 00 28']);
    expect(await s.askHex(infoRequest(2))).toEqual([]);
  });
  it('§5: RAM values and their info are those of the table', async () => {
    const s = await selected();
    const [r] = await s.ask(readRamVars('X', [0, 1, 4, 5, 13, 15]));
    const w = decodeWinmon(r!)!;
    expect(w.code).toBe(0x85);
    const vals = [0, 2, 4, 6, 8, 10].map((o) => w.data[o]! | (w.data[o + 1]! << 8));
    expect(vals).toEqual([23012, 363, 5280, 100, 150, 0xffff & -836]);
    expect(await s.askHex(getRamVarInfo('X', 7))).toEqual([hex(encodeFrame(mkFrame('X', 0x8e, 0x5f, 0x78, 0x00, 0x01)))]);
    expect(await s.askHex(getRamVarInfo('X', 10))).toEqual(['03 FF 58 8E 18']);
  });
  it('R resets the MK: tail B, compat mode, RAM-only settings back to the EEPROM copy', async () => {
    const s = await selected();
    await s.ask(writeViaId('X', 'setting', 15, 3, true));
    expect(s.sim.setting(15)!.ram).toBe(3);
    expect((await s.ask(resetMk())).map((f) => hex(encodeFrame(f)))).toEqual(['07 FF 56 24 DB 11 00 42 52']);
    expect(s.sim.setting(15)!.ram).toBe(1);
    expect(s.sim.compat).toBe(true);
  });
  it('S: flag 0x80 sets the current limit (clamped); without 0x10 the switch state is taken', async () => {
    const s = await selected();
    await s.ask(mkFrame('S', 3, 0x64, 0x00, 0x01, 0x80 | 0x10, 0x00, 0x00));
    expect(s.sim.limitDeciA).toBe(100);
    await s.ask(mkFrame('S', 4, 0x00, 0x80, 0x01, 0x80, 0x00, 0x00));
    expect(s.sim.switchState).toBe(4);
    const [ac] = await s.ask(infoRequest(1));
    expect(ac!.body[3]).toBe(2); // state off
    await s.ask(mkFrame('S', 3, 0x05, 0x00, 0x01, 0x80, 0x00, 0x00));
    expect(s.sim.limitDeciA).toBe(30);
  });
});

describe('VebusSim: winmon in compat and combined mode (simulation §4)', () => {
  it('compat (power-up): split setting info, split RAM info, at most 2 ids, WriteViaID refused 80 01', async () => {
    const s = await selected({}, false);
    expect(await s.askHex(getSettingInfo('X', 6))).toEqual([hex(encodeFrame(mkFrame('X', 0x89, 0xf6, 0xff, 0x8a, 0, 0, 0x8b, 160, 0, 0x8c, 30, 0, 0x8d, 0xf4, 0x01)))]);
    expect(await s.askHex(getRamVarInfo('X', 4))).toEqual([hex(encodeFrame(mkFrame('X', 0x8e, 0x9c, 0x7f, 0x8f, 0, 0)))]);
    expect(await s.askHex(getRamVarInfo('X', 10))).toEqual([hex(encodeFrame(mkFrame('X', 0x8e, 0, 0)))]);
    const [r] = await s.ask(readRamVars('X', [0, 4, 5]));
    expect(decodeWinmon(r!)!.data.length).toBe(4);
    expect(await s.askHex(writeViaId('X', 'setting', 15, 3))).toEqual([hex(encodeFrame(mkFrame('X', 0x80, 0x01)))]);
  });
  it('compat: the two-step write (0x33 then 0x34) writes the setting; 0x34 alone is refused', async () => {
    const s = await selected({}, false);
    expect(await s.askHex(writeAddress('X', 'setting', 64))).toEqual([]);
    expect(await s.askHex(writeData('X', 150))).toEqual([hex(encodeFrame(mkFrame('X', 0x88)))]);
    expect(s.sim.setting(64)!.eeprom).toBe(150);
    expect(await s.askHex(writeData('X', 150))).toEqual([hex(encodeFrame(mkFrame('X', 0x80, 0x00)))]);
  });
  it('combined: setting info with the access byte, bare 89 / 8E for unknown ids, two-step refused 80 00', async () => {
    const s = await selected();
    expect(await s.askHex(getSettingInfo('Y', 2))).toEqual([hex(encodeFrame(mkFrame('Y', 0x89, 0x9c, 0xff, 0, 0, 0x80, 0x16, 0xc0, 0x12, 0x00, 0x19, 0)))]);
    expect(await s.askHex(getSettingInfo('Y', 99))).toEqual([hex(encodeFrame(mkFrame('Y', 0x89)))]);
    expect(await s.askHex(writeAddress('Y', 'setting', 64))).toEqual([hex(encodeFrame(mkFrame('Y', 0x80, 0x00)))]);
  });
  it('§7 error replies: 90 <index>, 91, 9B <level>, 80 00, 80 01', async () => {
    const s = await selected();
    expect(await s.askHex(readRamVars('X', [0, 10]))).toEqual([hex(encodeFrame(mkFrame('X', 0x90, 2)))]);
    expect(await s.askHex(readSetting('X', 99))).toEqual([hex(encodeFrame(mkFrame('X', 0x91)))]);
    expect(await s.askHex(writeViaId('X', 'setting', 81, 1))).toEqual([hex(encodeFrame(mkFrame('X', 0x9b, 0x01)))]);
    expect(await s.askHex(winmon('X', 0x7e))).toEqual([hex(encodeFrame(mkFrame('X', 0x80, 0x00)))]);
    expect(await s.askHex(writeViaId('X', 'setting', 4, 99))).toEqual([hex(encodeFrame(mkFrame('X', 0x80, 0x01)))]);
    expect(await s.askHex(writeViaId('X', 'ram-var', 4, 5000))).toEqual([hex(encodeFrame(mkFrame('X', 0x80, 0x01)))]);
    // A password unlocks the access-level setting for 30 s.
    const pw = [...Buffer.from('powerpla', 'ascii')];
    expect(await s.askHex(winmon('X', 0x3a, ...pw))).toEqual([hex(encodeFrame(mkFrame('X', 0x9c)))]);
    expect(await s.askHex(writeViaId('X', 'setting', 81, 1))).toEqual([hex(encodeFrame(mkFrame('X', 0x88)))]);
  });
  it('W keeps 2 argument bytes even in combined mode, replies cut to 4 bytes', async () => {
    const s = await selected();
    const [r] = await s.ask(readRamVars('W', [0, 4, 5]));
    expect(decodeWinmon(r!)!.data.length).toBe(3);
  });
});

describe('VebusSim: settings and the physical model (simulation §6)', () => {
  it('a persistent write changes the EEPROM copy (ReadSetting); a RAM-only write does not but changes behaviour', async () => {
    const s = await selected();
    expect(await s.askHex(writeViaId('X', 'setting', 64, 180))).toEqual([hex(encodeFrame(mkFrame('X', 0x88)))]);
    expect(await s.askHex(readSetting('X', 64))).toEqual([hex(encodeFrame(mkFrame('X', 0x86, 180, 0)))]);
    // Disable charge in RAM only: Flags0 0x81B4 | 0x40.
    await s.ask(writeViaId('X', 'setting', 0, 0x81f4, true));
    expect(await s.askHex(readSetting('X', 0))).toEqual([hex(encodeFrame(mkFrame('X', 0x86, 0xb4, 0x81)))]);
    const [dc] = await s.ask(infoRequest(0));
    const d = decodeDcInfo(dc!, { ram: typicalRamVarInfo })!;
    expect(d.chargerCurrentA).toBe(0);
    expect(d.batteryCurrentA).toBe(0);
    const [led] = await s.ask(ledRequest());
    expect(led!.body[1]).toBe(0x01); // mains only, bulk off
    const [ac] = await s.ask(infoRequest(1));
    expect(ac!.body[3]).toBe(8); // bypass
    expect(s.sim.counters).toMatchObject({ eepromWrites: 1, ramOnlyWrites: 1 });
  });
  it('VS usage 3 in RAM (prefer battery): AC input ignored, inverting, battery discharging, voltage sagging', async () => {
    const s = await selected();
    await s.ask(writeViaId('X', 'setting', 15, 3, true));
    await s.ask(writeViaId('X', 'setting', 0, 0x81f4, true));
    const [dc] = await s.ask(infoRequest(0));
    const d = decodeDcInfo(dc!, { ram: typicalRamVarInfo })!;
    expect(d.batteryCurrentA!).toBeLessThan(-5);
    expect(d.voltageV!).toBeLessThan(52.4);
    const [ac] = await s.ask(infoRequest(1));
    expect(ac!.body[3]).toBe(4); // invert full
    const [r] = await s.ask(readRamVars('X', [11, 13]));
    const w = decodeWinmon(r!)!;
    expect(w.data[0]).toBe(0x10); // ignore-AC bit 4
    const soc0 = w.data[2]!;
    await s.clock.advance(3_600_000);
    const [r2] = await s.ask(readRamVars('X', [13]));
    expect(decodeWinmon(r2!)!.data[0]!).toBeLessThan(soc0);
  });
  it('F 08 resets the device: RAM-only settings back to the EEPROM copy, no reply', async () => {
    const s = await selected();
    await s.ask(writeViaId('X', 'setting', 15, 3, true));
    expect(await s.askHex(infoRequest(8, 0, 0, 0, 0))).toEqual([]);
    expect(s.sim.setting(15)!.ram).toBe(1);
  });
  it('0x0E forces absorption (sub-state 6, absorption LED)', async () => {
    const s = await selected();
    expect(await s.askHex(winmon('X', 0x0e, 2, 0))).toEqual([hex(encodeFrame(mkFrame('X', 0x94, 9, 6)))]);
    const [led] = await s.ask(ledRequest());
    expect(led!.body[1]).toBe(0x03);
  });
});

describe('VebusSim: pacing and scripted faults (simulation §1)', () => {
  it('wire mode: reply bytes come one at a time, 4.17 ms apart, after the latency', async () => {
    const s = await selected({ wire: true });
    const from = s.chunks.length;
    const t0 = s.clock.now();
    await s.send(ledRequest());
    await s.clock.advance(200);
    const got = s.chunks.slice(from);
    expect(got.every((c) => c.bytes.length === 1)).toBe(true);
    expect(got).toHaveLength(10);
    expect(got[0]!.at - t0).toBeGreaterThanOrEqual(80);
    expect(got[9]!.at - got[0]!.at).toBeCloseTo(9 * BYTE_TIME_MS, 0);
  });
  it('drop-reply, corrupt-checksum, garbage-before, version-before-reply, split-reply, error-reply, delay-reply', async () => {
    const s = await selected();
    s.sim.script.next('drop-reply');
    expect(await s.askHex(ledRequest())).toEqual([]);
    s.sim.script.next('corrupt-checksum');
    const bad0 = s.framer.corruptBytes;
    expect(await s.askHex(ledRequest())).toEqual([]);
    expect(s.framer.corruptBytes - bad0).toBe(10);
    s.sim.script.next('garbage-before').next('version-before-reply');
    const frames = await s.ask(ledRequest());
    expect(frames.map((f) => String.fromCharCode(f.body[0]!))).toEqual(['V', 'L']);
    s.sim.script.next('split-reply');
    const from = s.chunks.length;
    expect(await s.askHex(ledRequest())).toEqual(['08 FF 4C 05 00 00 00 80 00 28']);
    expect(s.chunks.length - from).toBe(10);
    s.sim.script.next('error-reply');
    expect(await s.askHex(readSetting('X', 2))).toEqual([hex(encodeFrame(mkFrame('X', 0x80, 0x00)))]);
    s.sim.script.next('delay-reply');
    expect(await s.askHex(ledRequest())).toEqual([]);
    await s.clock.advance(2000);
    expect(s.rx.at(-1)!.frame.body[0]).toBe(0x4c);
    expect(s.sim.script.pending()).toEqual([]);
  });
  it('one at a time: a request sent while a reply is pending waits; strict mode drops it', async () => {
    const s = await selected();
    await s.send(infoRequest(0));
    await s.send(ledRequest());
    await s.clock.advance(300);
    const lettersOrTypes = s.rx.slice(-2).map((r) => r.frame.type);
    expect(lettersOrTypes).toEqual([0x20, 0xff]);
    const t = await selected({ strict: true });
    const n = t.rx.length;
    await t.send(infoRequest(0));
    await t.clock.advance(1);
    await t.send(ledRequest());
    await t.clock.advance(300);
    expect(t.rx.slice(n).map((r) => r.frame.type)).toEqual([0x20]);
    expect(t.sim.counters.droppedBusy).toBe(1);
  });
});
