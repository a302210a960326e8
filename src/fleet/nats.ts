/** One NATS connection from fleet settings (credentials and TLS), reconnecting forever. */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsCredentials, NatsTls } from './config.js';

export interface NatsSettings {
  servers: string | string[];
  credentials?: NatsCredentials;
  tls?: NatsTls;
  name?: string;
}

export function natsOptions(s: NatsSettings): NodeConnectionOptions {
  const o: NodeConnectionOptions = {
    servers: s.servers,
    name: s.name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: true,
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

export function connectNats(s: NatsSettings): Promise<NatsConnection> {
  return connect(natsOptions(s));
}

/** A server URL without any user:password@ part, for logs (credentials never reach a log). */
export function redactUrl(u: string | string[]): string {
  const list = Array.isArray(u) ? u : [u];
  return list.map((x) => x.replace(/\/\/[^@/]*@/, '//')).join(',');
}
