/** `check-config FILE`: validates a config and prints it resolved (defaults filled in, secrets masked). */
import type { Command } from 'commander';
import { print } from './common.js';

/** The config with plain-text tokens replaced, so the output can be pasted into an issue. */
export function masked(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(masked);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, (k === 'token' || k === 'apiToken' || k === 'password') && typeof v === 'string' ? '***' : masked(v)]));
  }
  return value;
}

export function register(program: Command): void {
  program
    .command('check-config')
    .argument('<file>', 'the config file (YAML)')
    .description('validate a config file and print it resolved (exit 2 naming the key when it is not valid)')
    .option('--json', 'print the resolved config as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const { loadConfigFile } = await import('../config/load.js');
      // A ConfigError (exit 2, the key and what is allowed) propagates to the entry point.
      const config = masked(loadConfigFile(file));
      const { stringify } = await import('yaml');
      print(o, config, () => `# ${file} is valid; resolved (defaults filled in, plain-text tokens masked):\n${stringify(config).trimEnd()}`);
    });
}
