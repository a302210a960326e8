/**
 * `npm run schema:print`: writes the GraphQL schema the server serves to schema.graphql at the
 * repository root, sorted by name so the file changes only when the API does.
 * test/api/schema-printed.test.ts fails when the code and the committed file differ.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printedSchema } from '../src/schema/print.js';

const path = join(import.meta.dirname, '..', 'schema.graphql');
writeFileSync(path, printedSchema());
console.log(`wrote ${path}`);
