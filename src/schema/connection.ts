import type { ObjectRef } from '@pothos/core';
import { builder } from './builder.js';

export const PageInfo = builder.objectRef<{ endCursor: string | null; hasNextPage: boolean }>('PageInfo').implement({
  fields: (t) => ({
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

export interface ConnectionShape<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
}

/** Relay-style connection type for `node` type `nodeRef` (kept by hand: no plugin needed). */
type NodeRef<T> = ObjectRef<(typeof builder)["$inferSchemaTypes"], T>;

export function connectionOf<T>(name: string, nodeRef: NodeRef<T>) {
  const Edge = builder.objectRef<{ cursor: string; node: T }>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      // Pothos cannot relate a generic T to its resolver shape; the ref guarantees it.
      node: t.field({ type: nodeRef, resolve: (e) => e.node as never }),
    }),
  });
  return builder.objectRef<ConnectionShape<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({ type: [Edge], resolve: (c) => c.edges }),
      nodes: t.field({ type: [nodeRef], resolve: (c) => c.edges.map((e) => e.node) }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
    }),
  });
}

export function clampFirst(first: number | null | undefined, max = 1000, dflt = 100): number {
  if (first === null || first === undefined) return dflt;
  return Math.max(1, Math.min(max, Math.floor(first)));
}
