/**
 * The committed schema.graphql is the schema the code serves, and every GraphQL document the
 * web client sends is valid against it: a client/server mismatch fails here, not in a browser.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildSchema, parse, validate, type GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { printedSchema } from '../../src/schema/print.js';
import * as Q from '../../web-client/src/queries.js';

const root = join(import.meta.dirname, '..', '..');
const committed = readFileSync(join(root, 'schema.graphql'), 'utf8');

describe('printed schema', () => {
  it('schema.graphql is the schema the code builds', () => {
    const current = printedSchema();
    if (current !== committed) {
      // A short, readable pointer to the first difference; the fix is always the same.
      const a = committed.split('\n');
      const b = current.split('\n');
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      expect.fail(
        `schema.graphql differs from the schema the code builds (first at line ${i + 1}: ` +
          `file ${JSON.stringify(a[i] ?? '<end>')}, code ${JSON.stringify(b[i] ?? '<end>')}): ` +
          'run `npm run schema:print` and commit schema.graphql',
      );
    }
  });
});

/** Every document queries.ts exports: strings as they are, builders called with their defaults. */
function clientDocuments(): Array<[string, string]> {
  const docs: Array<[string, string]> = [];
  for (const [name, v] of Object.entries(Q)) {
    if (typeof v === 'function') docs.push([`${name}()`, (v as () => string)()]);
    else if (typeof v === 'string' && /^\s*(\{|query\b|mutation\b|subscription\b)/.test(v)) docs.push([name, v]);
  }
  return docs;
}

describe('web client documents against schema.graphql', () => {
  const schema = buildSchema(committed);
  const docs = clientDocuments();

  it('finds the documents the client sends', () => {
    const names = docs.map(([n]) => n);
    // A guard against this test silently checking nothing after a rename.
    for (const n of ['OVERVIEW', 'BUSES', 'BATTERIES', 'EVENTS', 'SUB_DEVICES', 'SUB_EVENTS', 'SUB_TELEMETRY', 'TELEMETRY', 'SET_OUTPUT', 'STANDBY', 'SESSIONS', 'SESSION', 'CHARGERS', 'SUB_CHARGERS', 'START_CHARGE', 'STOP_CHARGE']) {
      expect(names).toContain(n);
    }
  });

  it('every document is valid', () => {
    const invalid: string[] = [];
    for (const [name, text] of docs) {
      let errors: readonly GraphQLError[];
      try {
        errors = validate(schema, parse(text));
      } catch (e) {
        errors = [e as GraphQLError];
      }
      for (const e of errors) invalid.push(`${name}: ${e.message}`);
    }
    expect(invalid, 'web-client/src/queries.ts sends documents the server schema refuses').toEqual([]);
  });

  it('no other web client file builds a GraphQL document (they all live in queries.ts)', () => {
    const dir = join(root, 'web-client', 'src');
    const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && f !== 'queries.ts');
    // A template or string literal that opens like a document: `{ field`, `query(`, `mutation {`, …
    const opener = /[`'"]\s*(?:(?:query|mutation|subscription)\b\s*[\w$]*\s*[({]|\{\s*[A-Za-z_]\w*\s*[({\s])/;
    const found = files.filter((f) => opener.test(readFileSync(join(dir, f), 'utf8'))).map((f) => relative(root, join(dir, f)));
    expect(found, 'move these documents into web-client/src/queries.ts so they are validated').toEqual([]);
  });
});
