/**
 * Defect 9.4: roles. The table is generated from the built schema — every Query, Mutation
 * and Subscription field, asked with no token and with each role — so a field added later
 * cannot skip the check. Through a real HTTP / WebSocket server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getNamedType, isInputObjectType, isLeafType, isListType, isNonNullType, type GraphQLField, type GraphQLInputType } from 'graphql';
import { schema } from '../../src/schema/index.js';
import { Authenticator, sha256Hex } from '../../src/auth.js';
import { silentLogger } from '../../src/log.js';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';

const TOKENS = { viewer: 'viewer-token-0123456789', operator: 'operator-token-0123456789', admin: 'admin-token-0123456789' } as const;
type Who = 'none' | keyof typeof TOKENS;
const RANK: Record<Who, number> = { none: 0, viewer: 1, operator: 2, admin: 3 };

/** Mutations an operator may run; every other mutation needs admin (the Mutation type's default). */
const OPERATOR_MUTATIONS = new Set(['setPsuOutput', 'standby', 'startCharge', 'stopCharge', 'createJob', 'updateJob', 'deleteJob', 'setJobEnabled', 'runJobNow', 'setEvseCurrent', 'enableEvse', 'disableEvse', 'sleepEvse', 'setEvseLimits', 'dumpProfile', 'saveProfile', 'diffProfile', 'planProfile', 'compareInverters', 'syncCheck', 'writeRamVar', 'writeSetting', 'setFlag', 'applyVebusMode']);

function needed(root: string, field: string): Who {
  if (root !== 'Mutation') return 'viewer';
  return OPERATOR_MUTATIONS.has(field) ? 'operator' : 'admin';
}

/** A value of the type that passes coercion (ids that exist nowhere: the resolver refuses them later). */
function sample(t: GraphQLInputType): unknown {
  if (isNonNullType(t)) return sample(t.ofType);
  if (isListType(t)) return [sample(t.ofType)];
  if (isInputObjectType(t)) return Object.fromEntries(Object.values(t.getFields()).filter((f) => isNonNullType(f.type)).map((f) => [f.name, sample(f.type)]));
  switch (getNamedType(t).name) {
    case 'ID':
    case 'String':
      return 'no-such-id';
    case 'Int':
      return 1;
    case 'Float':
      return 50;
    case 'Boolean':
      return false;
    case 'DateTime':
      return 0;
    case 'JSON':
      return 0;
    default:
      return null;
  }
}

function operationFor(kind: 'query' | 'mutation' | 'subscription', f: GraphQLField<unknown, unknown>) {
  const args = f.args.filter((a) => isNonNullType(a.type));
  const decl = args.length ? `(${args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ')})` : '';
  const use = args.length ? `(${args.map((a) => `${a.name}: $${a.name}`).join(', ')})` : '';
  const sel = isLeafType(getNamedType(f.type)) ? '' : ' { __typename }';
  return { query: `${kind}${decl} { ${f.name}${use}${sel} }`, variables: Object.fromEntries(args.map((a) => [a.name, sample(a.type)])) };
}

const FIELDS = (['Query', 'Mutation', 'Subscription'] as const).flatMap((root) => {
  const type = root === 'Query' ? schema.getQueryType() : root === 'Mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  const kind = root.toLowerCase() as 'query' | 'mutation' | 'subscription';
  return Object.values(type!.getFields()).map((f) => ({ root, name: f.name, kind, ...operationFor(kind, f) }));
});

describe('defect 9.4: every query, mutation and subscription checks its role', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({
      speed: 10,
      server: {
        tokens: [
          { name: 'wall-display', role: 'viewer', sha256: sha256Hex(TOKENS.viewer) },
          { name: 'phone', role: 'operator', token: TOKENS.operator },
          { name: 'me', role: 'admin', sha256: sha256Hex(TOKENS.admin).toUpperCase() },
        ],
      },
    });
  });
  afterAll(async () => s?.stop());

  const auth = (who: Who): Record<string, string> => (who === 'none' ? {} : { authorization: `Bearer ${TOKENS[who]}` });

  async function codeOf(f: (typeof FIELDS)[number], who: Who): Promise<string> {
    if (f.kind !== 'subscription') {
      const r = await s.gql(f.query, f.variables, auth(who));
      return r.errors?.[0]?.extensions?.code ?? 'OK';
    }
    const client = s.ws(who === 'none' ? {} : { authorization: `Bearer ${TOKENS[who]}` });
    return new Promise<string>((resolve) => {
      // Refusals come at once (scope-auth authorizes on subscribe); an accepted one streams or stays open.
      const timer = setTimeout(() => (stop(), resolve('OK')), 1500);
      const stop = client.subscribe(
        { query: f.query, variables: f.variables },
        {
          next: (v) => {
            clearTimeout(timer);
            stop();
            resolve((v.errors?.[0]?.extensions?.code as string | undefined) ?? 'OK');
          },
          error: (e) => {
            clearTimeout(timer);
            resolve(((e as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code as string | undefined) ?? String(e));
          },
          complete: () => {},
        },
      );
    });
  }

  it('defect 9.4: the schema has the fields this table expects (a sanity check on the generator)', () => {
    expect(FIELDS.length).toBeGreaterThan(15);
    for (const m of OPERATOR_MUTATIONS) expect(FIELDS.some((f) => f.root === 'Mutation' && f.name === m)).toBe(true);
  });

  it.each(FIELDS.map((f) => [`${f.root}.${f.name}`, f] as const))('defect 9.4: %s is refused below its role and allowed at it', async (_name, f) => {
    const need = needed(f.root, f.name);
    for (const who of ['none', 'viewer', 'operator', 'admin'] as const) {
      const code = await codeOf(f, who);
      if (RANK[who] < RANK[need]) expect([who, code]).toEqual([who, who === 'none' ? 'UNAUTHENTICATED' : 'FORBIDDEN']);
      else expect([who, ['UNAUTHENTICATED', 'FORBIDDEN'].includes(code) ? code : 'allowed']).toEqual([who, 'allowed']);
    }
  });

  it('defect 9.4: a mutation records who asked (the token name) in its events', async () => {
    await waitFor(async () => (await s.gql<{ devices: Array<{ online: boolean }> }>('{ devices { online } }', undefined, auth('viewer'))).data?.devices.some((d) => d.online), 'a PSU online');
    await s.gql('mutation { stopCharge(chargerId: "charger1") { id } }', undefined, auth('operator'));
    const mark = s.store.listEvents({}, 1, null).items[0]?.id ?? 0;
    const r = await s.gql('mutation { standby(deviceId: "all") { sent } }', undefined, auth('operator'));
    expect(r.errors).toBeUndefined();
    const ev = s.store.listEvents({ typePrefix: 'setpoint.' }, 20, null).items.filter((e) => e.id > mark && e.data.origin === 'api');
    expect(ev.length).toBeGreaterThan(0);
    expect(ev.every((e) => e.data.actor === 'phone')).toBe(true);
  });
});

describe('defect 9.4: loopback without tokens', () => {
  it('defect 9.4: local clients have full access as "local", and the start-up log says so', async () => {
    const lines: string[] = [];
    const a = new Authenticator({ host: '127.0.0.1' }, silentLogger(lines));
    expect(a.resolve(undefined)).toEqual({ role: 'admin', actor: 'local' });
    expect(lines.join('\n')).toMatch(/no API token configured .*full access as "local"/);
    const b = new Authenticator({ host: '127.0.0.1', tokens: [{ name: 'x', role: 'viewer', token: 'plain-text-token-123' }] }, silentLogger(lines));
    expect(b.resolve('Bearer plain-text-token-123')).toEqual({ role: 'viewer', actor: 'x' });
    expect(b.resolve({ not: 'a string' })).toEqual({ role: null, actor: 'anonymous' });
    expect(lines.join('\n')).toMatch(/token "x" is in the config in plain text/);

    const s = await startLiveServer({ speed: 10 });
    try {
      await waitFor(async () => (await s.gql<{ devices: Array<{ online: boolean }> }>('{ devices { online } }')).data?.devices.some((d) => d.online), 'a PSU online');
      await s.gql('mutation { stopCharge(chargerId: "charger1") { id } }');
      const r = await s.gql('mutation { standby(deviceId: "all") { sent } }');
      expect(r.errors).toBeUndefined();
      const ev = s.store.listEvents({ typePrefix: 'setpoint.' }, 20, null).items.filter((e) => e.data.origin === 'api');
      expect(ev.length).toBeGreaterThan(0);
      expect(ev.every((e) => e.data.actor === 'local')).toBe(true);
    } finally {
      await s.stop();
    }
  });
});
