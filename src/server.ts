/**
 * HTTP + WebSocket front: graphql-yoga serves queries, mutations and SSE subscriptions at
 * /graphql (GraphiQL in a browser), graphql-ws serves subscriptions over WebSocket on the
 * same port and path, / serves the dashboard when it is built, anything else is a 404.
 *
 * The perimeter, in the order a request meets it: a handler no request can throw out of;
 * a per-client rate limit and a body size cap; the Origin check (same origin or
 * server.allowedOrigins, on HTTP, SSE and the WebSocket upgrade) and yoga's CORS and CSRF
 * prevention (no form or multipart operations); graphql-armor's token, depth and alias
 * limits and a cost limit that counts `first:`; roles in the schema (src/schema/builder.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createYoga, createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { schema, type Context } from './schema/index.js';
import type { Engine } from './engine/engine.js';
import type { Logger } from './log.js';
import { createStaticHandler } from './static.js';
import { Authenticator, roleAtLeast } from './auth.js';
import { limitsSchema, type LimitsConfig, type TokenConfig } from './config/schema.js';
import { clientKey, crossOriginMessage, originAllowed, RateLimiter } from './http/perimeter.js';
import { MAX_VARIABLE_DEPTH, nestingDepth, useCostLimits } from './http/limits.js';
import { withCode, withCodes } from './http/errors.js';
import type { Code } from './codes.js';
import { healthResponse } from './engine/health.js';
import { telemetryCsv } from './http/telemetry-csv.js';
import { SharedSubscriptions, type FanoutStats, type ShareTarget } from './http/shared-subscriptions.js';

export interface ServerOptions {
  engine: Engine;
  log: Logger;
  host: string;
  port: number;
  /** One admin token (older form of `tokens`). */
  apiToken?: string;
  tokens?: TokenConfig[];
  allowedOrigins?: string[];
  limits?: Partial<LimitsConfig>;
  /** Prometheus metrics served at /metrics to the viewer role and above (src/metrics.ts). */
  metrics?: { contentType: string; text(): Promise<string> };
}

export interface RunningServer {
  url: string;
  port: number;
  /** Subscription fan-out counters (shared executions, messages sent, updates missed by slow subscribers). */
  fanout: FanoutStats;
  close(): Promise<void>;
}

function sendError(res: ServerResponse, status: number, code: Code, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
}

const tooDeep = () =>
  createGraphQLError(`the variables nest more than ${MAX_VARIABLE_DEPTH} levels deep; no input of this API needs that`, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });

/** What GraphiQL opens with: a query that works on any rig, and how to go further. */
export const GRAPHIQL_EXAMPLE = `# powerplane: every device, bus and charger of this rig.
# Ctrl-Enter runs it; Ctrl-Space completes; the Docs tab lists every field.
# With tokens configured, add the header {"Authorization": "Bearer <token>"} below.
# Live: subscription { deviceChanged { id name online } }
query Overview {
  system { simulated version startedAt }
  devices {
    id kind name online lastSeen
    ... on Flatpack2Psu { outputVoltageV outputCurrentA outputPowerW state }
    ... on Battery { voltageV currentA socPct tempC }
  }
  buses { id kind linkState setpoint { voltageV currentA standby origin } }
  chargers { id phase targetVoltageV chargeCurrentA deliveredAh }
}
`;

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { engine, log } = opts;
  const limits: LimitsConfig = limitsSchema.parse(opts.limits ?? {});
  const allowedOrigins = opts.allowedOrigins ?? [];
  const auth = new Authenticator({ host: opts.host, tokens: opts.tokens, apiToken: opts.apiToken }, log);
  const rate = new RateLimiter(limits.ratePerSecond, limits.rateBurst);
  const tagComplex = { onReject: [(_ctx: unknown, err: GraphQLError) => void ((err.extensions as Record<string, unknown>).code = 'QUERY_TOO_COMPLEX')] };

  /** Refuses a request from a web page of another origin (HTTP and SSE) before yoga parses it. */
  const originCheck: Plugin = {
    onRequest({ request, fetchAPI, endResponse }) {
      const origin = request.headers.get('origin');
      // A cross-site navigation or <img> GET carries no Origin, but browsers say where it came from.
      const crossSite = !origin && request.headers.get('sec-fetch-site') === 'cross-site';
      if (!crossSite && originAllowed(origin, request.headers.get('host'), allowedOrigins)) return;
      log.warn({ origin }, `refused a request from the web page at ${origin}`);
      endResponse(
        new fetchAPI.Response(JSON.stringify({ errors: [{ message: crossOriginMessage(origin ?? 'another site'), extensions: { code: 'CROSS_ORIGIN_REFUSED' } }] }), {
          status: 403,
          headers: { 'content-type': 'application/json; charset=utf-8' },
        }),
      );
    },
    onParams({ params }) {
      if (nestingDepth(params.variables, MAX_VARIABLE_DEPTH) > MAX_VARIABLE_DEPTH) throw tooDeep();
    },
    onResultProcess({ result, setResult }) {
      const fix = (r: ExecutionResult) => withCodes(r as { errors?: readonly GraphQLError[] }, log) as never;
      if (isAsyncIterable(result)) {
        const it = result;
        setResult({
          [Symbol.asyncIterator]: async function* () {
            for await (const r of it) yield fix(r);
          },
        } as never);
      } else setResult(Array.isArray(result) ? result.map(fix) : fix(result as ExecutionResult));
    },
  };

  const csrf = useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf'] });
  const csrfExceptGet: Plugin = {
    onRequestParse(payload) {
      if (payload.request.method !== 'GET') return csrf.onRequestParse?.(payload);
    },
  };

  const yoga = createYoga<{ req: IncomingMessage }, Context>({
    schema,
    graphiql: { title: 'powerplane', defaultQuery: GRAPHIQL_EXAMPLE, subscriptionsProtocol: 'WS' },
    // GraphiQL with its assets inlined: the default loads them from a CDN, which a cabin
    // without internet (or a locked-down site network) cannot reach. Loaded on the first
    // page view: the inlined assets cost ~45 MB of RSS that a headless service never needs.
    renderGraphiQL: async (o) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(o),
    logging: false,
    maskedErrors: { maskError: (error) => (error instanceof GraphQLError ? withCode(error, log) : withCode(new GraphQLError(String((error as Error)?.message), { originalError: error as Error }), log)) },
    // Only allow-listed foreign origins get CORS headers; the page's own origin needs none.
    cors: (request) => {
      const origin = request.headers.get('origin');
      return origin && allowedOrigins.includes(origin) ? { origin: [origin], credentials: true, methods: ['GET', 'POST'], allowedHeaders: ['content-type', 'authorization', 'accept'] } : false;
    },
    plugins: [
      originCheck,
      // Operations must be JSON (or carry a header no form can set): a form or multipart post
      // is refused. GET (queries and SSE only; yoga refuses a mutation over GET) is left to
      // the Origin / Sec-Fetch-Site check, so that a same-origin EventSource keeps working.
      csrfExceptGet,
      maxTokensPlugin({ n: limits.maxTokens, ...tagComplex }),
      maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true, ignoreIntrospection: false, ...tagComplex }),
      maxAliasesPlugin({ n: limits.maxAliases, ...tagComplex }),
      useCostLimits(limits),
    ],
    context: ({ request }) => ({ engine, ...auth.resolve(request.headers.get('authorization')) }),
  });

  const serveStatic = createStaticHandler();
  const route = (req: IncomingMessage, res: ServerResponse): unknown => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === yoga.graphqlEndpoint) {
      if (!rate.take(clientKey(req.socket.remoteAddress))) return sendError(res, 429, 'RATE_LIMITED', 'too many requests from this address; wait a moment and retry', { 'retry-after': '1' });
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > limits.maxBodyBytes) return sendError(res, 413, 'PAYLOAD_TOO_LARGE', `the request body is ${length} bytes, more than the ${limits.maxBodyBytes} allowed`);
      if (req.headers['transfer-encoding'] && req.headers['content-length'] === undefined) return sendError(res, 411, 'BAD_USER_INPUT', 'send the request body with a Content-Length');
      return yoga(req, res);
    }
    if (path === '/metrics' && opts.metrics) {
      if (!rate.take(clientKey(req.socket.remoteAddress))) return sendError(res, 429, 'RATE_LIMITED', 'too many requests from this address; wait a moment and retry', { 'retry-after': '1' });
      if (!roleAtLeast(auth.resolve(req.headers.authorization).role, 'viewer')) {
        return sendError(res, 401, 'UNAUTHENTICATED', 'scraping /metrics needs a token of the viewer role or higher: set authorization.credentials (bearer) in the Prometheus scrape config', { 'www-authenticate': 'Bearer realm="powerplane"' });
      }
      const metrics = opts.metrics;
      return metrics.text().then((body) => {
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        res.end(body);
      });
    }
    if (path === '/api/telemetry.csv') {
      if (!rate.take(clientKey(req.socket.remoteAddress))) return sendError(res, 429, 'RATE_LIMITED', 'too many requests from this address; wait a moment and retry', { 'retry-after': '1' });
      return telemetryCsv(req, res, engine, auth.resolve(req.headers.authorization), (status, code, message) => sendError(res, status, code, message));
    }
    const health = healthResponse(engine, path);
    if (health) {
      res.writeHead(health.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return void res.end(JSON.stringify(health.body));
    }
    return serveStatic(req, res);
  };
  // No request, however malformed, may end the process: whatever a route throws or rejects
  // with is logged and answered 500 (or the connection dropped if the answer had begun).
  const fail = (req: IncomingMessage, res: ServerResponse) => (e: unknown) => {
    log.error({ err: e, url: req.url?.slice(0, 200), method: req.method }, `request failed: ${(e as Error)?.message}`);
    try {
      sendError(res, 500, 'INTERNAL', 'internal error; it is in the server log');
    } catch {
      res.destroy();
    }
  };
  const http: Server = createServer((req, res) => {
    try {
      const r = route(req, res) as Promise<unknown> | undefined;
      if (r && typeof r.then === 'function') r.then(undefined, fail(req, res));
    } catch (e) {
      fail(req, res)(e);
    }
  });

  const wss = new WebSocketServer({
    server: http,
    path: yoga.graphqlEndpoint,
    maxPayload: limits.maxBodyBytes,
    // Off (ws's default, said here because the fan-out depends on it): subscription updates go
    // out as finished frames built once, not deflated once per subscriber per update.
    perMessageDeflate: false,
    // The upgrade is where a browser page of another origin would get in: check it here.
    verifyClient: (info, cb) => {
      if (!originAllowed(info.origin || undefined, info.req.headers.host, allowedOrigins)) {
        log.warn({ origin: info.origin }, `refused a WebSocket from the web page at ${info.origin}`);
        return cb(false, 403, `CROSS_ORIGIN_REFUSED: ${crossOriginMessage(info.origin)}`);
      }
      if (wss.clients.size >= limits.maxWsConnections) return cb(false, 503, `TOO_MANY_CONNECTIONS: this server accepts ${limits.maxWsConnections} WebSocket connections; close one or retry later`);
      if (!rate.take(clientKey(info.req.socket.remoteAddress))) return cb(false, 429, 'RATE_LIMITED: too many requests from this address; wait a moment and retry');
      cb(true);
    },
  });
  wss.on('error', (e) => log.error({ err: e }, `WebSocket server error: ${e.message}`));
  wss.on('connection', (socket) => socket.on('error', (e) => log.debug({ err: e }, `WebSocket client error: ${e.message}`)));
  const fanout = new SharedSubscriptions({ fix: (r) => withCodes(r as { errors?: readonly GraphQLError[] }, log) as never, maxBufferedBytes: limits.wsMaxBufferedBytes });
  const refuse = (code: Code, message: string) => [new GraphQLError(message, { extensions: { code } })];
  const wsServer = useServer<Record<string, unknown>>(
    {
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => never }).execute(args),
      // Identical subscriptions share one execution and one serialisation per event (fan-out).
      subscribe: (args) => {
        const root = args.rootValue as { subscribe: (a: ExecutionArgs) => never; share: { key: string; target: ShareTarget } };
        return fanout.subscribe(root.share.key, root.share.target, async () => root.subscribe(args)) as never;
      },
      onSubscribe: async (ctx, id, params) => {
        if (!rate.take(clientKey(ctx.extra.request.socket.remoteAddress))) return refuse('RATE_LIMITED', 'too many requests from this address; wait a moment and retry');
        if (nestingDepth(params.variables, MAX_VARIABLE_DEPTH) > MAX_VARIABLE_DEPTH) return [tooDeep()];
        const cp = ctx.connectionParams ?? {};
        const principal = auth.resolve(cp.authorization ?? cp.Authorization);
        const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params });
        let document;
        try {
          document = enveloped.parse(params.query);
        } catch (e) {
          return [withCode(e instanceof GraphQLError ? e : new GraphQLError(String((e as Error).message)), log)];
        }
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length) return errors.map((e: GraphQLError) => withCode(e, log));
        const shareKey = JSON.stringify([params.query, params.operationName ?? null, params.variables ?? null, principal.role]);
        const contextValue: Context = { engine, ...principal, reportGap: (missed) => fanout.gap(shareKey, missed) };
        return {
          schema: enveloped.schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables ?? undefined,
          contextValue,
          rootValue: {
            execute: enveloped.execute,
            subscribe: enveloped.subscribe,
            share: { key: shareKey, target: { socket: ctx.extra.socket, id } },
          },
        };
      },
      onNext: (_ctx, _id, _payload, _args, result) => withCodes(result as { errors?: readonly GraphQLError[] }, log) as never,
      onError: (_ctx, _id, _payload, errors) => errors.map((e: GraphQLError) => withCode(e, log).toJSON()),
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
    fanout: fanout.stats,
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
