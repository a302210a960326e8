/** Policy does not depend on the simulator: nothing under src/engine imports a simulator module. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const engineDir = join(import.meta.dirname, '..', '..', 'src', 'engine');

describe('engine imports', () => {
  it('no engine or charger module imports the simulator (src/sim, a driver sim or the simulated adapter)', () => {
    const files = (readdirSync(engineDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    const offending: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(engineDir, f), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        if (/(^|\/)sim(\/|\.js$)|-sim\.js$/.test(m[1])) offending.push(`src/engine/${f} imports ${m[1]}`);
      }
    }
    expect(offending).toEqual([]);
  });
});
