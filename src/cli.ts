/**
 * `powerplane <command>`: the entry point (bin/powerplane.mjs runs the build of this file).
 * The commands live in src/cli/ (program.ts lists them).
 */
import { main } from './cli/program.js';

main(process.argv.slice(2)).then(
  (code) => {
    // `serve` keeps running (its server holds the event loop); every other command ends here.
    if (code !== 0) process.exit(code);
    process.exitCode = 0;
  },
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
