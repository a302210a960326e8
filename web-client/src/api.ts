/**
 * The dashboard's only way to the server: queries and mutations as HTTP POSTs to /graphql,
 * subscriptions over graphql-ws on the same path. The WebSocket reconnects by itself (a
 * server restart shows as "reconnecting" and then live again), and subscriptions that end
 * for any reason other than being unsupported are started again.
 */
import { createClient, type Client } from 'graphql-ws/client';

export interface GqlError {
  message: string;
  extensions?: { code?: string };
}

export class ApiError extends Error {
  readonly code: string | null;
  constructor(readonly errors: GqlError[]) {
    super(errors.map((e) => e.message).join('; ') || 'request failed');
    this.code = errors[0]?.extensions?.code ?? null;
  }
}

/** True when the server does not know a field/type we asked for: that part of the API is not there yet. */
export function isUnsupported(e: unknown): boolean {
  const errs = e instanceof ApiError ? e.errors : Array.isArray(e) ? (e as GqlError[]) : [];
  return errs.some((x) => /Cannot query field|Unknown type|Unknown argument|Unknown field|is not defined by type/i.test(x.message ?? ''));
}

const TOKEN_KEY = 'powerplane.apiToken';
export function apiToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}
export function setApiToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  ws?.terminate();
}

export async function gql<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const token = apiToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError([{ message: 'the server is not reachable; retrying when it is back', extensions: { code: 'NETWORK' } }]);
  }
  let body: { data?: T | null; errors?: GqlError[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiError([{ message: `the server answered ${res.status} ${res.statusText}`, extensions: { code: 'HTTP' } }]);
  }
  if (body.errors?.length) throw new ApiError(body.errors);
  if (!body.data) throw new ApiError([{ message: 'empty answer from the server' }]);
  return body.data;
}

export type ConnState = 'connecting' | 'live' | 'reconnecting';
type ConnListener = (s: ConnState, reconnected: boolean) => void;

let ws: Client | null = null;
let connState: ConnState = 'connecting';
let everConnected = false;
const connListeners = new Set<ConnListener>();

export function connectionState(): ConnState {
  return connState;
}

/** Called with every change; `reconnected` is true when live again after a drop (time to refetch). */
export function onConnection(fn: ConnListener): () => void {
  connListeners.add(fn);
  return () => connListeners.delete(fn);
}

function setConn(s: ConnState, reconnected = false): void {
  connState = s;
  for (const fn of connListeners) fn(s, reconnected);
}

function client(): Client {
  if (ws) return ws;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  ws = createClient({
    url,
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: (n) => new Promise((r) => setTimeout(r, Math.min(250 * 2 ** n, 2000))),
    onNonLazyError: () => {},
    connectionParams: () => {
      const token = apiToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    on: {
      connecting: () => setConn(everConnected ? 'reconnecting' : 'connecting'),
      connected: () => {
        const again = everConnected;
        everConnected = true;
        setConn('live', again);
      },
      closed: () => {
        if (everConnected) setConn('reconnecting');
      },
    },
  });
  return ws;
}

export function startConnection(): void {
  client();
}

/**
 * A long-lived subscription. `onUnsupported` is told when the server does not have it (the
 * subscription is then not retried until `restart`); any other end restarts it after a second.
 */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown> | undefined,
  onData: (data: T) => void,
  onUnsupported?: (message: string) => void,
): () => void {
  let disposed = false;
  let stop: (() => void) | null = null;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const start = () => {
    if (disposed) return;
    stop = client().subscribe<T>(
      { query, variables },
      {
        next: (v) => {
          if (v.data) onData(v.data as T);
        },
        error: (e) => {
          if (disposed) return;
          if (isUnsupported(e)) {
            onUnsupported?.((e as GqlError[])[0]?.message ?? 'not supported by this server');
            return;
          }
          retry = setTimeout(start, 1000);
        },
        complete: () => {
          if (!disposed) retry = setTimeout(start, 1000);
        },
      },
    );
  };
  start();
  return () => {
    disposed = true;
    clearTimeout(retry);
    stop?.();
  };
}
