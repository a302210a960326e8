/**
 * HTTP + WebSocket front: graphql-yoga serves queries, mutations and SSE subscriptions at
 * /graphql (GraphiQL in a browser), graphql-ws serves subscriptions over WebSocket on the
 * same port and path, and / serves the dashboard when it is built.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { createYoga } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { ExecutionArgs } from 'graphql';
import { schema, type Context } from './schema/index.js';
import type { Engine } from './engine/engine.js';
import type { Logger } from './log.js';
import { serveStatic } from './static.js';
import { healthResponse } from './engine/health.js';

export interface ServerOptions {
  engine: Engine;
  log: Logger;
  host: string;
  port: number;
  apiToken?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

function tokenMatches(expected: string | undefined, presented: string | undefined | null): boolean {
  if (!expected) return true;
  if (!presented) return false;
  const p = presented.replace(/^Bearer\s+/i, '');
  const a = Buffer.from(p);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { engine, log } = opts;
  const yoga = createYoga<{ req: IncomingMessage }, Context>({
    schema,
    graphiql: { title: 'powerplane', subscriptionsProtocol: 'WS' },
    // GraphiQL with its assets inlined: the default loads them from a CDN, which a cabin
    // without internet (or a locked-down site network) cannot reach.
    renderGraphiQL,
    logging: false,
    maskedErrors: true,
    context: ({ request }) => ({ engine, authorized: tokenMatches(opts.apiToken, request.headers.get('authorization')) }),
  });

  const http: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith(yoga.graphqlEndpoint)) return void yoga(req, res);
    const health = healthResponse(engine, url);
    if (health) {
      res.writeHead(health.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return void res.end(JSON.stringify(health.body));
    }
    serveStatic(req, res);
  });

  const wss = new WebSocketServer({ server: http, path: yoga.graphqlEndpoint });
  const wsServer = useServer<Record<string, unknown>>(
    {
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => never }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => never }).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const auth = (ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization) as string | undefined;
        const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params });
        const document = enveloped.parse(params.query);
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length) return errors;
        const contextValue: Context = { engine, authorized: tokenMatches(opts.apiToken, auth) };
        return {
          schema: enveloped.schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables ?? undefined,
          contextValue,
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
      },
    },
    wss,
  );

  await new Promise<void>((resolve, reject) => {
    http.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `port ${opts.port} on ${opts.host} is already in use; set server.port in the config or stop the other process` : e.message)),
    );
    http.listen(opts.port, opts.host, () => resolve());
  });
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${hostForUrl}:${port}`;
  log.info({ url }, `serving GraphQL at ${url}/graphql (GraphiQL in a browser), dashboard at ${url}/`);
  return {
    url,
    port,
    close: async () => {
      await wsServer.dispose();
      wss.close();
      await new Promise<void>((r) => {
        http.close(() => r());
        http.closeAllConnections();
      });
    },
  };
}
