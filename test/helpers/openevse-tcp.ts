/**
 * The OpenEVSE WiFi module's RAPI bridge (or ser2net in front of the board's UART), for tests:
 * a TCP server on 127.0.0.1 whose one client talks to a simulated board.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Transport } from '../../src/link/transports/types.js';

/** The device side of one accepted TCP connection, as a Transport for the simulator. */
function socketTransport(sock: Socket): Transport {
  let open = true;
  sock.on('close', () => (open = false));
  return {
    description: `tcp client ${sock.remoteAddress}:${sock.remotePort}`,
    get isOpen() {
      return open;
    },
    async open() {},
    async close() {
      open = false;
      sock.destroy();
    },
    write(bytes) {
      return new Promise<void>((resolve, reject) => sock.write(bytes, (err) => (err ? reject(err) : resolve())));
    },
    onData(l) {
      const h = (b: Buffer) => l(new Uint8Array(b));
      sock.on('data', h);
      return () => sock.off('data', h);
    },
    onClose(l) {
      const h = () => l(new Error('client disconnected'));
      sock.on('close', h);
      return () => sock.off('close', h);
    },
  };
}

export interface RapiBridge {
  port: number;
  /** Resolves with the device-side transport of the first client. */
  client: Promise<Transport>;
  close(): Promise<void>;
}

export async function openRapiBridge(): Promise<RapiBridge> {
  const sockets = new Set<Socket>();
  let accept!: (t: Transport) => void;
  const client = new Promise<Transport>((r) => (accept = r));
  const server = createServer((sock) => {
    sockets.add(sock);
    accept(socketTransport(sock));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    client,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
