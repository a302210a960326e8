/**
 * SupervisedLink<F> (src/link/supervisor.ts) on the FakeClock, with the memory transport and a
 * line framer defined here (frames are strings, "\n"-terminated, printable ASCII only), plus
 * one test on a real pseudo-terminal pair opened with `serialport`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, RealClock, settle } from '../../src/clock.js';
import { delay, SupervisedLink, type SupervisedLinkOptions } from '../../src/link/supervisor.js';
import { createMemoryLink, type MemoryLink } from '../../src/link/transports/memory.js';
import { SerialTransport, serialTransportFactory } from '../../src/link/transports/serial.js';
import type { Transport, TransportFactory } from '../../src/link/transports/types.js';
import type { Framer, LinkState } from '../../src/link/types.js';
import { recordTx } from '../helpers/expect-tx.js';
import { openPtyPair, type PtyPair } from '../helpers/pty-pair.js';
import { waitFor } from '../helpers/wait.js';

/** Lines of printable ASCII ended by "\n"; any other byte is dropped and counted as corrupt. */
class LineFramer implements Framer<string> {
  corruptBytes = 0;
  private partial = '';

  push(chunk: Uint8Array): string[] {
    const out: string[] = [];
    for (const b of chunk) {
      if (b === 0x0a) {
        out.push(this.partial);
        this.partial = '';
      } else if (b >= 0x20 && b <= 0x7e) {
        this.partial += String.fromCharCode(b);
      } else {
        this.corruptBytes++;
      }
    }
    return out;
  }

  reset(): void {
    this.partial = '';
  }

  encode(frame: string): Uint8Array {
    if (!/^[\x20-\x7e]*$/.test(frame)) throw new RangeError(`a line holds printable ASCII only, got ${JSON.stringify(frame)}`);
    return new TextEncoder().encode(frame + '\n');
  }
}

const text = (chunks: Uint8Array[]) => chunks.map((c) => Buffer.from(c).toString('latin1')).join('');
const line = (s: string) => new TextEncoder().encode(s + '\n');

/** A promise with its resolve/reject outside. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A transport the test drives by hand: `open()` waits for `opened` (unless `autoOpen`), and it
 * keeps its listeners after they unsubscribe, so it can fire the late callbacks a real driver's
 * event queue may still deliver after the link gave it up.
 */
class ScriptedTransport implements Transport {
  isOpen = false;
  closed = 0;
  readonly written: Uint8Array[] = [];
  readonly opened = deferred();
  private readonly data: ((c: Uint8Array) => void)[] = [];
  private readonly closes: ((e?: Error) => void)[] = [];

  constructor(
    readonly description: string,
    private readonly autoOpen: boolean,
  ) {}

  async open(): Promise<void> {
    if (!this.autoOpen) await this.opened.promise;
    this.isOpen = true;
  }

  async close(): Promise<void> {
    this.closed++;
    this.isOpen = false;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) throw new Error(`${this.description} is not open`);
    this.written.push(new Uint8Array(bytes));
  }

  onData(l: (c: Uint8Array) => void): () => void {
    this.data.push(l);
    return () => undefined; // deliberately leaky
  }

  onClose(l: (e?: Error) => void): () => void {
    this.closes.push(l);
    return () => undefined; // deliberately leaky
  }

  emitData(bytes: Uint8Array): void {
    for (const l of this.data) l(bytes);
  }

  emitClose(err: Error): void {
    this.isOpen = false;
    for (const l of this.closes) l(err);
  }
}

interface Harness {
  clock: FakeClock;
  mem: MemoryLink;
  link: SupervisedLink<string>;
  framer: LineFramer;
  frames: { frame: string; ts: number }[];
  states: { state: LinkState; detail: string; at: number }[];
  /** Raw bytes the device side received. */
  toDevice: Uint8Array[];
  warnings: string[];
  /** Times (since the first state change) at which an attempt started. */
  attemptTimes(): number[];
}

const links: SupervisedLink<string>[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) await l.stop();
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

function harness(
  opts: Partial<Omit<SupervisedLinkOptions<string>, 'id' | 'clock'>> & { factory?: (mem: MemoryLink) => TransportFactory } = {},
): Harness {
  const clock = new FakeClock();
  const mem = createMemoryLink('line0');
  const framer = new LineFramer();
  const warnings: string[] = [];
  const { factory, ...rest } = opts;
  const link = new SupervisedLink<string>(factory ? factory(mem) : mem.hostFactory(), framer, {
    id: 'line0',
    clock,
    log: { info: () => undefined, warn: (_o, m) => warnings.push(m) },
    ...rest,
  });
  links.push(link);
  const h: Harness = {
    clock,
    mem,
    link,
    framer,
    frames: [],
    states: [],
    toDevice: [],
    warnings,
    attemptTimes: () => {
      const t0 = h.states[0]?.at ?? 0;
      return h.states.filter((s) => s.state === 'connecting').map((s) => s.at - t0);
    },
  };
  link.onFrame((frame, ts) => h.frames.push({ frame, ts }));
  link.onState((state, detail) => h.states.push({ state, detail, at: clock.now() }));
  mem.device.onData((c) => h.toDevice.push(c));
  return h;
}

/** A factory yielding a new ScriptedTransport per attempt (all kept in `made`). */
function scriptedFactory(autoOpen: boolean) {
  const made: ScriptedTransport[] = [];
  const factory: TransportFactory = async () => {
    const t = new ScriptedTransport(`scripted:${made.length + 1}`, autoOpen);
    made.push(t);
    return t;
  };
  return { made, factory };
}

describe('SupervisedLink on the FakeClock', () => {
  it('comes up, moves frames both ways and stamps them with the clock', async () => {
    const h = harness();
    const tx = recordTx(h.link, h.clock);
    h.link.start();
    expect(h.link.state).toBe('connecting');
    await settle();
    expect(h.link.state).toBe('up');
    expect(h.states.map((s) => `${s.state}: ${s.detail}`)).toEqual(['connecting: opening (attempt 1)', 'up: memory:line0']);

    expect(await h.link.send('PING')).toEqual({ ok: true });
    await tx.expect((f) => f === 'PING', 100);
    await settle();
    expect(text(h.toDevice)).toBe('PING\n');

    await h.clock.advance(250);
    await h.mem.device.write(line('PONG'));
    await settle();
    expect(h.frames).toEqual([{ frame: 'PONG', ts: h.clock.now() }]);
    expect(h.link.stats()).toEqual({ rxFrames: 1, corruptBytes: 0, reconnects: 0, txFrames: 1, txFailures: 0, lastError: null });
  });

  it('backs off 100, 200, 400, 800 ms and then stays at the 800 ms cap', async () => {
    const h = harness({ backoff: { initialMs: 100, maxMs: 800 } });
    h.mem.unplug();
    h.link.start();
    await h.clock.advance(4000);
    const at = h.attemptTimes();
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps.slice(0, 7)).toEqual([100, 200, 400, 800, 800, 800, 800]);
    expect(h.link.state).toBe('down');
    expect(h.link.stats().lastError).toMatch(/memory:line0 not present — is the adapter plugged in\?/);
    expect(h.link.stats().reconnects).toBe(at.length - 1);
  });

  it('starts the backoff again from the first delay after a good connection', async () => {
    const h = harness({ backoff: { initialMs: 100, maxMs: 800 } });
    h.mem.unplug();
    h.link.start();
    await h.clock.advance(1500); // attempts at 0, 100, 300, 700, 1500: the next wait is 800
    h.mem.replug();
    await h.clock.advance(800);
    expect(h.link.state).toBe('up');

    h.mem.unplug();
    await settle();
    expect(h.link.state).toBe('down');
    const t1 = h.clock.now();
    h.states.length = 0;
    await h.clock.advance(700);
    // 100 then 200 then 400 again, not 800 onwards.
    const at = h.states.filter((s) => s.state === 'connecting').map((s) => s.at - t1);
    expect(at).toEqual([100, 300, 700]);
  });

  it('send while down returns LINK_DOWN, writes nothing and never throws', async () => {
    const h = harness();
    const tx = recordTx(h.link, h.clock);
    const before = await h.link.send('EARLY'); // never started
    expect(before).toMatchObject({ ok: false, code: 'LINK_DOWN' });
    expect(before.ok === false && before.message).toMatch(/link line0 is down .*nothing was sent — retry when it is up/);

    h.link.start();
    await settle();
    h.mem.unplug();
    await settle();
    expect(h.link.state).toBe('down');
    await expect(h.link.send('LATE')).resolves.toMatchObject({ ok: false, code: 'LINK_DOWN' });
    await tx.expectNone(() => true, 500);
    expect(h.toDevice).toEqual([]);
    expect(h.link.stats()).toMatchObject({ txFrames: 0, txFailures: 2 });
  });

  it('a write failure returns WRITE_FAILED and reconnects once, however many writes fail', async () => {
    let failWrites = false;
    const h = harness({
      factory: (mem) => async () => ({
        get description() {
          return mem.host.description;
        },
        get isOpen() {
          return mem.host.isOpen;
        },
        open: () => mem.host.open(),
        close: () => mem.host.close(),
        write: (b) => (failWrites ? Promise.reject(new Error('EIO: i/o error')) : mem.host.write(b)),
        onData: (l) => mem.host.onData(l),
        onClose: (l) => mem.host.onClose(l),
      }),
    });
    const tx = recordTx(h.link, h.clock);
    h.link.start();
    await settle();
    expect(h.link.state).toBe('up');

    failWrites = true;
    const results = await Promise.all([h.link.send('A'), h.link.send('B'), h.link.send('C')]);
    failWrites = false;
    for (const r of results) expect(r).toMatchObject({ ok: false, code: 'WRITE_FAILED', message: expect.stringMatching(/EIO/) });
    await settle();
    expect(h.link.state).toBe('up');
    expect(h.states.filter((s) => s.detail.startsWith('reconnecting: write failed: EIO'))).toHaveLength(1);
    expect(h.link.stats()).toMatchObject({ reconnects: 1, txFailures: 3, txFrames: 0, lastError: 'EIO: i/o error' });
    expect(tx.frames).toEqual([]);

    expect(await h.link.send('D')).toEqual({ ok: true });
    await tx.expect((f) => f === 'D', 100);
  });

  it('a frame the framer cannot encode is WRITE_FAILED without a reconnect', async () => {
    const h = harness();
    h.link.start();
    await settle();
    const r = await h.link.send('two\nlines');
    expect(r).toMatchObject({ ok: false, code: 'WRITE_FAILED', message: expect.stringMatching(/cannot be encoded: a line holds printable ASCII only/) });
    await settle();
    expect(h.link.state).toBe('up');
    expect(h.link.stats()).toMatchObject({ reconnects: 0, txFailures: 1 });
    expect(h.toDevice).toEqual([]);
  });

  it('a reconnect while opening supersedes the attempt: its transport is closed once its open settles, then a fresh one opens', async () => {
    const { made, factory } = scriptedFactory(false);
    const h = harness({ factory: () => factory });
    h.link.start();
    await settle();
    expect(made).toHaveLength(1);
    expect(h.link.state).toBe('connecting');

    h.link.reconnect('operator asked');
    await settle();
    expect(h.link.state).toBe('down');
    // The next attempt waits: the device is never held by two attempts at once.
    expect(made).toHaveLength(1);

    made[0]!.opened.resolve();
    await settle();
    expect(made[0]!.closed).toBeGreaterThanOrEqual(1);
    expect(made).toHaveLength(2);
    made[1]!.opened.resolve();
    await settle();
    expect(h.link.state).toBe('up');
    expect(h.states.at(-1)!.detail).toBe('scripted:2');
    expect(made[1]!.closed).toBe(0);
    expect(h.link.stats().reconnects).toBe(1);
    expect(await h.link.send('X')).toEqual({ ok: true });
    expect(text(made[1]!.written)).toBe('X\n');
    expect(made[0]!.written).toEqual([]);
  });

  it('a reconnect during the handshake aborts it and starts over', async () => {
    const signals: AbortSignal[] = [];
    const h = harness({
      handshake: async (t, signal) => {
        signals.push(signal);
        await t.write(line('HELLO'));
        await delay(h.clock, 500, signal);
      },
    });
    h.link.start();
    await h.clock.advance(100);
    expect(h.link.state).toBe('connecting');
    h.link.reconnect('watchdog');
    await h.clock.advance(0);
    expect(signals).toHaveLength(2);
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[1]!.aborted).toBe(false);
    await h.clock.advance(499);
    expect(h.link.state).toBe('connecting');
    await h.clock.advance(1);
    expect(h.link.state).toBe('up');
    expect(text(h.toDevice)).toBe('HELLO\nHELLO\n');
  });

  it('ignores data and close callbacks that the transport of an old attempt delivers late', async () => {
    const { made, factory } = scriptedFactory(true);
    const h = harness({ factory: () => factory });
    h.link.start();
    await settle();
    expect(h.link.state).toBe('up');
    h.link.reconnect('no data');
    await settle();
    expect(h.link.state).toBe('up');
    expect(made).toHaveLength(2);
    const [old, current] = made as [ScriptedTransport, ScriptedTransport];
    expect(old.closed).toBeGreaterThanOrEqual(1);

    old.emitData(line('STALE'));
    old.emitClose(new Error('old port went away'));
    await h.clock.advance(60_000);
    expect(h.frames).toEqual([]);
    expect(h.link.state).toBe('up');
    expect(h.link.stats()).toMatchObject({ reconnects: 1, lastError: null });

    current.emitData(line('FRESH'));
    expect(h.frames.map((f) => f.frame)).toEqual(['FRESH']);
    current.emitClose(new Error('EIO'));
    expect(h.link.state).toBe('down');
    expect(h.link.stats().lastError).toBe('EIO');
  });

  it('a partial frame of the old connection does not join the first frame of the new one', async () => {
    const h = harness();
    h.link.start();
    await settle();
    await h.mem.device.write(new TextEncoder().encode('HALF'));
    await settle();
    h.link.reconnect('test');
    await settle();
    expect(h.link.state).toBe('up');
    await h.mem.device.write(line('WHOLE'));
    await settle();
    expect(h.frames.map((f) => f.frame)).toEqual(['WHOLE']);
  });

  it('a failing handshake takes the link down and it retries with the backoff', async () => {
    let answers = false;
    const h = harness({
      handshake: async (t) => {
        await t.write(line('HELLO'));
        if (!answers) throw new Error('the device did not answer HELLO — is it powered?');
      },
    });
    h.link.start();
    await settle();
    expect(h.link.state).toBe('down');
    expect(h.states.at(-1)!.detail).toBe('the device did not answer HELLO — is it powered?');
    expect(h.mem.host.isOpen).toBe(false);
    expect(h.warnings.at(-1)).toBe('link handshake failed; retrying in 1000 ms');

    await h.clock.advance(999);
    expect(h.attemptTimes()).toEqual([0]);
    answers = true;
    await h.clock.advance(1);
    expect(h.attemptTimes()).toEqual([0, 1000]);
    expect(h.link.state).toBe('up');
    expect(text(h.toDevice)).toBe('HELLO\nHELLO\n');
  });

  it('a handshake that never finishes times out, and its signal aborts', async () => {
    let signal: AbortSignal | undefined;
    const h = harness({
      handshakeTimeoutMs: 2000,
      handshake: (_t, s) => {
        signal = s;
        return new Promise<void>(() => undefined); // ignores its signal, never settles
      },
    });
    h.link.start();
    await h.clock.advance(1999);
    expect(h.link.state).toBe('connecting');
    await h.clock.advance(1);
    expect(h.link.state).toBe('down');
    expect(signal!.aborted).toBe(true);
    expect(h.link.stats().lastError).toBe('link handshake on memory:line0 did not finish within 2000 ms');
    expect(h.mem.host.isOpen).toBe(false);
    await h.clock.advance(1000);
    expect(h.link.state).toBe('connecting'); // the retry
  });

  it('stop() during opening: the late open is closed, nothing retries, no timer is left', async () => {
    const { made, factory } = scriptedFactory(false);
    const h = harness({ factory: () => factory });
    h.link.start();
    await settle();
    let stopped = false;
    const stopping = h.link.stop().then(() => (stopped = true));
    await settle();
    expect(h.link.state).toBe('down');
    expect(h.states.at(-1)!.detail).toBe('stopped');
    expect(stopped).toBe(false); // waits for the attempt in progress to let go of the device

    made[0]!.opened.resolve();
    await stopping;
    expect(made[0]!.isOpen).toBe(false);
    expect(made[0]!.closed).toBeGreaterThanOrEqual(1);
    expect(h.clock.pendingTimers()).toBe(0);
    await h.clock.advance(60_000);
    expect(made).toHaveLength(1);
    expect(h.link.state).toBe('down');
    h.link.start(); // a stopped link stays stopped
    h.link.reconnect('too late');
    await settle();
    expect(made).toHaveLength(1);
  });

  it('stop() during the handshake or the backoff leaves no timer and no open port', async () => {
    const h = harness({ handshake: (_t, signal) => delay(h.clock, 500, signal) });
    h.link.start();
    await h.clock.advance(100);
    expect(h.link.state).toBe('connecting');
    await h.link.stop();
    expect(h.mem.host.isOpen).toBe(false);
    expect(h.clock.pendingTimers()).toBe(0);

    const h2 = harness();
    h2.mem.unplug();
    h2.link.start();
    await settle();
    expect(h2.link.state).toBe('down');
    expect(h2.clock.pendingTimers()).toBe(1); // the retry
    await h2.link.stop();
    expect(h2.clock.pendingTimers()).toBe(0);
  });

  it("surfaces the framer's corruptBytes in stats() and still delivers the frames around them", async () => {
    const h = harness();
    h.link.start();
    await settle();
    await h.mem.device.write(Uint8Array.of(0x41, 0x00, 0xff, 0x42, 0x0a, 0x07, 0x43, 0x0a));
    await settle();
    expect(h.frames.map((f) => f.frame)).toEqual(['AB', 'C']);
    expect(h.link.stats()).toMatchObject({ rxFrames: 2, corruptBytes: 3 });
  });

  it('a throwing listener is logged and neither breaks the link nor starves the other listeners', async () => {
    const h = harness();
    h.link.onFrame(() => {
      throw new Error('frame listener bug');
    });
    h.link.onTx(() => {
      throw new Error('tx listener bug');
    });
    h.link.onState(() => {
      throw new Error('state listener bug');
    });
    const tx = recordTx(h.link, h.clock);
    h.link.start();
    await settle();
    expect(h.link.state).toBe('up');
    await h.mem.device.write(line('ONE'));
    await settle();
    expect(h.frames.map((f) => f.frame)).toEqual(['ONE']);
    expect(await h.link.send('TWO')).toEqual({ ok: true });
    await tx.expect((f) => f === 'TWO', 100);
    expect(h.warnings.filter((w) => w === 'link listener threw; continuing').length).toBeGreaterThanOrEqual(4);
  });

  it('unsubscribed listeners hear nothing more', async () => {
    const h = harness();
    const got: string[] = [];
    const off = h.link.onFrame((f) => got.push(f));
    h.link.start();
    await settle();
    await h.mem.device.write(line('A'));
    await settle();
    off();
    await h.mem.device.write(line('B'));
    await settle();
    expect(got).toEqual(['A']);
    expect(h.frames.map((f) => f.frame)).toEqual(['A', 'B']);
  });

  it('the watchdog reconnects a link that went silent, and not one that talks', async () => {
    const h = harness({ watchdog: { silenceMs: 5000, tickMs: 500 } });
    h.link.start();
    await settle();
    for (let i = 0; i < 10; i++) {
      await h.mem.device.write(line(`TICK ${i}`));
      await h.clock.advance(1000);
    }
    expect(h.link.stats().reconnects).toBe(0);

    const quietFrom = h.clock.now();
    await h.clock.advance(6000);
    const rec = h.states.filter((s) => s.detail === 'reconnecting: nothing received for 5 s');
    expect(rec).toHaveLength(1);
    expect(rec[0]!.at - quietFrom).toBeGreaterThan(4000);
    expect(rec[0]!.at - quietFrom).toBeLessThanOrEqual(5500);
    expect(h.link.state).toBe('up');
    expect(h.link.stats().reconnects).toBe(1);
  });

  it('rejects a backoff whose cap is below its first delay', () => {
    const mem = createMemoryLink('x');
    expect(
      () => new SupervisedLink(mem.hostFactory(), new LineFramer(), { id: 'x', clock: new FakeClock(), backoff: { initialMs: 1000, maxMs: 10 } }),
    ).toThrow(/backoff needs 0 < initialMs ≤ maxMs/);
  });
});

describe('SupervisedLink over a real pty pair (serialport)', () => {
  const BAUD = 115_200;

  /** The device end: a SerialTransport on pty side b that records what it receives. */
  async function startDevice(pair: PtyPair) {
    const device = new SerialTransport({ path: pair.b, baudRate: BAUD });
    await device.open();
    let got = '';
    device.onData((c) => (got += Buffer.from(c).toString('latin1')));
    cleanups.push(() => device.close());
    return { device, received: () => got };
  }

  it('comes up, moves frames both ways, and recovers when the pty is closed and reopened', async () => {
    let pair = await openPtyPair();
    cleanups.push(() => pair.close());
    let dev = await startDevice(pair);

    // The factory resolves the path on every attempt, as autodetect does after a replug.
    let hostPath = pair.a;
    const clock = new RealClock();
    const link = new SupervisedLink<string>(
      () => (hostPath ? serialTransportFactory({ path: hostPath, baudRate: BAUD })() : Promise.reject(new Error('no port yet — is the device plugged in?'))),
      new LineFramer(),
      {
        id: 'pty0',
        clock,
        backoff: { initialMs: 50, maxMs: 200 },
        handshake: async (t, signal) => {
          await t.write(line('HELLO'));
          await delay(clock, 20, signal);
        },
      },
    );
    links.push(link);
    const frames: string[] = [];
    const states: string[] = [];
    link.onFrame((f) => frames.push(f));
    link.onState((s, d) => states.push(`${s}: ${d}`));
    link.start();
    await waitFor(() => link.state === 'up', 'link up', 10_000, 10);
    expect(states.at(-1)).toBe(`up: ${pair.a}`);

    expect(await link.send('SET 54.0')).toEqual({ ok: true });
    await waitFor(() => dev.received() === 'HELLO\nSET 54.0\n', 'the handshake and the frame at the device', 10_000, 10);
    await dev.device.write(line('STATUS 53.9'));
    await waitFor(() => frames.length === 1, 'a frame from the device', 10_000, 10);
    expect(frames).toEqual(['STATUS 53.9']);

    // Pull the cable: the relay exits, both ptys hang up, serialport reports the loss.
    hostPath = '';
    await pair.close();
    await waitFor(() => link.state === 'down', 'link down', 10_000, 10);
    expect(states.find((d) => d.startsWith('down:'))).toMatch(/closed unexpectedly.*unplugged\?/);
    expect(await link.send('SET 54.0')).toMatchObject({ ok: false, code: 'LINK_DOWN' });
    await waitFor(() => /no port yet/.test(link.stats().lastError ?? ''), 'a failed retry', 10_000, 10);

    // Plug in again: a new pty pair, a new name.
    pair = await openPtyPair();
    cleanups.push(() => pair.close());
    dev = await startDevice(pair);
    hostPath = pair.a;
    await waitFor(() => link.state === 'up', 'link up again', 10_000, 10);
    expect(link.stats().reconnects).toBeGreaterThanOrEqual(1);
    expect(await link.send('SET 55.0')).toEqual({ ok: true });
    await waitFor(() => dev.received() === 'HELLO\nSET 55.0\n', 'the handshake and the frame on the new port', 10_000, 10);
    await dev.device.write(line('STATUS 55.0'));
    await waitFor(() => frames.length === 2, 'a frame on the new port', 10_000, 10);
    expect(frames).toEqual(['STATUS 53.9', 'STATUS 55.0']);
    expect(link.stats()).toMatchObject({ corruptBytes: 0, txFrames: 2 });
  });
});
