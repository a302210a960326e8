/**
 * `yaml`, loaded on first use (about 0.1 s of CPU at start otherwise): reading a config file,
 * a PI18 profile or `check-config` needs it; the start of the simulated rig does not. Its Node
 * entry is CommonJS, so a synchronous require gives the same module an `import` would.
 */
import { createRequire } from 'node:module';

let loaded: typeof import('yaml') | undefined;

export function yaml(): typeof import('yaml') {
  return (loaded ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
}
