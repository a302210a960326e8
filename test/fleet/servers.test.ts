// The fleet test infrastructure: a real nats-server with JetStream and a real PostgreSQL, each
// started by the test in a temp dir on a free loopback port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { startPostgres, type PgServer } from '../helpers/postgres.js';

describe('fleet test servers', () => {
  let nats: NatsServer;
  let pgs: PgServer;
  beforeAll(async () => {
    [nats, pgs] = await Promise.all([startNatsServer(), startPostgres()]);
  });
  afterAll(async () => {
    await Promise.all([nats?.stop(), pgs?.stop()]);
  });

  it('runs a JetStream stream that keeps a message through a kill and restart of nats-server', async () => {
    let nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'T', subjects: ['t.>'] });
    const ack = await jetstream(nc).publish('t.a', 'hello', { msgID: 'one' });
    expect(ack.seq).toBe(1);
    await nc.close();
    await nats.kill();
    await nats.start();
    nc = await connect({ servers: nats.url });
    const info = await (await jetstreamManager(nc)).streams.info('T');
    expect(info.state.messages).toBe(1);
    await nc.close();
  });

  it('runs a PostgreSQL cluster that answers queries', async () => {
    const c = new pg.Client({ connectionString: pgs.url });
    await c.connect();
    const r = await c.query<{ n: number }>('SELECT 1 + 1 AS n');
    expect(r.rows[0]?.n).toBe(2);
    await c.end();
  });
});
