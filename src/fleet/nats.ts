/**
 * One NATS connection from fleet settings (credentials and TLS), reconnecting forever once made.
 *
 * A first connection that fails says why, for people: nats.js, left to wait on its first connect,
 * retries silently (a wrong CA file looked like a server that is merely away), and when the server
 * refuses the client's certificate during CONNECT it only reports a timeout. So each attempt here
 * is one pass over the servers, and a failure is explained (naming the server and the setting to
 * change); a timeout on a TLS connection is diagnosed by one plain TLS handshake of our own, which
 * sees the server's alert.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsCredentials, NatsTls } from './config.js';

/** Where the settings live in the config, for messages: the site's `fleet:` or central.yaml's `nats:`. */
export interface NatsConfigPlace {
  /** `fleet` or `nats`. */
  prefix: string;
  /** The key of the server URL under prefix (`natsUrl`, `url`). */
  url: string;
  /** Who connects, as people say it: `site`, `central service`. */
  who: string;
}

export const SITE_PLACE: NatsConfigPlace = { prefix: 'fleet', url: 'natsUrl', who: 'site' };
export const CENTRAL_PLACE: NatsConfigPlace = { prefix: 'nats', url: 'url', who: 'central service' };

export interface NatsSettings {
  servers: string | string[];
  credentials?: NatsCredentials;
  tls?: NatsTls;
  name?: string;
  /** For messages; default the site's `fleet:`. */
  place?: NatsConfigPlace;
  /** Wall ms one connection attempt may take. Default 10000. */
  timeoutMs?: number;
}

/** A first connection that failed, with a message for people (server, reason, what to change). */
export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message);
  }
}

export function natsOptions(s: NatsSettings): NodeConnectionOptions {
  const o: NodeConnectionOptions = {
    servers: s.servers,
    name: s.name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    // One pass over the servers per attempt, so a failure surfaces (connectNats retries).
    waitOnFirstConnect: false,
    timeout: s.timeoutMs ?? 10_000,
  };
  const c = s.credentials;
  if (c?.user !== undefined) {
    o.user = c.user;
    o.pass = c.password;
  } else if (c?.token !== undefined) {
    o.token = c.token;
  } else if (c?.credsFile !== undefined) {
    o.authenticator = credsAuthenticator(readFileSync(c.credsFile));
  }
  if (s.tls) o.tls = { ...s.tls };
  return o;
}

/** One attempt; rejects with a NatsConnectError that says why and what to do. Reconnects forever once connected. */
export async function connectNatsOnce(s: NatsSettings): Promise<NatsConnection> {
  try {
    return await connect(natsOptions(s));
  } catch (err) {
    let why: unknown = err;
    if (isTimeout(err) && usesTls(s)) why = (await probeTls(s, Math.min(5000, s.timeoutMs ?? 10_000))) ?? err;
    throw new NatsConnectError(explainNatsError(why, s), err);
  }
}

/** Waits for NATS as long as it takes (or until stopped() says so); every failed attempt goes to onError (already explained). */
export async function connectNats(s: NatsSettings, hooks: { onError?: (e: NatsConnectError) => void; stopped?: () => boolean } = {}): Promise<NatsConnection> {
  let wait = 1000;
  for (;;) {
    try {
      return await connectNatsOnce(s);
    } catch (e) {
      const err = e instanceof NatsConnectError ? e : new NatsConnectError(explainNatsError(e, s), e);
      hooks.onError?.(err);
      if (hooks.stopped?.()) throw err;
      // In short steps, so that a stop is seen within a second.
      for (const until = Date.now() + wait; Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, Math.min(1000, until - Date.now())));
        if (hooks.stopped?.()) throw err;
      }
      wait = Math.min(15_000, wait * 2);
    }
  }
}

/** A server URL without any user:password@ part, for logs (credentials never reach a log). */
export function redactUrl(u: string | string[]): string {
  const list = Array.isArray(u) ? u : [u];
  return list.map((x) => x.replace(/\/\/[^@/]*@/, '//')).join(',');
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | null;
  return e?.name === 'TimeoutError' || e?.message === 'timeout';
}

function usesTls(s: NatsSettings): boolean {
  return s.tls !== undefined || (Array.isArray(s.servers) ? s.servers : [s.servers]).some((u) => /^tls:\/\//i.test(u));
}

/** The reason of a failed connection, for people: which server, what went wrong, which setting to change. */
export function explainNatsError(err: unknown, s: NatsSettings): string {
  const p = s.place ?? SITE_PLACE;
  const at = redactUrl(s.servers);
  const tlsKey = `${p.prefix}.tls`;
  const urlKey = `${p.prefix}.${p.url}`;
  const e = err as { code?: string; name?: string; message?: string } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const raw = err instanceof Error ? err.message : String(err);
  const alert = /(?:sslv3|tlsv1\d*) alert ([a-z ]+)/i.exec(raw)?.[1]?.trim();
  const short = alert ? `TLS alert "${alert}"` : (raw.split('\n')[0] ?? raw);

  if (UNTRUSTED.has(code)) {
    const ca = s.tls?.caFile ? `now ${s.tls.caFile}, which did not sign it` : 'none is set, so only the system CAs are trusted';
    return `NATS at ${at}: its TLS certificate is not trusted by this ${p.who} (${short}): set ${tlsKey}.caFile to the CA file that signed the server's certificate (${ca})`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `NATS at ${at}: its TLS certificate ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'} (${short}): renew the server's certificate, or check this machine's clock`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `NATS at ${at}: its TLS certificate is not issued for that host name (${short}): put in ${urlKey} a host name the certificate names`;
  }
  if (alert && /certificate|unknown ca|access denied/i.test(alert)) {
    const mine = s.tls?.certFile ? `now ${s.tls.certFile}` : 'none is set';
    return `NATS at ${at} refused this ${p.who}'s certificate (${short}): set ${tlsKey}.certFile and ${tlsKey}.keyFile to a client certificate signed by the CA the server trusts (its tls { ca_file }); ${mine}`;
  }
  if (alert || code.startsWith('ERR_SSL_')) {
    return `NATS at ${at} ended the TLS handshake (${short}): check ${tlsKey} against the tls { … } block of nats-server's config`;
  }
  if (/doesn't exist|ENOENT|EACCES/.test(raw)) {
    return `${tlsKey} (or ${p.prefix}.credentials): ${short}: give the path of a file powerplane can read`;
  }
  if (/tls is not available on this server|not available on this server/i.test(raw)) {
    return `NATS at ${at} does not offer TLS: add a tls { … } block to nats-server's config, or use a nats:// URL without ${tlsKey} on a trusted network`;
  }
  if (e?.name === 'AuthorizationError' || /authorization violation|authentication/i.test(raw)) {
    return `NATS at ${at} refused the credentials (${short}): check ${p.prefix}.credentials against the server's users`;
  }
  if (/connection refused|ECONNREFUSED/i.test(raw)) {
    return `nothing answers at ${at} (connection refused): start nats-server there, or correct ${urlKey}`;
  }
  if (isTimeout(err)) {
    return `NATS at ${at} did not answer within ${Math.round((s.timeoutMs ?? 10_000) / 1000)} s: check ${urlKey} and that the port is reachable from here`;
  }
  return `NATS at ${at}: ${short}`;
}

/** Why a TLS connection fails, seen by one handshake of our own (null: not a TLS problem, or no answer). */
async function probeTls(s: NatsSettings, timeoutMs: number): Promise<Error | null> {
  for (const server of Array.isArray(s.servers) ? s.servers : [s.servers]) {
    let host: string;
    let port: number;
    try {
      const u = new URL(/^[a-z]+:\/\//i.test(server) ? server : `nats://${server}`);
      host = u.hostname.replace(/^\[|\]$/g, '');
      port = Number(u.port || 4222);
    } catch {
      continue;
    }
    const err = await probeOne(host, port, s.tls, timeoutMs);
    if (err) return err;
  }
  return null;
}

function probeOne(host: string, port: number, t: NatsTls | undefined, timeoutMs: number): Promise<Error | null> {
  return new Promise((resolve) => {
    let done = false;
    let tsock: TLSSocket | undefined;
    const sock: Socket = netConnect(port, host);
    const finish = (e: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      tsock?.destroy();
      sock.destroy();
      resolve(e);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    sock.on('error', (e) => finish(e));
    let info = '';
    const onInfo = (d: Buffer) => {
      info += d.toString('latin1');
      if (!info.includes('\r\n')) return;
      sock.off('data', onInfo);
      let opts: ConnectionOptions;
      try {
        opts = {
          socket: sock,
          servername: isIP(host) ? undefined : host,
          ca: t?.caFile ? readFileSync(t.caFile) : undefined,
          cert: t?.certFile ? readFileSync(t.certFile) : undefined,
          key: t?.keyFile ? readFileSync(t.keyFile) : undefined,
        };
      } catch (e) {
        finish(e as Error);
        return;
      }
      tsock = tlsConnect(opts);
      // Past the handshake the server reads CONNECT; a refused client certificate shows as an alert here.
      tsock.on('secureConnect', () => tsock!.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":true}\r\nPING\r\n'));
      tsock.on('data', () => finish(null));
      tsock.on('error', (e) => finish(e));
      tsock.on('close', () => finish(null));
    };
    sock.on('data', onInfo);
  });
}
