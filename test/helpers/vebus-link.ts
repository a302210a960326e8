/**
 * A minimal `Link<F>` for the VE.Bus tests until the generic supervised link
 * (src/link/supervisor.ts, branch wt-link) is merged: opens one transport (memory or a real pty
 * via SerialTransport), frames its bytes with a framer, hands frames both ways, reports state.
 * `reconnect()` closes and reopens at once (no backoff: tests drive it).
 *
 * Also `ptyQuiet`: a FakeClock driver for a REAL pseudo-terminal. Bytes through a pty take real
 * time, so fake time must not run ahead of them: the helper counts bytes written on each side
 * and bytes read on the other, and advances the FakeClock only when every written byte has been
 * read (the wire is quiet). Deterministic however loaded the machine is; no wall-time assertions.
 */
import type { FakeClock } from '../../src/clock.js';
import type { Framer, FrameListener, Link, LinkState, SendResult, StateListener } from '../../src/link/types.js';
import type { Transport } from '../../src/link/transports/types.js';

export interface TestLink<F> extends Link<F> {
  open(): Promise<void>;
  close(): Promise<void>;
  readonly framer: Framer<F>;
}

export function createTestLink<F>(id: string, transport: Transport, framer: Framer<F>, clock: { now(): number }): TestLink<F> {
  let state: LinkState = 'connecting';
  const frameL = new Set<FrameListener<F>>();
  const txL = new Set<FrameListener<F>>();
  const stateL = new Set<StateListener>();
  let offData: (() => void) | null = null;
  let offClose: (() => void) | null = null;
  const setState = (s: LinkState, detail: string) => {
    state = s;
    for (const l of stateL) l(s, detail);
  };
  const link: TestLink<F> = {
    id,
    framer,
    get state() {
      return state;
    },
    async open() {
      setState('connecting', `opening ${transport.description}`);
      try {
        if (!transport.isOpen) await transport.open();
      } catch (err) {
        setState('down', (err as Error).message);
        return;
      }
      framer.reset();
      offData = transport.onData((chunk) => {
        for (const f of framer.push(chunk)) for (const l of frameL) l(f, clock.now());
      });
      offClose = transport.onClose((err) => {
        offData?.();
        offClose?.();
        setState('down', err?.message ?? 'closed');
      });
      setState('up', `open ${transport.description}`);
    },
    async close() {
      offData?.();
      offClose?.();
      offData = offClose = null;
      await transport.close();
      setState('down', 'closed');
    },
    async send(frame: F): Promise<SendResult> {
      if (state !== 'up') return { ok: false, code: 'LINK_DOWN', message: `${id} is ${state}` };
      let bytes: Uint8Array;
      try {
        bytes = framer.encode(frame);
      } catch (err) {
        return { ok: false, code: 'WRITE_FAILED', message: (err as Error).message };
      }
      // Listeners hear the frame before its bytes can produce a reply (as a supervisor would).
      for (const l of txL) l(frame, clock.now());
      try {
        await transport.write(bytes);
      } catch (err) {
        return { ok: false, code: 'WRITE_FAILED', message: (err as Error).message };
      }
      return { ok: true };
    },
    onFrame(l) {
      frameL.add(l);
      return () => frameL.delete(l);
    },
    onTx(l) {
      txL.add(l);
      return () => txL.delete(l);
    },
    onState(l) {
      stateL.add(l);
      return () => stateL.delete(l);
    },
    reconnect(reason: string) {
      void (async () => {
        offData?.();
        offClose?.();
        offData = offClose = null;
        await transport.close();
        setState('down', reason);
        await link.open();
      })();
    },
  };
  return link;
}

/** Wraps a transport to count bytes written through it and bytes read from it. */
export function countingTransport(t: Transport): Transport & { written: number; read: number } {
  const c = {
    written: 0,
    read: 0,
    get description() {
      return t.description;
    },
    get isOpen() {
      return t.isOpen;
    },
    open: () => t.open(),
    close: () => t.close(),
    write(bytes: Uint8Array) {
      c.written += bytes.length;
      return t.write(bytes);
    },
    onData: (l: (chunk: Uint8Array) => void) => t.onData(l),
    onClose: (l: (err?: Error) => void) => t.onClose(l),
  };
  // Counted once per chunk, whoever listens (and whether anyone does).
  t.onData((chunk) => (c.read += chunk.length));
  return c;
}

/**
 * Advances `clock` by `ms` in `stepMs` steps, before each step waiting (in real time, up to
 * `maxWaitMs` per step) until every byte written by each side has been read by the other.
 */
export async function advanceQuiet(
  clock: FakeClock,
  ms: number,
  host: { written: number; read: number },
  device: { written: number; read: number },
  opts: { stepMs?: number; maxWaitMs?: number } = {},
): Promise<void> {
  const step = opts.stepMs ?? 5;
  for (let t = 0; t < ms; t += step) {
    await quiet(host, device, opts.maxWaitMs ?? 5000);
    await clock.advance(Math.min(step, ms - t));
  }
  await quiet(host, device, opts.maxWaitMs ?? 5000);
}

async function quiet(host: { written: number; read: number }, device: { written: number; read: number }, maxWaitMs: number): Promise<void> {
  const start = Date.now();
  // A write resolves before its bytes are read; poll with real timers until both directions drain.
  while (host.written !== device.read || device.written !== host.read) {
    if (Date.now() - start > maxWaitMs) {
      throw new Error(`pty did not drain in ${maxWaitMs} ms: host wrote ${host.written}, device read ${device.read}; device wrote ${device.written}, host read ${host.read}`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}
