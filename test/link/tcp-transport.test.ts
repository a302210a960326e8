/**
 * TcpTransport against a real `net.createServer` on 127.0.0.1 (port 0: the OS picks one).
 * Waits are on events, not on wall time.
 */
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { TcpTransport, tcpTransportFactory } from '../../src/link/transports/tcp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A server that hands its accepted sockets to the test, one at a time. */
async function startServer(): Promise<{ server: Server; port: number; nextClient(): Promise<Socket> }> {
  const accepted: Socket[] = [];
  const waiters: ((s: Socket) => void)[] = [];
  const server = createServer((sock) => {
    const w = waiters.shift();
    if (w) w(sock);
    else accepted.push(sock);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of accepted) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    server,
    port,
    nextClient: () =>
      new Promise<Socket>((resolve) => {
        const s = accepted.shift();
        if (s) resolve(s);
        else
          waiters.push((sock) => {
            cleanups.push(async () => void sock.destroy());
            resolve(sock);
          });
      }),
  };
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function collect(transport: TcpTransport): { bytes: number[]; until(n: number): Promise<void> } {
  const bytes: number[] = [];
  let wake: (() => void) | undefined;
  transport.onData((chunk) => {
    bytes.push(...chunk);
    wake?.();
  });
  return {
    bytes,
    async until(n: number) {
      while (bytes.length < n) await new Promise<void>((r) => (wake = r));
    },
  };
}

describe('TcpTransport', () => {
  it('opens, and moves bytes both ways', async () => {
    const srv = await startServer();
    const t = new TcpTransport({ host: '127.0.0.1', port: srv.port });
    cleanups.push(() => t.close());
    expect(t.description).toBe(`tcp://127.0.0.1:${srv.port}`);
    expect(t.isOpen).toBe(false);
    const clientP = srv.nextClient();
    await t.open();
    expect(t.isOpen).toBe(true);
    const peer = await clientP;

    // host → device: a RAPI request.
    const gotByServer: number[] = [];
    const serverGot = new Promise<void>((resolve) =>
      peer.on('data', (c: Buffer) => {
        gotByServer.push(...c);
        if (gotByServer.length >= 8) resolve();
      }),
    );
    await t.write(new TextEncoder().encode('$GS^30\r\n'));
    await serverGot;
    expect(Buffer.from(gotByServer).toString('latin1')).toBe('$GS^30\r\n');

    // device → host, binary-safe (all 256 byte values).
    const rx = collect(t);
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    peer.write(all);
    await rx.until(256);
    expect(rx.bytes).toEqual([...all]);
  });

  it('the server closing the connection fires onClose with an error that names the target', async () => {
    const srv = await startServer();
    const t = new TcpTransport({ host: '127.0.0.1', port: srv.port });
    cleanups.push(() => t.close());
    const clientP = srv.nextClient();
    await t.open();
    const peer = await clientP;
    const closed = new Promise<Error | undefined>((resolve) => t.onClose(resolve));
    peer.destroy();
    const err = await closed;
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain(`tcp://127.0.0.1:${srv.port}`);
    expect(err!.message).toMatch(/lost/);
    expect(t.isOpen).toBe(false);
    await expect(t.write(new Uint8Array([1]))).rejects.toThrow(/is not open/);
  });

  it('close() does not fire onClose and is idempotent', async () => {
    const srv = await startServer();
    const t = new TcpTransport({ host: '127.0.0.1', port: srv.port });
    const clientP = srv.nextClient();
    await t.open();
    const peer = await clientP;
    let fired = 0;
    t.onClose(() => fired++);
    const peerClosed = new Promise<void>((resolve) => peer.on('close', () => resolve()));
    await t.close();
    await t.close();
    await peerClosed;
    expect(fired).toBe(0);
    expect(t.isOpen).toBe(false);
  });

  it('open to a closed port rejects with a message naming host:port and what to check', async () => {
    const port = await closedPort();
    const t = new TcpTransport({ host: '127.0.0.1', port });
    const err = await t.open().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain(`127.0.0.1:${port}`);
    expect(err!.message).toContain('ECONNREFUSED');
    expect(err!.message).toMatch(/ser2net|WiFi bridge/);
    expect(t.isOpen).toBe(false);
  });

  it('a connect that gets no answer times out on the injected clock', async () => {
    // A socket whose connect never completes, as when SYNs vanish into a dead WiFi segment.
    class BlackHoleSocket extends Socket {
      override connect(): this {
        return this;
      }
    }
    const clock = new FakeClock();
    const t = new TcpTransport({
      host: '192.0.2.1',
      port: 9,
      connectTimeoutMs: 3000,
      clock,
      createSocket: () => new BlackHoleSocket(),
    });
    const p = t.open().then(
      () => null,
      (e: unknown) => e as Error,
    );
    await clock.advance(2999);
    let settledEarly = false;
    void p.then(() => (settledEarly = true));
    await clock.advance(0);
    expect(settledEarly).toBe(false);
    await clock.advance(1);
    const err = await p;
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain('cannot connect to tcp 192.0.2.1:9: no answer within 3000 ms');
    expect(err!.message).toMatch(/ping/);
    expect(t.isOpen).toBe(false);
  });

  it('rejects a bad port at construction, and the factory builds a fresh transport per attempt', async () => {
    expect(() => new TcpTransport({ host: 'evse.local', port: 0 })).toThrow(/not a TCP port/);
    expect(() => tcpTransportFactory({ host: '', port: 23 })).toThrow(/host is empty/);
    const factory = tcpTransportFactory({ host: '::1', port: 2000 });
    const a = await factory();
    const b = await factory();
    expect(a).not.toBe(b);
    expect(a.description).toBe('tcp://[::1]:2000');
  });
});
