import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin, { type AuthFailure } from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import type { Engine } from '../engine/engine.js';
import { roleAtLeast, type Role } from '../auth.js';
import type { Code } from '../codes.js';

export interface Context {
  engine: Engine;
  /** The caller's role; null when no valid token was presented to a server that needs one. */
  role: Role | null;
  /** Who asked: a token name, "local" (open loopback server) or "anonymous". */
  actor: string;
  /**
   * A live subscription's source fell behind and skipped `missed` updates: its subscribers are
   * told (a gap marker over graphql-ws). Absent where nobody can be told (the drop is counted).
   */
  reportGap?: (missed: number) => void;
}

function failedScopes(f: AuthFailure): string[] {
  if ('scope' in f) return [f.scope];
  if ('failures' in f) return f.failures.flatMap(failedScopes);
  return [];
}

/**
 * Roles are checked here and only here: the root types carry a default scope (queries and
 * subscriptions: viewer; mutations: admin) and an operator mutation says so on its field.
 */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: Record<Role, boolean>;
  Scalars: {
    DateTime: { Input: number; Output: number };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({ viewer: roleAtLeast(ctx.role, 'viewer'), operator: roleAtLeast(ctx.role, 'operator'), admin: roleAtLeast(ctx.role, 'admin') }),
    unauthorizedError: (_parent, ctx, info, result) => {
      const field = `${info.parentType.name}.${info.fieldName}`;
      if (ctx.role === null) return apiError('UNAUTHENTICATED', `${field} needs a token: send "Authorization: Bearer <token>" (connectionParams.authorization over WebSocket)`);
      const needed = failedScopes(result.failure)[0] ?? 'a higher role';
      return apiError('FORBIDDEN', `token "${ctx.actor}" has the ${ctx.role} role; ${field} needs ${needed}`);
    },
  },
});

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

builder.queryType({ authScopes: { viewer: true } });
builder.mutationType({ authScopes: { admin: true } });
builder.subscriptionType({ authScopes: { viewer: true } });

/** Field options of a mutation an operator may run (the Mutation type's default is admin). */
export const OPERATOR = { skipTypeScopes: true, authScopes: { operator: true } } as const;

/** A typed API error: `extensions.code` is machine-readable, the message says what to do. */
export function apiError(code: Code, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code } });
}
