/**
 * `powerplane serve`: the API and dashboard. Without a config file it runs the built-in
 * simulated rig and says so. SIGTERM/SIGINT stop gracefully (chargers stopped, every DC
 * output in standby, the store flushed); SIGHUP re-reads the config and applies its
 * reloadable part (the log level), saying what it reloaded.
 */
import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
// Types only: the server's modules are loaded when `serve` runs, so that the other commands
// (get, set, charge …) start in a fraction of the time.
import type { ServiceLogger } from '../log.js';
import type { ConfigOverrides } from '../config/load.js';
import type { PowerplaneConfig } from '../config/schema.js';
import type { EarlyRecord, Metrics } from '../metrics.js';
import { CliError, EXIT, version } from './common.js';

interface ServeOptions {
  config?: string;
  port?: string;
  host?: string;
  db?: string;
  simSpeed?: string;
  simSoc?: string;
  logLevel?: string;
  mqtt?: string;
}

/** How long a graceful stop may take before the process exits anyway (systemd waits 90 s by default). */
const STOP_GRACE_MS = 15_000;

const usage = (m: string) => new CliError(EXIT.USAGE, m);

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the GraphQL API and the dashboard (the built-in simulated rig without --config)')
    .option('-c, --config <file>', 'hardware config (YAML); without it the built-in simulated rig runs')
    .option('--port <n>', 'override server.port')
    .option('--host <addr>', 'override server.host (defaults to 127.0.0.1; any other address needs a token)')
    .option('--db <file>', 'override database.path')
    .option('--sim-speed <x>', 'run the simulated rig x times faster than real time (default 1)')
    .option('--sim-soc <pct>', 'state of charge the simulated pack starts at (default 40)')
    .option('--mqtt <url>', 'publish to this MQTT broker (Home Assistant discovery on); overrides mqtt.url')
    .option('--log-level <level>', "log level: trace, debug, info, warn, error, fatal, silent (env LOG_LEVEL; default: the config's log.level)")
    .action((o: ServeOptions) => serve(o));
}

export async function serve(values: ServeOptions): Promise<void> {
  // The MQTT client (a few hundred ms to load) is imported below only when a broker is configured.
  // So is prom-client (with OpenTelemetry, ~0.1–0.2 s of CPU): the metrics are made once the server listens.
  const [{ RealClock }, { createLogger, isLogLevel, LOG_LEVELS }, { loadConfigFile }, { buildRig, simulatedClockStart, simulatedConfig }, { kindsIn, loadFamilies }, { Store, StoreOpenError }, { startServer }, { mqttSchema }] =
    await Promise.all([
      import('../clock.js'),
      import('../log.js'),
      import('../config/load.js'),
      import('../rig.js'),
      import('../families/registry.js'),
      import('../store/store.js'),
      import('../server.js'),
      import('../mqtt/config.js'),
    ]);
  const simulated = !values.config;
  const speed = values.simSpeed ? Number(values.simSpeed) : 1;
  if (!(speed > 0 && speed <= 10_000)) throw usage(`--sim-speed must be a number between 0 and 10000, got "${values.simSpeed}"`);
  if (!simulated && values.simSpeed) throw usage('--sim-speed only applies to the built-in simulated rig (no --config)');
  const simSoc = values.simSoc === undefined ? undefined : Number(values.simSoc);
  if (simSoc !== undefined && !(simSoc >= 0 && simSoc <= 100)) throw usage(`--sim-soc must be a number between 0 and 100, got "${values.simSoc}"`);
  if (!simulated && simSoc !== undefined) throw usage('--sim-soc only applies to the built-in simulated rig (no --config)');
  const envLevel = process.env.LOG_LEVEL || undefined;
  if (values.logLevel !== undefined && !isLogLevel(values.logLevel)) throw usage(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${values.logLevel}"`);
  if (envLevel !== undefined && !isLogLevel(envLevel)) throw usage(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${envLevel}"`);

  // Overrides are applied before validation, so a --host beyond loopback meets the same
  // token rule as server.host in the file.
  let port: number | undefined;
  if (values.mqtt !== undefined && !mqttSchema.shape.url.safeParse(values.mqtt).success) throw usage(`--mqtt must be a broker URL such as mqtt://192.168.1.10:1883, got "${values.mqtt}"`);
  if (values.port !== undefined) {
    port = Number(values.port);
    if (values.port.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw usage(`--port must be 0–65535, got "${values.port}"`);
  }
  const overrides: ConfigOverrides = { host: values.host || undefined, port, dbPath: values.db || undefined };
  const config = simulated ? simulatedConfig({ ...overrides, evse: true, inverters: true, vebus: true }) : loadConfigFile(values.config!, overrides);

  // The command line wins over the environment, which wins over the file.
  const levelFrom = values.logLevel ? '--log-level' : envLevel ? 'LOG_LEVEL' : 'config';
  const log: ServiceLogger = createLogger(values.logLevel ?? envLevel ?? config.log.level);
  if (simulated) {
    log.warn({ speed }, `SIMULATED RIG: no config file given, so powerplane runs its built-in simulator (two USB-CAN-A adapters: two Flatpack2 PSUs on one, a Deye BMS on the other, and a 16-cell LiFePO4 pack${speed !== 1 ? `, ${speed}× real time` : ''}). Nothing here drives real hardware. Use --config FILE for a real rig.`);
  }
  if (levelFrom !== 'config') log.info({ level: log.level }, `log level ${log.level} (from ${levelFrom})`);
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
  // Until the metrics exist, what they count is kept here (from before the rig starts), then
  // handed over in the same tick as they subscribe: nothing is missed or counted twice.
  const early: EarlyRecord = { events: [], writes: [] };
  const earlyUnsubs = [rig.engine.events.subscribe((e) => void early.events.push(e)), store.watchWrites((w) => void early.writes.push(w))];
  rig.start();
  let metricsLoad: Promise<Metrics> | undefined;
  const loadMetrics = () =>
    (metricsLoad ??= import('../metrics.js').then(({ createMetrics }) => {
      const m = createMetrics({ engine: rig.engine, log, dbPath, early });
      for (const u of earlyUnsubs) u();
      return m;
    }));
  // prom-client's text format; a scrape before the metrics exist waits for them.
  const metrics = { contentType: 'text/plain; version=0.0.4; charset=utf-8', text: async () => (await loadMetrics()).text() };
  const server = await startServer({ engine: rig.engine, log, metrics, ...config.server });
  // Listening: now load them (off the path to the first answer).
  setImmediate(() =>
    void loadMetrics().catch((e: unknown) => {
      for (const u of earlyUnsubs) u(); // nothing will take what was kept
      log.error({ err: String(e) }, `metrics: not available (${String(e)}); /metrics answers with an error`);
    }),
  );
  const mqttConfig = values.mqtt ? mqttSchema.parse({ ...config.mqtt, url: values.mqtt }) : config.mqtt;
  const mqtt = mqttConfig ? (await import('../mqtt/bridge.js')).startMqttBridge({ engine: rig.engine, log, config: mqttConfig, version: version() }) : null;
  // Forwarding to the fleet's central service, when configured (SQLite stays the source of truth).
  const fleet = config.fleet;
  const { FleetOutbox } = fleet ? await import('../fleet/outbox.js') : { FleetOutbox: null };
  const outbox = fleet && FleetOutbox ? new FleetOutbox({ store, clock, log, fleet }) : null;
  if (outbox) {
    (await import('../fleet/attach.js')).attachOutbox(rig.engine, outbox);
    outbox.start();
  }
  // Commands from the fleet, only when the site's admin enabled them (connects in the background).
  const fleetCommands = fleet?.commands.enabled ? new (await import('../fleet/commands.js')).FleetCommands({ engine: rig.engine, fleet, log, role: fleet.commands.role }) : null;
  fleetCommands?.start().catch((e: unknown) => log.error({ err: String(e) }, `fleet: commands from the central side are off (${String(e)})`));

  const day = 24 * 3600_000;
  // By the time indexes, in batches of a few ms with the event loop free between them: the
  // first answer does not wait for it, and a large store is never scanned.
  let pruning = false;
  const prune = () => {
    if (pruning) return;
    pruning = true;
    const now = clock.now(); // the rows carry clock time (simulated time on a sped-up rig)
    const db = config.database;
    store
      .pruneInBatches({ framesOlderThan: now - db.retainFramesDays * day, samplesOlderThan: now - db.retainSamplesDays * day, minuteRollupsOlderThan: now - db.retainMinuteRollupsDays * day })
      .then((r) => {
        if (r.frames || r.samples || r.minuteRollups) log.info(r, `pruned ${r.frames} frames, ${r.samples} samples and ${r.minuteRollups} minute rollups past retention`);
      })
      .catch((e: unknown) => log.error({ err: String(e) }, `pruning failed: ${String(e)}`))
      .finally(() => (pruning = false));
  };
  setImmediate(prune);
  const pruneTimer = setInterval(prune, 3600_000);
  pruneTimer.unref();

  let running: PowerplaneConfig = config;
  const reload = () => {
    if (simulated) {
      log.info({ signal: 'SIGHUP' }, `SIGHUP: no config file (built-in simulated rig), nothing to reload; log level stays ${log.level}`);
      return;
    }
    let next: PowerplaneConfig;
    try {
      next = loadConfigFile(values.config!, overrides);
    } catch (e) {
      log.error({ signal: 'SIGHUP' }, `SIGHUP: ${values.config} was not reloaded, the running settings stay: ${(e as Error).message}`);
      return;
    }
    const before = log.level;
    log.level = next.log.level;
    const needRestart = (['server', 'database', 'links', 'chargers'] as const).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(running[k]));
    running = { ...running, log: next.log };
    log.info(
      { signal: 'SIGHUP', reloaded: ['log.level'], needRestart },
      `SIGHUP: reloaded ${values.config}: log level ${before === next.log.level ? `unchanged (${before})` : `${before} → ${next.log.level}`}${needRestart.length ? `; changes to ${needRestart.join(', ')} apply after a restart` : ''}`,
    );
  };

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${signal}: stopping: chargers stopped, every DC output to standby, the store flushed`);
    const guard = setTimeout(() => {
      log.error({ signal }, `stopping took longer than ${STOP_GRACE_MS / 1000} s; exiting now (check the PSUs' output by hand)`);
      process.exit(1);
    }, STOP_GRACE_MS);
    guard.unref();
    clearInterval(pruneTimer);
    const engine = rig.engine;
    const reason = `service stopping (${signal})`;
    engine.record({ type: 'service.stopping', data: { signal } }, true);
    // Nothing supervises the outputs once this process is gone: stop every charge through its
    // own stop path, then standby on every DC output bus, while the links are still open.
    for (const c of engine.listChargers()) {
      try {
        const r = await engine.charger(c.id)!.stopCharge('shutdown', reason);
        if (r.ok) log.info({ charger: c.id }, `charger ${c.id}: charge stopped (${reason}); start it again once the service runs`);
        else if (r.code !== 'NOT_CHARGING') log.warn({ charger: c.id, code: r.code }, `charger ${c.id}: ${r.message}`);
      } catch (e) {
        log.error({ charger: c.id, err: String(e) }, `charger ${c.id}: could not be stopped (${String(e)}); switch its PSUs off by hand`);
      }
    }
    try {
      const buses = await engine.dc.standbyAll(reason);
      log.info({ buses }, `standby sent on ${buses.length ? buses.join(', ') : 'no bus'}`);
    } catch (e) {
      log.error({ err: String(e) }, `standby on stop failed (${String(e)}); switch the PSUs off by hand`);
    }
    try {
      await mqtt?.stop(); // "offline" (retained) after the final state
    } catch (e) {
      log.warn({ err: String(e) }, `mqtt: ${String(e)}`);
    }
    await server.close();
    await outbox?.stop();
    await fleetCommands?.stop().catch(() => undefined);
    await rig.stop();
    try {
      store.close();
    } catch (e) {
      log.error({ err: String(e) }, `stopping: the last rows could not be written (${String(e)})`);
    }
    log.info({ signal }, 'stopped');
    log.flush?.();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGHUP', reload);
}
