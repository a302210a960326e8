/**
 * Finding a PI18 unit by its serial number (issue 11 "Transports"; the seed's `--serial`): list
 * the candidate devices (hidraw nodes with the inverter's VID:PID, or serial ports), open each
 * in turn, ask `^P005ID`, and answer with a fresh transport for the one that reports the serial
 * — so a unit moved to another USB port is still found, and two units are told apart by serial.
 *
 * Used as a link's TransportFactory: every connection attempt probes again. A candidate that
 * cannot be opened (held by another program, no permission) or does not answer is skipped; when
 * none matches, the attempt fails with a message naming what was tried (the link retries).
 */
import type { Clock } from '../../clock.js';
import type { Transport, TransportFactory } from '../../link/transports/types.js';
import { decodeId, type CrcVariant } from './codec.js';
import { Pi18Framer } from './framer.js';

export interface Pi18ProbeOptions {
  /** The serial as ID reports it (the first LL digits), or the whole 22-digit ID payload. */
  serial: string;
  clock: Clock;
  /** The candidates, e.g. hidraw paths of every 0665:5161 device (node-hid `devices()`). */
  list: () => Promise<string[]>;
  /** An unopened transport for a candidate. */
  open: (path: string) => Transport;
  /** Reply deadline per candidate. Default 2000 ms (pi18.md §3.1). */
  timeoutMs?: number;
  crcVariant?: CrcVariant;
}

/** Asks one opened transport for its ID; resolves with the decoded serial and raw payload, or null. */
export function probeId(t: Transport, clock: Clock, timeoutMs = 2000, crcVariant?: CrcVariant): Promise<{ serial: string; raw: string } | null> {
  return new Promise((resolve) => {
    const framer = new Pi18Framer({ crcVariant });
    let done = false;
    const finish = (v: { serial: string; raw: string } | null) => {
      if (done) return;
      done = true;
      off();
      clock.clearTimeout(timer);
      resolve(v);
    };
    const off = t.onData((chunk) => {
      for (const f of framer.push(chunk)) {
        if (f.type !== 'data') continue;
        const id = decodeId(f.payload);
        if (id.ok) finish(id.value);
      }
    });
    const timer = clock.setTimeout(() => finish(null), timeoutMs);
    t.write(framer.encode({ type: 'query', command: 'ID' })).catch(() => finish(null));
  });
}

/** A TransportFactory that finds the unit with `serial` among `list()` (see the module comment). */
export function pi18SerialFactory(opts: Pi18ProbeOptions): TransportFactory {
  return async () => {
    const paths = await opts.list();
    const seen: string[] = [];
    for (const path of paths) {
      const t = opts.open(path);
      try {
        await t.open();
      } catch (err) {
        seen.push(`${path}: cannot open (${err instanceof Error ? err.message : String(err)})`);
        continue;
      }
      let id: { serial: string; raw: string } | null = null;
      try {
        id = await probeId(t, opts.clock, opts.timeoutMs, opts.crcVariant);
      } finally {
        await t.close().catch(() => undefined);
      }
      if (id && (id.serial === opts.serial || id.raw === opts.serial)) return opts.open(path);
      seen.push(`${path}: ${id ? `serial ${id.serial}` : 'no ID reply'}`);
    }
    throw new Error(
      `no PI18 inverter with serial ${opts.serial} found (${seen.length ? seen.join('; ') : 'no candidate devices — is it plugged in? ls /dev/hidraw*'})`,
    );
  };
}
