/**
 * One simulated LVX6048 and its driver, on the FakeClock, for PI18 driver and profile tests:
 * Pi18Sim behind a fake HID device → HidTransport (8-byte reports) → SupervisedLink + Pi18Framer
 * → Pi18Driver. Every connection attempt opens a fresh fake device (`dev` is the current one).
 * `hidPair` builds two units (master/slave) each on its own fake HID device.
 */
import { FakeClock } from '../../src/clock.js';
import type { AdmittedCommand, Observation } from '../../src/families/contract.js';
import { Pi18Driver, type Pi18Command, type Pi18DriverOptions, type Pi18Fact } from '../../src/families/pi18/driver.js';
import type { Pi18Frame } from '../../src/families/pi18/codec.js';
import { Pi18Framer } from '../../src/families/pi18/framer.js';
import { createPi18Pair, Pi18Sim, type FakePi18HidDevice, type Pi18SimOptions } from '../../src/families/pi18/sim.js';
import { SupervisedLink } from '../../src/link/supervisor.js';
import { HidTransport } from '../../src/link/transports/hid.js';
import { recordTx, type TxRecorder } from './expect-tx.js';

export interface Pi18Unit {
  clock: FakeClock;
  sim: Pi18Sim;
  /** The fake HID device of the current connection. */
  readonly dev: FakePi18HidDevice;
  framer: Pi18Framer;
  link: SupervisedLink<Pi18Frame>;
  driver: Pi18Driver;
  obs: Observation<Pi18Fact>[];
  tx: TxRecorder<Pi18Frame>;
  stop(): Promise<void>;
}

/** Only for tests: the gate is the one maker of admitted commands in the server. */
export function admitForTest(cmd: Pi18Command): AdmittedCommand<Pi18Command> {
  return cmd as AdmittedCommand<Pi18Command>;
}

export async function hidUnit(
  opts: {
    sim?: Pi18SimOptions;
    driver?: Partial<Pi18DriverOptions>;
    clock?: FakeClock;
    simInstance?: Pi18Sim;
    id?: string;
    /** Drop the padding after the CR in each input report (HidTransport dropAfterDelimiter). Default true. */
    trimReports?: boolean;
  } = {},
): Promise<Pi18Unit> {
  const clock = opts.clock ?? new FakeClock();
  const sim = opts.simInstance ?? new Pi18Sim({ clock, ...opts.sim });
  const id = opts.id ?? 'lvx-1';
  let dev: FakePi18HidDevice | null = null;
  const factory = async () =>
    new HidTransport({
      target: { vendorId: 0x0665, productId: 0x5161 },
      opener: async () => (dev = sim.hidDevice()),
      dropAfterDelimiter: opts.trimReports === false ? undefined : 0x0d,
    });
  const framer = new Pi18Framer();
  const link = new SupervisedLink<Pi18Frame>(factory, framer, { id, clock, name: 'PI18 inverter', backoff: { initialMs: 1000, maxMs: 5000 } });
  const tx = recordTx(link, clock);
  const driver = new Pi18Driver({ deviceId: id, link, clock, framer, statusMs: 5000, faultsMs: 10_000, settingsMs: 60_000, ...opts.driver });
  const obs: Observation<Pi18Fact>[] = [];
  driver.onObservation((o) => obs.push(o));
  driver.start();
  link.start();
  await clock.advance(0);
  return {
    clock,
    sim,
    get dev() {
      if (!dev) throw new Error('no HID device opened yet');
      return dev;
    },
    framer,
    link,
    driver,
    obs,
    tx,
    async stop() {
      await driver.stop();
      await link.stop();
    },
  };
}

export async function hidPair(opts: { sim?: Pi18SimOptions; driver?: Partial<Pi18DriverOptions> } = {}): Promise<[Pi18Unit, Pi18Unit]> {
  const clock = new FakeClock();
  const [a, b] = createPi18Pair({ clock, ...opts.sim });
  const ua = await hidUnit({ clock, simInstance: a, id: 'lvx-1', driver: opts.driver });
  const ub = await hidUnit({ clock, simInstance: b, id: 'lvx-2', driver: opts.driver });
  return [ua, ub];
}

/** The observations of one type, typed. */
export function ofType<T extends Observation<Pi18Fact>['type']>(obs: Observation<Pi18Fact>[], type: T): Extract<Observation<Pi18Fact>, { type: T }>[] {
  return obs.filter((o): o is Extract<Observation<Pi18Fact>, { type: T }> => o.type === type);
}
