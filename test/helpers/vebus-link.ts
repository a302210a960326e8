/**
 * A FakeClock driver for a REAL pseudo-terminal (used by test/helpers/vebus-rig.ts). Bytes through a pty take real
 * time, so fake time must not run ahead of them: the helper counts bytes written on each side
 * and bytes read on the other, and advances the FakeClock only when every written byte has been
 * read (the wire is quiet). Deterministic however loaded the machine is; no wall-time assertions.
 */
import type { FakeClock } from '../../src/clock.js';
import type { Transport } from '../../src/link/transports/types.js';

/** Wraps a transport to count bytes written through it and bytes read from it. */
export function countingTransport(t: Transport, opts: { peerOpen?: () => boolean } = {}): Transport & { written: number; read: number } {
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
      // Bytes for a peer that is not open (a memory link unplugged) are lost, not in flight.
      if (!opts.peerOpen || opts.peerOpen()) c.written += bytes.length;
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
