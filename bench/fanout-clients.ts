/**
 * The subscribers of bench/fanout.ts, in their own process (so the server under test does not
 * also pay for 100 clients' parsing). argv: mode (graphql-ws | ws), url, count. Prints "ready"
 * when all are subscribed; on "report" from the parent sends back, per message, the `at`
 * (ms) and the wall time it arrived, and the gap markers seen.
 */
import WebSocket from 'ws';

const [mode, url, countS] = process.argv.slice(2);
const count = Number(countS);
const at: number[] = [];
const recv: number[] = [];
let gaps = 0;
let missed = 0;
const now = () => performance.timeOrigin + performance.now();
const clients: Array<{ close: () => void }> = [];

function onPayload(p: { data?: { telemetry: { at: string } }; extensions?: { gap?: { missed: number } } }): void {
  if (p.extensions?.gap) {
    gaps++;
    missed += p.extensions.gap.missed;
    return;
  }
  if (p.data) {
    at.push(Date.parse(p.data.telemetry.at));
    recv.push(now());
  }
}

async function main(): Promise<void> {
  let open = 0;
  for (let c = 0; c < count; c++) {
    if (mode === 'ws') {
      const ws = new WebSocket(url);
      ws.on('message', (d) => onPayload((JSON.parse(String(d)) as { payload: Parameters<typeof onPayload>[0] }).payload));
      await new Promise((r) => ws.once('open', r));
      open++;
      clients.push({ close: () => ws.close() });
    } else {
      // The graphql-transport-ws protocol spoken by hand: the same per-message client work
      // (one JSON.parse) as the bare ws clients, so the two runs differ only on the server.
      const ws = new WebSocket(url, 'graphql-transport-ws');
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as { type: string; payload?: Parameters<typeof onPayload>[0] };
        if (m.type === 'connection_ack') {
          ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { telemetry { deviceId at values } }' } }));
          open++;
        } else if (m.type === 'next' && m.payload) onPayload(m.payload);
        else if (m.type === 'ping') ws.send('{"type":"pong"}');
      });
      await new Promise((r) => ws.once('open', r));
      ws.send('{"type":"connection_init"}');
      clients.push({ close: () => ws.close() });
    }
  }
  while (open < count) await new Promise((r) => setTimeout(r, 10));
  process.send!({ ready: true });
  process.on('message', (m: { report?: boolean }) => {
    if (!m.report) return;
    for (const c of clients) c.close();
    process.send!({ at, recv, gaps, missed }, () => process.exit(0));
  });
}

void main();
