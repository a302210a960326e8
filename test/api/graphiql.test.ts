/** GraphiQL opens on powerplane's own example query, which is valid against the schema. */
import { parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.js';
import { GRAPHIQL_EXAMPLE } from '../../src/server.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';

describe('GraphiQL', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer();
  });
  afterAll(() => s?.stop());

  it('opens with the project name and an example query instead of the stock text', async () => {
    const html = await (await fetch(`${s.url}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(html).toMatch(/<title>powerplane<\/title>/);
    expect(html).toContain(JSON.stringify(GRAPHIQL_EXAMPLE).slice(1, 40));
  });

  it('the example query is valid and answers on the simulated rig', async () => {
    expect(validate(schema, parse(GRAPHIQL_EXAMPLE))).toEqual([]);
    const r = await s.gql<{ devices: unknown[]; chargers: unknown[] }>(GRAPHIQL_EXAMPLE);
    expect(r.errors).toBeUndefined();
    expect(r.data!.devices.length).toBeGreaterThan(0);
  });
});
