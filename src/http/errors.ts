/**
 * Every error that leaves the API carries a code from src/codes.ts. Errors raised by the
 * schema already do; this gives one to those raised by graphql-js, yoga and graphql-armor
 * (variable coercion, CSRF, limits) and masks unexpected ones as INTERNAL (logged).
 */
import { GraphQLError } from 'graphql';
import { isCode, type Code } from '../codes.js';
import type { Logger } from '../log.js';

function codeFor(e: GraphQLError): Code {
  const ext = (e.extensions ?? {}) as { code?: unknown; http?: { status?: number } };
  const orig = e.originalError as { code?: unknown } | undefined;
  if (isCode(ext.code)) return ext.code;
  if (orig && isCode(orig.code)) return orig.code;
  const m = e.message;
  if (/^Syntax Error: (Token limit|Query depth|Aliases limit|Query Cost|Directives limit)/i.test(m)) return 'QUERY_TOO_COMPLEX';
  if (/CSRF/i.test(m)) return 'CROSS_ORIGIN_REFUSED';
  if (ext.code === 'GRAPHQL_PARSE_FAILED' || /^Syntax Error/.test(m)) return 'GRAPHQL_PARSE_FAILED';
  const status = ext.http?.status;
  if (status === 405) return 'METHOD_NOT_ALLOWED';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (/^Variable "\$|got invalid value|Expected type|cannot represent|must be|is not a valid|Int cannot|Float cannot/i.test(m)) return 'BAD_USER_INPUT';
  if (status !== undefined && status >= 400 && status < 500) return 'BAD_USER_INPUT';
  if (!orig || orig instanceof GraphQLError) return e.path ? 'INTERNAL' : 'BAD_USER_INPUT';
  return 'INTERNAL';
}

/** The error with a listed code; an unexpected (non-GraphQL) error becomes a masked INTERNAL, logged. */
export function withCode(e: GraphQLError, log?: Logger): GraphQLError {
  const code = codeFor(e);
  const ext = (e.extensions ?? {}) as Record<string, unknown>;
  if (ext.code === code) return e;
  const orig = e.originalError;
  const unexpected = code === 'INTERNAL' && orig && !(orig instanceof GraphQLError);
  if (unexpected) log?.error({ err: orig, path: e.path }, `unexpected error in ${e.path?.join('.') ?? 'a request'}: ${orig.message}`);
  // Listed codes from the original (CursorError…) keep their message; INTERNAL says nothing inside.
  const message = unexpected ? 'internal error; it is in the server log' : e.message;
  return new GraphQLError(message, { nodes: e.nodes, source: e.source, positions: e.positions, path: e.path, extensions: { ...ext, code } });
}

export function withCodes<T extends { errors?: readonly GraphQLError[] | null }>(result: T, log?: Logger): T {
  if (!result.errors?.length) return result;
  return { ...result, errors: result.errors.map((e) => (e instanceof GraphQLError ? withCode(e, log) : e)) };
}
