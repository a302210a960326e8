/** The served schema as SDL, sorted by name (stable under reordering of the builder's modules). */
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './index.js';

export function printedSchema(): string {
  return printSchema(lexicographicSortSchema(schema)) + '\n';
}
