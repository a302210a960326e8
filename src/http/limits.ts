/**
 * Request bounds that graphql-armor does not cover: a cost that counts `first:` (and
 * `maxPoints:`), a cap on `first`, a cap on the size of an answer and on how deeply the
 * variables nest. Depth, aliases and tokens are graphql-armor's plugins (see server.ts).
 */
import {
  GraphQLError,
  getNamedType,
  isObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  Kind,
  type DocumentNode,
  type GraphQLSchema,
  type GraphQLNamedType,
  type SelectionSetNode,
  type ValueNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { apiError } from '../schema/builder.js';

export interface CostLimits {
  maxCost: number;
  maxFirst: number;
  maxResponseBytes: number;
}

/** Page-size arguments and what an omitted one costs (the largest default a resolver uses). */
const PAGE_ARGS: Record<string, number> = { first: 100, maxPoints: 500 };

function argValue(v: ValueNode, vars: Record<string, unknown> | undefined): unknown {
  if (v.kind === Kind.INT) return Number(v.value);
  if (v.kind === Kind.VARIABLE) return vars?.[v.name.value];
  return undefined;
}

/**
 * Fields the operation would resolve: every field counts 1 × the page sizes of the lists
 * around it. A refused `first` (over maxFirst) is reported as BAD_USER_INPUT.
 */
export function operationCost(schema: GraphQLSchema, doc: DocumentNode, operationName: string | null | undefined, vars: Record<string, unknown> | undefined, maxFirst: number, stopAt = Infinity): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let op: OperationDefinitionNode | undefined;
  for (const d of doc.definitions) {
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    else if (d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName)) op ??= d;
  }
  if (!op) return 0;
  const root = op.operation === 'query' ? schema.getQueryType() : op.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  let cost = 0;
  // `pending`: the page size of the nearest field with a page argument, paid by the first
  // list below it (the connection's edges or nodes), so pageInfo is not counted per item.
  const walk = (set: SelectionSetNode, type: GraphQLNamedType | null | undefined, mult: number, pending: number, depth: number, seen: Set<string>): void => {
    if (depth > 64 || cost > stopAt) return;
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) {
        walk(sel.selectionSet, sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : type, mult, pending, depth + 1, seen);
      } else if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments.get(sel.name.value);
        if (!f || seen.has(f.name.value)) continue;
        walk(f.selectionSet, schema.getType(f.typeCondition.name.value), mult, pending, depth + 1, new Set(seen).add(f.name.value));
      } else {
        const def = type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields()[sel.name.value] : undefined;
        const list = !!def && isListType(isNonNullType(def.type) ? def.type.ofType : def.type);
        const fieldMult = list ? mult * pending : mult;
        cost += fieldMult;
        if (!sel.selectionSet) continue;
        // Several page arguments (first, maxPoints) bound the same list: the smallest wins.
        let page = Infinity;
        for (const a of def?.args ?? []) {
          if (!(a.name in PAGE_ARGS)) continue;
          const given = sel.arguments?.find((x) => x.name.value === a.name);
          const v = given ? argValue(given.value, vars) : undefined;
          const n = typeof v === 'number' ? v : PAGE_ARGS[a.name];
          if (n > maxFirst) throw apiError('BAD_USER_INPUT', `${sel.name.value}(${a.name}: ${n}) asks for more than ${maxFirst} items; page with "after"`);
          page = Math.min(page, Math.max(1, n));
        }
        walk(sel.selectionSet, def ? getNamedType(def.type) : undefined, fieldMult, page !== Infinity ? page : list ? 1 : pending, depth + 1, seen);
      }
    }
  };
  walk(op.selectionSet, root, 1, 1, 0, new Set());
  return cost;
}

function tooComplex(cost: number, max: number): GraphQLError {
  return apiError('QUERY_TOO_COMPLEX', `this query would resolve about ${Math.round(cost)} fields (each counted once per item of the pages around it), more than the ${max} allowed; ask for fewer fields or a smaller first:`);
}

/** Refuses costly operations before they run, and answers larger than maxResponseBytes. */
export function useCostLimits(limits: CostLimits): Plugin {
  const check = (args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variableValues?: Record<string, unknown> | null }): GraphQLError | null => {
    try {
      const cost = operationCost(args.schema, args.document, args.operationName, args.variableValues ?? undefined, limits.maxFirst, limits.maxCost);
      return cost > limits.maxCost ? tooComplex(cost, limits.maxCost) : null;
    } catch (e) {
      if (e instanceof GraphQLError) return e;
      throw e;
    }
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = check(args);
      if (refused) return void setResultAndStopExecution({ errors: [refused] });
      return {
        onExecuteDone({ result, setResult }) {
          if (!result || Symbol.asyncIterator in (result as object)) return;
          const r = result as { data?: unknown };
          // The cost limit bounds this stringify; it is the price of never sending more.
          const bytes = r.data ? Buffer.byteLength(JSON.stringify(r.data)) : 0;
          if (bytes > limits.maxResponseBytes) {
            setResult({ errors: [apiError('PAYLOAD_TOO_LARGE', `the answer would be ${bytes} bytes, more than the ${limits.maxResponseBytes} allowed; ask for fewer items (first:) or fields`)] });
          }
        },
      };
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = check(args);
      if (refused) setResultAndStopExecution({ errors: [refused] });
    },
  };
}

/** How deeply a JSON value nests (arrays and objects), stopping once past `max`. */
export function nestingDepth(v: unknown, max: number, depth = 0): number {
  if (depth > max || v === null || typeof v !== 'object') return depth;
  let deepest = depth;
  for (const x of Array.isArray(v) ? v : Object.values(v as object)) {
    deepest = Math.max(deepest, nestingDepth(x, max, depth + 1));
    if (deepest > max) break;
  }
  return deepest;
}

export const MAX_VARIABLE_DEPTH = 32;
