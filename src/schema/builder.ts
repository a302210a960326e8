import SchemaBuilder from '@pothos/core';
import { GraphQLError } from 'graphql';
import type { Engine } from '../engine/engine.js';

export interface Context {
  engine: Engine;
  /** False when the server has an apiToken and the request did not present it. */
  authorized: boolean;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: {
    DateTime: { Input: number; Output: number };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({ defaultFieldNullability: false });

/** Milliseconds internally; ISO-8601 strings on the wire (numbers are accepted as input). */
builder.scalarType('DateTime', {
  serialize: (ms) => new Date(ms).toISOString(),
  parseValue: (v) => {
    const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
    if (!Number.isFinite(ms)) throw new GraphQLError(`DateTime must be an ISO-8601 string or epoch milliseconds, got ${JSON.stringify(v)}`);
    return ms;
  },
});

builder.scalarType('JSON', { serialize: (v) => v, parseValue: (v) => v });

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** A typed API error: `extensions.code` is machine-readable, the message says what to do. */
export function apiError(code: string, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code } });
}

export function requireAuth(ctx: Context): void {
  if (!ctx.authorized) {
    throw apiError('UNAUTHENTICATED', 'this server requires its apiToken for changes: send "Authorization: Bearer <token>"');
  }
}
