/**
 * The command line: one commander program, one file per command group (src/cli/<group>.ts,
 * each exporting `register(program)`). A new group is a new file and one line below.
 */
import { Command, CommanderError } from 'commander';
import { CliError, EXIT, version } from './common.js';
import * as serve from './serve.js';
import * as config from './config.js';
import * as detect from './detect.js';
import * as devices from './devices.js';
import * as charge from './charge.js';

const GROUPS: Array<{ register(program: Command): void }> = [serve, config, detect, devices, charge];

/** `powerplane profile …` (PI18 inverter profiles) and `powerplane vebus …`: loaded only when used. */
const FAMILY_GROUPS: Record<string, (argv: string[]) => Promise<number>> = {
  profile: async (argv) => (await import('./profile.js')).runProfileCli(argv),
  vebus: async (argv) => (await import('./vebus.js')).runVebus(argv),
  central: async (argv) => {
    await (await import('./central.js')).runCentral(argv);
    return 0;
  },
};


export function createProgram(): Command {
  const program = new Command('powerplane')
    .description('One server between a person and the power hardware of a home, cabin or telecom site.')
    .version(version(), '-V, --version')
    .showHelpAfterError(true)
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText(
      'after',
      `
Family commands: powerplane profile dump|diff|plan|apply|compare|sync-check|save … (PI18 inverters; see powerplane profile --help)
                 powerplane vebus monitor|write … (a MultiPlus; see powerplane vebus --help)
                 powerplane central --config central.yaml (the fleet's central service).
Commands that talk to a running server take --url / POWERPLANE_URL and --token / POWERPLANE_TOKEN.
Exit codes: 0 done, 1 refused by the server (its code is printed), 2 bad usage or config, 3 server unreachable.
`,
    );
  for (const g of GROUPS) g.register(program);
  // Every subcommand throws instead of exiting, so main() decides the exit code.
  const exitOverride = (c: Command) => {
    c.exitOverride().showHelpAfterError(true).showSuggestionAfterError(true);
    c.commands.forEach(exitOverride);
  };
  exitOverride(program);
  return program;
}

/** Runs the CLI; resolves with the exit code (the server's `serve` keeps running after it resolves). */
export async function main(argv: string[]): Promise<number> {
  // Family command groups parse their own flags (the seeds' flag sets) and speak to the server.
  const family = FAMILY_GROUPS[argv[0] ?? ''];
  if (family) return family(argv.slice(1));
  const program = createProgram();
  // No command, or only serve's options (the older `powerplane --config FILE`): serve.
  const top = new Set(['-h', '--help', '-V', '--version']);
  if (argv.length === 0 || (argv[0]!.startsWith('-') && !top.has(argv[0]!))) argv = ['serve', ...argv];
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and --version "exit" with 0; everything else commander refuses is bad usage.
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (e instanceof CliError) {
      console.error(`powerplane: ${e.message}`);
      return e.exitCode;
    }
    // A config or database error says what to do in one line (matched by name: importing
    // their modules here would load the whole server for every command).
    if (e instanceof Error && (e.name === 'ConfigError' || e.name === 'StoreOpenError')) {
      console.error(e.message);
      return EXIT.USAGE;
    }
    console.error(e);
    return 1;
  }
}
