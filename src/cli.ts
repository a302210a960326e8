/**
 * `powerplane serve [--config powerplane.yaml]`: serves the API and dashboard. Without a
 * config file it runs the built-in simulated rig and says so.
 */
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { RealClock } from './clock.js';
import { createLogger } from './log.js';
import { ConfigError, loadConfigFile } from './config/load.js';
import { buildRig, simulatedClockStart, simulatedConfig } from './rig.js';
import { kindsIn, loadFamilies } from './families/registry.js';
import { Store, StoreOpenError } from './store/store.js';
import { startServer } from './server.js';
import { runCentral } from './cli/central.js';
import { FleetOutbox } from './fleet/outbox.js';
import { attachOutbox } from './fleet/attach.js';
import { FleetCommands } from './fleet/commands.js';

const USAGE = `usage: powerplane serve [--config powerplane.yaml] [--port N] [--host H] [--db FILE] [--sim-speed X] [--sim-soc PCT]

  --config FILE    hardware config (YAML); without it the built-in simulated rig runs
  --sim-speed X    run the simulated rig X times faster than real time (default 1)
  --sim-soc PCT    state of charge the simulated pack starts at (default 40)
  --port, --host   override server.port / server.host (host defaults to 127.0.0.1)
  --db FILE        override database.path

       powerplane central --config central.yaml   (the fleet's central service; see --help there)`;

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'central') return runCentral(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string' },
      host: { type: 'string' },
      db: { type: 'string' },
      'sim-speed': { type: 'string' },
      'sim-soc': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0] ?? 'serve';
  if (values.help || command !== 'serve') {
    console.log(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const simulated = !values.config;
  const speed = values['sim-speed'] ? Number(values['sim-speed']) : 1;
  if (!(speed > 0 && speed <= 10_000)) throw new ConfigError(`--sim-speed must be a number between 0 and 10000, got "${values['sim-speed']}"`);
  if (!simulated && values['sim-speed']) throw new ConfigError('--sim-speed only applies to the built-in simulated rig (no --config)');
  const simSoc = values['sim-soc'] === undefined ? undefined : Number(values['sim-soc']);
  if (simSoc !== undefined && !(simSoc >= 0 && simSoc <= 100)) throw new ConfigError(`--sim-soc must be a number between 0 and 100, got "${values['sim-soc']}"`);
  if (!simulated && simSoc !== undefined) throw new ConfigError('--sim-soc only applies to the built-in simulated rig (no --config)');

  // Overrides are applied before validation, so a --host beyond loopback meets the same
  // token rule as server.host in the file.
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be 0–65535, got "${values.port}"`);
  }
  const overrides = { host: values.host || undefined, port, dbPath: values.db || undefined };
  const config = simulated ? simulatedConfig(overrides) : loadConfigFile(values.config!, overrides);

  const log = createLogger(config.log.level);
  if (simulated) {
    log.warn({ speed }, `SIMULATED RIG: no config file given, so powerplane runs its built-in simulator (two USB-CAN-A adapters: two Flatpack2 PSUs on one, a Deye BMS on the other, and a 16-cell LiFePO4 pack${speed !== 1 ? `, ${speed}× real time` : ''}). Nothing here drives real hardware. Use --config FILE for a real rig.`);
  }
  const dbPath = resolve(config.database.path);
  try {
    mkdirSync(dirname(dbPath), { recursive: true });
  } catch (e) {
    throw new StoreOpenError(`database folder ${dirname(dbPath)} cannot be created (${(e as Error).message}): set database.path (--db) to a writable place; nothing was started`, (e as NodeJS.ErrnoException).code ?? null);
  }
  // Opened (and proven writable) before any adapter: a bad database stops here, with one line.
  const store = Store.open({ path: dbPath });
  // A simulated rig continues its own time across restarts (it may run ahead of the wall clock).
  const clock = simulated ? new RealClock(speed, simulatedClockStart(store)) : new RealClock(1);
  // Only the device families this config names are loaded (a family may bring a heavy dependency).
  const families = await loadFamilies(kindsIn(config));
  const rig = buildRig({ config, clock, store, log, simulated, families, pack: simSoc === undefined ? undefined : { socPct: simSoc } });
  rig.start();
  const server = await startServer({ engine: rig.engine, log, ...config.server });
  // Forwarding to the fleet's central service, when configured (SQLite stays the source of truth).
  const outbox = config.fleet ? new FleetOutbox({ store, clock, log, fleet: config.fleet }) : null;
  if (outbox) {
    attachOutbox(rig.engine, outbox);
    outbox.start();
  }
  // Commands from the fleet, only when the site's admin enabled them (connects in the background).
  const fleetCommands = config.fleet?.commands.enabled ? new FleetCommands({ engine: rig.engine, fleet: config.fleet, log, role: config.fleet.commands.role }) : null;
  fleetCommands?.start().catch((e: unknown) => log.error({ err: String(e) }, `fleet: commands from the central side are off (${String(e)})`));

  const day = 24 * 3600_000;
  const prune = () => {
    const now = clock.now(); // the rows carry clock time (simulated time on a sped-up rig)
    const r = store.prune({ framesOlderThan: now - config.database.retainFramesDays * day, samplesOlderThan: now - config.database.retainSamplesDays * day });
    if (r.frames || r.samples) log.info(r, `pruned ${r.frames} frames and ${r.samples} samples past retention`);
  };
  prune();
  const pruneTimer = setInterval(prune, 3600_000);
  pruneTimer.unref();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${signal}: stopping`);
    clearInterval(pruneTimer);
    await server.close();
    await outbox?.stop();
    await fleetCommands?.stop().catch(() => undefined);
    await rig.stop();
    try {
      store.close();
    } catch (e) {
      log.error({ err: String(e) }, `stopping: the last rows could not be written (${String(e)})`);
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof ConfigError || e instanceof StoreOpenError) {
    console.error(e.message);
    process.exit(2);
  }
  console.error(e);
  process.exit(1);
});
