/**
 * The web client's types are generated from schema.graphql and the documents in
 * web-client/src/queries.ts (codegen.ts, `npm run codegen`); the generated file is committed.
 * It fails here, not in a browser, when the schema or a document changed and the committed file
 * did not follow.
 */
import { generate } from '@graphql-codegen/cli';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import config, { clientDocuments, GENERATED } from '../../codegen.js';

const root = join(import.meta.dirname, '..', '..');

describe('generated client types', () => {
  it(`${GENERATED} is what codegen makes of schema.graphql and queries.ts`, async () => {
    const outputs: Array<{ filename: string; content: string }> = await generate({ ...config, cwd: root }, false);
    const fresh = outputs.find((o) => o.filename.endsWith(GENERATED));
    expect(fresh, `codegen wrote no ${GENERATED}`).toBeDefined();
    const committed = readFileSync(join(root, GENERATED), 'utf8');
    if (fresh!.content !== committed) {
      const a = committed.split('\n');
      const b = fresh!.content.split('\n');
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      expect.fail(
        `${GENERATED} is stale (first difference at line ${i + 1}: file ${JSON.stringify(a[i] ?? '<end>')}, ` +
          `codegen ${JSON.stringify(b[i] ?? '<end>')}): run \`npm run codegen\` and commit it`,
      );
    }
  }, 120_000);

  it('types every document the client sends, each under its own operation name', () => {
    const committed = readFileSync(join(root, GENERATED), 'utf8');
    const names = clientDocuments.map((d) => /^\s*(query|mutation|subscription)\s+(\w+)/.exec(d));
    // An anonymous document would get an unstable generated name: every one is named.
    expect(names.filter((m) => m === null)).toEqual([]);
    for (const m of names) {
      const type = `${m![2]}${m![1][0].toUpperCase()}${m![1].slice(1)}`;
      expect(committed, `no generated type ${type}`).toContain(`export type ${type} = `);
    }
    expect(new Set(names.map((m) => m![2])).size).toBe(clientDocuments.length);
    expect(clientDocuments.length).toBeGreaterThanOrEqual(16);
  });
});
