/**
 * The subscribers of bench/fanout.ts, in their own process (so the server under test does not
 * also pay for 100 clients' parsing). argv: mode (graphql-ws | ws), url, count. Prints "ready"
 * when all are subscribed; on "report" from the parent sends back, per message, the `at`
 * (ms) and the wall time it arrived, and the gap markers seen.
 */
import { createClient } from 'graphql-ws';
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
      const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, on: { connected: () => void open++ } });
      client.subscribe({ query: 'subscription { telemetry { deviceId at values } }' }, { next: (v) => onPayload(v as never), error: () => {}, complete: () => {} });
      clients.push({ close: () => void client.dispose() });
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
