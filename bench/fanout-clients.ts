/**
 * The subscribers of bench/fanout.ts, in their own process (so the server under test does not
 * also pay for 100 clients' parsing). argv: mode (graphql-ws | ws), url, count. Sends "ready"
 * when all are subscribed; on "report" from the parent sends back, per message, the `at`
 * (ms) and the wall time it arrived, the gap markers seen, and this process's own CPU time and
 * event-loop delay (so a slow client shows as the client, not as the server).
 *
 * The clients speak WebSocket over raw TCP sockets with a minimal frame reader: on a loaded
 * 2-core machine, 100 `ws` clients each running a JSON.parse per message were the bottleneck
 * of the whole measurement (their process at 100 % of a core while the server idled half the
 * time). Per message they read the frame header and find `"at":"…"` in the payload; a gap
 * marker is recognised by its `"gap":{"missed":N}`. Both modes use the same reader, so the two
 * runs differ only on the server.
 */
import net from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const [mode, url, countS] = process.argv.slice(2);
const count = Number(countS);
const at: number[] = [];
const recv: number[] = [];
let gaps = 0;
let missed = 0;
let other = 0;
const now = () => performance.timeOrigin + performance.now();
/** Each subscriber's operation id, a UUID as graphql-ws's own client makes (PP_FANOUT_SAME_ID=1: all "1"). */
const opId = () => (process.env.PP_FANOUT_SAME_ID ? '1' : randomUUID());
const sockets: net.Socket[] = [];

const AT = Buffer.from('"at":"');
const GAP = Buffer.from('"gap":{"missed":');
const NEXT = Buffer.from('"type":"next"');
const ACK = Buffer.from('connection_ack');
const PING = Buffer.from('"type":"ping"');

/** A masked client text frame (RFC 6455 §5.3: every client frame is masked). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  const mask = randomBytes(4);
  for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, payload]);
}

function onMessage(p: Buffer, t: number, sock: net.Socket, onAck: () => void): void {
  const a = p.indexOf(AT);
  if (a >= 0 && p.indexOf(NEXT) >= 0) {
    at.push(Date.parse(p.toString('latin1', a + AT.length, a + AT.length + 24)));
    recv.push(t);
    return;
  }
  const g = p.indexOf(GAP);
  if (g >= 0) {
    gaps++;
    missed += parseInt(p.toString('latin1', g + GAP.length, g + GAP.length + 12), 10);
    return;
  }
  if (p.indexOf(ACK) >= 0) return onAck();
  if (p.indexOf(PING) >= 0) {
    sock.write(clientFrame('{"type":"pong"}'));
    return;
  }
  other++;
}

/** Every socket reads into this one buffer (each read is handled before the next). */
const readBuffer = Buffer.allocUnsafe(256 * 1024);

function connect(target: URL, protocol: string | null): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    // `onread` hands each read over in one reused buffer, without the stream machinery and the
    // Buffer a 'data' event costs: the lightest way Node reads a socket (what is left of a
    // frame is copied out before the next read). It is still a real WebSocket and graphql-ws
    // client: handshake, masked frames, connection_init/ack, subscribe, pong.
    const sock = net.connect({
      port: Number(target.port),
      host: target.hostname,
      onread: {
        buffer: readBuffer,
        callback: (n: number, b: Uint8Array) => {
          onRead((b as Buffer).subarray(0, n));
          return true;
        },
      },
    });
    sock.setNoDelay(true);
    let upgraded = false;
    let acked: () => void = () => {};
    const ready = new Promise<void>((r) => (acked = r));
    sock.on('error', reject);
    sock.on('connect', () => {
      sock.write(
        `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
          '\r\n',
      );
    });
    const onRead = (chunk: Buffer) => {
      const t = now();
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.toString('latin1', 0, 12).includes('101')) return reject(new Error(buf.toString('latin1', 0, end)));
        upgraded = true;
        buf = buf.subarray(end + 4);
        if (protocol) {
          sock.write(clientFrame('{"type":"connection_init"}'));
          void ready.then(() => {
            sock.write(clientFrame(JSON.stringify({ id: opId(), type: 'subscribe', payload: { query: 'subscription { telemetry { deviceId at values } }' } })));
            resolve(sock);
          });
        } else resolve(sock);
      }
      // Server frames are unmasked; text frames only, never fragmented by ws for these sizes.
      let o = 0;
      for (;;) {
        if (buf.length - o < 2) break;
        let len = buf[o + 1] & 0x7f;
        let h = 2;
        if (len === 126) {
          if (buf.length - o < 4) break;
          len = buf.readUInt16BE(o + 2);
          h = 4;
        } else if (len === 127) {
          if (buf.length - o < 10) break;
          len = buf.readUInt32BE(o + 6);
          h = 10;
        }
        if (buf.length - o < h + len) break;
        if ((buf[o] & 0x0f) === 0x1) onMessage(buf.subarray(o + h, o + h + len), t, sock, acked);
        o += h + len;
      }
      buf = o === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(o));
    };
  });
}

async function main(): Promise<void> {
  const target = new URL(url);
  for (let c = 0; c < count; c++) sockets.push(await connect(target, mode === 'ws' ? null : 'graphql-transport-ws'));
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const ru0 = process.resourceUsage();
  const t0 = performance.now();
  process.send!({ ready: true });
  process.on('message', (m: { report?: boolean }) => {
    if (!m.report) return;
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    h.disable();
    for (const s of sockets) s.destroy();
    const client = {
      cpuPctOfOneCore: +((100 * (cpu.user + cpu.system)) / 1000 / wallMs).toFixed(1),
      eventLoopDelayP99Ms: +(h.percentile(99) / 1e6).toFixed(3),
      eventLoopDelayMaxMs: +(h.max / 1e6).toFixed(3),
      otherMessages: other,
      involuntaryContextSwitches: process.resourceUsage().involuntaryContextSwitches - ru0.involuntaryContextSwitches,
    };
    process.send!({ at, recv, gaps, missed, client }, () => process.exit(0));
  });
}

void main();
