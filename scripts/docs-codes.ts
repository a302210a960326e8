/** `npm run docs:codes`: rewrites the codes table of README.md from src/codes.ts. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withCodesTable } from '../src/codes.js';

const path = join(import.meta.dirname, '..', 'README.md');
const before = readFileSync(path, 'utf8');
const after = withCodesTable(before);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'README.md codes table is up to date' : 'README.md codes table rewritten from src/codes.ts');
