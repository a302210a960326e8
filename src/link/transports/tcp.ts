/**
 * TCP transport (node:net): a serial line behind ser2net or a similar serial server, and
 * OpenEVSE's WiFi bridge. Bytes only, like every Transport; one connection per open(), and a
 * fresh TcpTransport per (re)connection attempt (see `tcpTransportFactory`).
 *
 * Keep-alive is on so that a host that vanished (power cut, WiFi gone) is noticed by the OS
 * even while we are silent; Nagle is off because the request/reply protocols send small frames
 * and wait for the answer.
 */
import { Socket } from 'node:net';
import { RealClock, type Clock, type TimerHandle } from '../../clock.js';
import type { Transport, TransportFactory } from './types.js';

export interface TcpTransportOptions {
  host: string;
  port: number;
  /** Give up connecting after this long. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Idle time before the first TCP keep-alive probe. Default 10 000 ms. */
  keepAliveMs?: number;
  /** Clock for the connect timeout (default: real time). */
  clock?: Clock;
  /** For tests: makes the socket (e.g. one whose connect never completes). */
  createSocket?: () => Socket;
}

type DataListener = (chunk: Uint8Array) => void;
type CloseListener = (err?: Error) => void;

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_KEEPALIVE_MS = 10_000;

/** Turns a connect failure into a message that says what to check. */
function connectErrorMessage(target: string, err: Error & { code?: string }): string {
  const code = err.code ?? '';
  let hint: string;
  if (code === 'ECONNREFUSED') {
    hint = 'nothing is listening on that port — is the serial server (ser2net) or the OpenEVSE WiFi bridge running, and is the port number right?';
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    hint = 'the host name does not resolve — check its spelling, or use the IP address';
  } else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT') {
    hint = 'the host cannot be reached — is it powered and on this network (ping it)? is a firewall in the way?';
  } else if (code === 'ECONNRESET') {
    hint = 'the host dropped the connection — does the serial server allow only one client, and is another one connected?';
  } else {
    hint = 'check the host and port, that the device is powered and on the network, and that no firewall blocks the port';
  }
  return `cannot connect to tcp ${target}: ${err.message}; ${hint}`;
}

function validate(host: string, port: number): void {
  if (!host) throw new Error('tcp transport: host is empty — set the device\'s host name or IP address');
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`tcp transport ${host}: port ${port} is not a TCP port (1..65535)`);
  }
}

export class TcpTransport implements Transport {
  readonly description: string;
  private socket: Socket | null = null;
  private connected = false;
  private readonly clock: Clock;
  private readonly dataListeners = new Set<DataListener>();
  private readonly closeListeners = new Set<CloseListener>();
  /** Writes in flight, failed at once when the connection goes. */
  private readonly pendingWrites = new Set<(err: Error) => void>();

  constructor(private readonly opts: TcpTransportOptions) {
    validate(opts.host, opts.port);
    this.clock = opts.clock ?? new RealClock();
    // IPv6 literals need brackets to be read as host:port.
    this.description = `tcp://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  }

  get isOpen(): boolean {
    return this.connected && this.socket !== null && !this.socket.destroyed;
  }

  private get target(): string {
    return this.description.slice('tcp://'.length);
  }

  open(): Promise<void> {
    if (this.socket) return Promise.reject(new Error(`${this.description} is already open`));
    const socket = this.opts.createSocket?.() ?? new Socket({ allowHalfOpen: false });
    this.socket = socket;
    const timeoutMs = this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      let settled = false;
      const failOpen = (err: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        if (this.socket === socket) this.socket = null;
        socket.destroy();
        reject(new Error(connectErrorMessage(this.target, err)));
      };
      const onConnectError = (err: Error) => failOpen(err);
      socket.once('error', onConnectError);
      // close() while connecting destroys the socket without an error: the open fails too.
      socket.once('close', () => failOpen(new Error('closed while connecting')));
      timer = this.clock.setTimeout(() => {
        failOpen(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      socket.connect({ host: this.opts.host, port: this.opts.port }, () => {
        if (settled) return; // timed out or closed while connecting
        settled = true;
        this.clock.clearTimeout(timer);
        socket.off('error', onConnectError);
        this.connected = true;
        socket.setNoDelay(true);
        socket.setKeepAlive(true, this.opts.keepAliveMs ?? DEFAULT_KEEPALIVE_MS);
        this.wire(socket);
        resolve();
      });
    });
  }

  private wire(socket: Socket): void {
    let lastError: Error | undefined;
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      for (const l of this.dataListeners) l(chunk);
    });
    // 'error' is always followed by 'close'; keep it for the message (and so Node does not throw).
    socket.on('error', (err: Error) => {
      lastError = err;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return; // we closed it
      this.lost(lastError);
    });
  }

  /** The connection went away without close(): fail writes in flight, tell listeners once. */
  private lost(cause: Error | undefined): void {
    this.socket = null;
    this.connected = false;
    this.failPendingWrites(new Error(`${this.description} closed`));
    const why = cause ? cause.message : 'closed by the remote end';
    const e = new Error(
      `connection to ${this.description} lost (${why}) — is the serial server or WiFi bridge still running and reachable?`,
    );
    for (const l of this.closeListeners) l(e);
  }

  private failPendingWrites(err: Error): void {
    for (const reject of this.pendingWrites) reject(err);
    this.pendingWrites.clear();
  }

  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    this.connected = false;
    this.failPendingWrites(new Error(`${this.description} closed`));
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (!socket || !this.connected || socket.destroyed) {
      return Promise.reject(new Error(`${this.description} is not open`));
    }
    return new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      this.pendingWrites.add(fail);
      socket.write(bytes, (err) => {
        if (!this.pendingWrites.delete(fail)) return; // already failed by a close
        if (err) reject(new Error(`write to ${this.description} failed: ${err.message}`));
        else resolve();
      });
    });
  }

  onData(listener: DataListener): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  onClose(listener: CloseListener): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }
}

/** A fresh TcpTransport per connection attempt, for a link supervisor. */
export function tcpTransportFactory(opts: TcpTransportOptions): TransportFactory {
  validate(opts.host, opts.port);
  return async () => new TcpTransport(opts);
}
