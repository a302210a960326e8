/**
 * `powerplane central --config central.yaml`: the central service of a fleet (JetStream
 * consumers into PostgreSQL, the fleet GraphQL API). See src/fleet/central.ts.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { loadCentralConfig } from '../fleet/central-config.js';
import { CentralService } from '../fleet/central.js';

const USAGE = `usage: powerplane central --config central.yaml [--port N] [--host H]

  --config FILE    the central service's config (YAML): nats, postgres, server
  --port, --host   override server.port / server.host of the fleet API`;

/** Runs the central service until SIGINT/SIGTERM. Throws ConfigError on a bad config. */
export async function runCentral(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || !values.config) {
    console.log(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const config = loadCentralConfig(values.config);
  if (values.port !== undefined) config.server.port = Number(values.port);
  if (values.host !== undefined) config.server.host = values.host;
  const log = createLogger(process.env.LOG_LEVEL ?? 'info');
  const central = new CentralService({ config, log });
  await central.start();
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${signal}: stopping the central service (unacknowledged messages are redelivered to the next run)`);
    await central.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}
