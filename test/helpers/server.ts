/** A real HTTP + WebSocket server on the simulated rig, and small GraphQL client helpers. */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { RealClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { buildRig, simulatedConfig, type Rig } from '../../src/rig.js';
import { families } from './families.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';
import { Store } from '../../src/store/store.js';
import { tempDbPath } from './rig.js';
export { waitFor } from './wait.js';

export interface LiveServer {
  rig: Rig;
  server: RunningServer;
  store: Store;
  url: string;
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> }>;
  ws(connectionParams?: Record<string, unknown>): Client;
  /** Closes the HTTP/WebSocket server, runs `whileDown`, then serves again on the same port (a server restart, as clients see it). */
  restartHttp(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export async function startLiveServer(
  opts: { speed?: number; apiToken?: string; dbPath?: string; bms?: boolean; evse?: boolean | { demoCar?: boolean }; inverters?: boolean; vebus?: boolean; pack?: { socPct?: number; capacityAh?: number }; server?: Partial<Omit<ServerOptions, 'engine' | 'log'>> } = {},
): Promise<LiveServer> {
  const dbPath = opts.dbPath ?? tempDbPath('pp-api-');
  const store = Store.open({ path: dbPath });
  const config = simulatedConfig({ port: 0, dbPath, bms: opts.bms ?? false, evse: opts.evse ?? false, inverters: opts.inverters ?? false, vebus: opts.vebus ?? false });
  const clock = new RealClock(opts.speed ?? 10);
  const rig = buildRig({ config, clock, store, log: silentLogger(), simulated: true, families, pack: opts.pack });
  rig.start();
  const serverOpts = { host: '127.0.0.1', apiToken: opts.apiToken, ...opts.server };
  let server = await startServer({ engine: rig.engine, log: silentLogger(), port: 0, ...serverOpts });
  const clients: Client[] = [];
  return {
    rig,
    get server() {
      return server;
    },
    store,
    url: server.url,
    async gql(query, variables, headers) {
      const r = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return r.json() as never;
    },
    ws(connectionParams) {
      const c = createClient({ url: `${server.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0 });
      clients.push(c);
      return c;
    },
    async restartHttp(whileDown) {
      await server.close();
      await whileDown?.();
      server = await startServer({ engine: rig.engine, log: silentLogger(), ...serverOpts, port: server.port });
    },
    async stop() {
      for (const c of clients) await c.dispose();
      await server.close();
      await rig.stop();
      store.close();
    },
  };
}


/** Collects the results of a graphql-ws subscription into an array. */
export function collect<T>(client: Client, query: string, variables?: Record<string, unknown>): { items: T[]; errors: unknown[]; stop(): void } {
  const items: T[] = [];
  const errors: unknown[] = [];
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        if (v.errors) errors.push(v.errors);
        if (v.data) items.push(v.data as T);
      },
      error: (e) => errors.push(e),
      complete: () => {},
    },
  );
  return { items, errors, stop };
}
