// Subscription fan-out: identical subscriptions share one execution and serialisation; a slow
// subscriber gets a gap marker with how many updates it missed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { ExecutionResult } from 'graphql';
import { SharedSubscriptions } from '../../src/http/shared-subscriptions.js';
import { Topic } from '../../src/engine/pubsub.js';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';

/** A real ws server and clients on loopback: the fan-out writes finished frames to their sockets. */
async function realSockets(n: number): Promise<{ server: WebSocket[]; clients: WebSocket[]; got: unknown[][]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  const server: WebSocket[] = [];
  wss.on('connection', (s) => server.push(s));
  const clients: WebSocket[] = [];
  const got: unknown[][] = [];
  for (let i = 0; i < n; i++) {
    const c = new WebSocket(`ws://127.0.0.1:${port}`);
    const mine: unknown[] = [];
    got.push(mine);
    c.on('message', (d) => mine.push(JSON.parse(String(d))));
    await new Promise((r) => c.once('open', r));
    clients.push(c);
  }
  await waitFor(() => server.length === n, 'server sockets');
  return {
    server,
    clients,
    got,
    close: async () => {
      for (const c of clients) c.terminate();
      await new Promise((r) => wss.close(() => r(null)));
    },
  };
}

/** A socket as the fan-out sees it: what it was sent, and how much it has not written yet. */
function fakeSocket() {
  const sent: unknown[] = [];
  const s = { readyState: 1, bufferedAmount: 0, send: (d: string) => void sent.push(JSON.parse(d)) };
  return { socket: s as unknown as WebSocket, sent, s };
}

/** One turn for the shared execution to serialise an event, the next for the fan-out's end-of-turn write. */
const tick = () => new Promise((r) => setImmediate(() => setImmediate(r)));

/** Execution results over a Topic iterator, as a subscription's stream. */
function source(it: AsyncIterableIterator<number>): AsyncIterable<ExecutionResult> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const r = await it.next();
        return r.done ? { value: undefined, done: true as const } : { value: { data: { n: r.value } }, done: false as const };
      },
      return: async () => (await it.return!(), { value: undefined, done: true as const }),
    }),
  };
}

describe('shared subscriptions', () => {
  it('identical subscriptions share one execution and one serialisation per event', async () => {
    const topic = new Topic<number>();
    let executions = 0;
    const fan = new SharedSubscriptions();
    const start = async () => {
      executions++;
      const it = topic.iterate();
      return source(it);
    };
    const a = fakeSocket();
    const b = fakeSocket();
    const ia = (await fan.subscribe('k', { socket: a.socket, id: 'A' }, start)) as AsyncIterableIterator<never>;
    const ib = (await fan.subscribe('k', { socket: b.socket, id: 'B' }, start)) as AsyncIterableIterator<never>;
    for (let i = 1; i <= 3; i++) {
      topic.publish(i);
      await tick();
    }
    expect(executions).toBe(1);
    expect(fan.stats).toMatchObject({ groups: 1, members: 2, serialised: 3, sent: 6 });
    expect(a.sent).toEqual([1, 2, 3].map((n) => ({ id: 'A', type: 'next', payload: { data: { n } } })));
    expect(b.sent).toEqual([1, 2, 3].map((n) => ({ id: 'B', type: 'next', payload: { data: { n } } })));
    // The last one out ends the execution.
    await ia.return!();
    await ib.return!();
    expect(fan.stats).toMatchObject({ groups: 0, members: 0 });
  });

  it('issue 15: a slow subscriber gets a gap marker with how many updates it missed, never a silent drop', async () => {
    const topic = new Topic<number>();
    const fan = new SharedSubscriptions({ maxBufferedBytes: 1000 });
    const start = async () => {
      const it = topic.iterate();
      return source(it);
    };
    const fast = fakeSocket();
    const slow = fakeSocket();
    await fan.subscribe('k', { socket: fast.socket, id: '1' }, start);
    await fan.subscribe('k', { socket: slow.socket, id: '2' }, start);
    topic.publish(1);
    await tick();
    slow.s.bufferedAmount = 5000; // its socket cannot keep up
    for (const n of [2, 3, 4]) {
      topic.publish(n);
      await tick();
    }
    slow.s.bufferedAmount = 0;
    topic.publish(5);
    await tick();
    expect(fast.sent.map((m) => (m as { payload: { data: { n: number } } }).payload.data.n)).toEqual([1, 2, 3, 4, 5]);
    expect(slow.sent).toEqual([
      { id: '2', type: 'next', payload: { data: { n: 1 } } },
      { id: '2', type: 'next', payload: { extensions: { gap: { missed: 3 } } } },
      { id: '2', type: 'next', payload: { data: { n: 5 } } },
    ]);
    expect(fan.stats).toMatchObject({ missed: 3, gapMarkers: 1 });
  });
});

describe('issue 15: updates skipped at the source are announced too', () => {
  it('a subscription queue that overflows reports each update it drops', async () => {
    const topic = new Topic<number>();
    let reported = 0;
    const it = topic.iterate(() => true, 2, (n) => (reported += n));
    for (let i = 0; i < 5; i++) topic.publish(i);
    expect(reported).toBe(3);
    expect(it.dropped).toBe(3);
    expect((await it.next()).value).toBe(3);
  });

  it('a shared execution that fell behind tells every subscriber how many updates it missed', async () => {
    const topic = new Topic<number>();
    const fan = new SharedSubscriptions();
    const start = async () => source(topic.iterate());
    const a = fakeSocket();
    await fan.subscribe('k', { socket: a.socket, id: '1' }, start);
    fan.gap('k', 4);
    topic.publish(9);
    await tick();
    expect(a.sent).toEqual([
      { id: '1', type: 'next', payload: { extensions: { gap: { missed: 4 } } } },
      { id: '1', type: 'next', payload: { data: { n: 9 } } },
    ]);
  });
});

describe('shared subscriptions on a real server', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ speed: 10 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('issue 15: the server does not take per-message compression, so updates go out as frames built once', async () => {
    // ws's client offers permessage-deflate unless told not to.
    const c = new WebSocket(`${s.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((r, j) => (c.once('open', r), c.once('error', j)));
    expect(c.extensions).toBe('');
    c.close();
  });

  it('two clients with the same subscription get the same updates from one execution; other variables get their own', async () => {
    const q = 'subscription($id: ID) { telemetry(deviceId: $id) { deviceId at values } }';
    const got: Array<Array<unknown>> = [[], [], []];
    const stops = [s.ws(), s.ws(), s.ws()].map((c, i) =>
      c.subscribe({ query: q, variables: i < 2 ? {} : { id: 'nope' } }, { next: (v) => void got[i].push(v.data), error: () => {}, complete: () => {} }),
    );
    await waitFor(() => got[0].length >= 5 && got[1].length >= 5, 'telemetry on both clients', 15_000);
    expect(s.server.fanout.groups).toBe(2);
    // The later subscriber joined the running stream: from its first update on, the same updates.
    const key = (x: unknown) => JSON.stringify(x);
    const a0 = got[0].map(key);
    const b0 = got[1].map(key);
    const at = a0.indexOf(b0[0]);
    expect(at).toBeGreaterThanOrEqual(0);
    const n = Math.min(a0.length - at, b0.length);
    expect(n).toBeGreaterThan(2);
    expect(b0.slice(0, n)).toEqual(a0.slice(at, at + n));
    expect(got[2]).toEqual([]);
    for (const stop of stops) stop();
    await waitFor(() => s.server.fanout.groups === 0, 'executions ended');
  });
});

describe('issue 15: the fan-out on real sockets (finished frames, one write per socket per turn)', () => {
  it('events of one turn reach every subscriber whole and in order; one that joins mid-turn gets only the later ones', async () => {
    const topic = new Topic<number>();
    const fan = new SharedSubscriptions();
    const start = async () => source(topic.iterate());
    const io = await realSockets(3);
    try {
      // Ids of different lengths (graphql-ws's client uses UUIDs), and two the same (one shared frame).
      const ids = ['0b0f6d3e-6a57-4b4e-9d0c-3f8a3b2f6b11', '1', '1'];
      await fan.subscribe('k', { socket: io.server[0], id: ids[0] }, start);
      await fan.subscribe('k', { socket: io.server[1], id: ids[1] }, start);
      const big = 'x'.repeat(70_000); // a frame over 64 KiB takes the 8-byte length
      topic.publish(1);
      topic.publish(2);
      // This runs before the turn's end-of-turn write: 1 and 2 are serialised, not yet written.
      await new Promise((r) => setImmediate(r));
      expect(fan.stats).toMatchObject({ serialised: 2, sent: 0 });
      const join = fan.subscribe('k', { socket: io.server[2], id: ids[2] }, start);
      topic.publish(3);
      topic.publish(4);
      await join;
      await waitFor(() => io.got[0].length === 4 && io.got[1].length === 4 && io.got[2].length === 2, 'all updates');
      const msg = (id: string, n: number) => ({ id, type: 'next', payload: { data: { n } } });
      expect(io.got[0]).toEqual([1, 2, 3, 4].map((n) => msg(ids[0], n)));
      expect(io.got[1]).toEqual([1, 2, 3, 4].map((n) => msg(ids[1], n)));
      expect(io.got[2]).toEqual([3, 4].map((n) => msg(ids[2], n)));
      expect(fan.stats).toMatchObject({ serialised: 4, sent: 10 });
      // Sizes across the 7-bit, 16-bit and 64-bit length forms.
      const fan2 = new SharedSubscriptions();
      const t2 = new Topic<string>();
      const src2: AsyncIterable<ExecutionResult> = {
        [Symbol.asyncIterator]: () => {
          const it = t2.iterate();
          return { next: async () => ({ value: { data: { s: (await it.next()).value } }, done: false as const }), return: async () => (await it.return!(), { value: undefined, done: true as const }) };
        },
      };
      const before = io.got[0].length;
      await fan2.subscribe('s', { socket: io.server[0], id: ids[0] }, async () => src2);
      for (const v of ['', 'y'.repeat(200), big]) t2.publish(v);
      await waitFor(() => io.got[0].length === before + 3, 'three sizes');
      expect(io.got[0].slice(before).map((m) => (m as { payload: { data: { s: string } } }).payload.data.s)).toEqual(['', 'y'.repeat(200), big]);
    } finally {
      await io.close();
    }
  });

  it('updates the source skips after some of this turn\'s results are announced after those results, in line', async () => {
    const topic = new Topic<number>();
    const fan = new SharedSubscriptions();
    const start = async () => source(topic.iterate());
    const io = await realSockets(1);
    const fake = fakeSocket();
    try {
      await fan.subscribe('k', { socket: io.server[0], id: 'real' }, start);
      await fan.subscribe('k', { socket: fake.socket, id: 'fake' }, start);
      topic.publish(1);
      await new Promise((r) => setImmediate(r)); // 1 is serialised, not yet written
      fan.gap('k', 2); // the source dropped 2 and 3
      topic.publish(4);
      await tick();
      const shape = (m: unknown) => {
        const p = (m as { payload: { data?: { n: number }; extensions?: { gap: { missed: number } } } }).payload;
        return p.data?.n ?? `gap ${p.extensions!.gap.missed}`;
      };
      await waitFor(() => io.got[0].length === 3, 'three messages');
      expect(io.got[0].map(shape)).toEqual([1, 'gap 2', 4]);
      expect(fake.sent.map(shape)).toEqual([1, 'gap 2', 4]);
      expect(fan.stats).toMatchObject({ missed: 4, gapMarkers: 2, sent: 4 });
    } finally {
      await io.close();
    }
  });

  it('a stream that ends in the middle of a turn writes its last updates before graphql-ws says complete', async () => {
    const fan = new SharedSubscriptions();
    const io = await realSockets(1);
    try {
      const results: ExecutionResult[] = [{ data: { n: 1 } }, { data: { n: 2 } }];
      const src: AsyncIterable<ExecutionResult> = {
        [Symbol.asyncIterator]: () => ({
          next: async () => (results.length ? { value: results.shift()!, done: false as const } : { value: undefined, done: true as const }),
        }),
      };
      const it = (await fan.subscribe('k', { socket: io.server[0], id: 'a' }, async () => src)) as AsyncIterableIterator<never>;
      // What graphql-ws does when the iterator it waits on ends.
      void it.next().then(() => io.server[0].send(JSON.stringify({ id: 'a', type: 'complete' })));
      await waitFor(() => io.got[0].length === 3, 'two updates and complete');
      expect(io.got[0].map((m) => (m as { type: string; payload?: { data: { n: number } } }).payload?.data.n ?? (m as { type: string }).type)).toEqual([1, 2, 'complete']);
    } finally {
      await io.close();
    }
  });

  it('a subscriber whose socket backs up gets a gap marker with how many it missed, written in order with its updates', async () => {
    const topic = new Topic<number>();
    const fan = new SharedSubscriptions({ maxBufferedBytes: 64 * 1024 });
    const payload = 'z'.repeat(32 * 1024);
    const start = async (): Promise<AsyncIterable<ExecutionResult>> => {
      const it = topic.iterate(() => true, 1_000_000);
      return {
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            const r = await it.next();
            return { value: { data: { n: r.value, pad: payload } }, done: false as const };
          },
          return: async () => (await it.return!(), { value: undefined, done: true as const }),
        }),
      };
    };
    const io = await realSockets(2);
    try {
      await fan.subscribe('k', { socket: io.server[0], id: 'fast' }, start);
      await fan.subscribe('k', { socket: io.server[1], id: 'slow' }, start);
      // The slow client stops reading: its kernel buffers fill, then its server socket's queue grows.
      io.clients[1].pause();
      let n = 0;
      while (fan.stats.missed === 0) {
        topic.publish(++n);
        await tick();
      }
      // A few more are missed while it is still behind.
      for (let i = 0; i < 3; i++) {
        topic.publish(++n);
        await tick();
      }
      const missed = fan.stats.missed;
      io.clients[1].resume();
      await waitFor(() => io.server[1].bufferedAmount === 0, 'slow socket drained');
      topic.publish(++n);
      await waitFor(() => io.got[0].length === n && io.got[1].some((m) => (m as { payload: { data?: { n: number } } }).payload.data?.n === n), 'last update on both');
      const ns = (io.got[1] as Array<{ payload: { data?: { n: number }; extensions?: { gap: { missed: number } } } }>).map((m) => m.payload.data?.n ?? `gap ${m.payload.extensions!.gap.missed}`);
      // Every update is either delivered or counted in the marker that comes right where it was skipped.
      const gap = ns.findIndex((x) => typeof x === 'string');
      expect(ns[gap]).toBe(`gap ${missed}`);
      expect(ns.slice(0, gap)).toEqual(Array.from({ length: gap }, (_, i) => i + 1));
      expect(ns.slice(gap + 1)).toEqual(Array.from({ length: n - gap - missed }, (_, i) => gap + missed + 1 + i));
      expect(io.got[0].length).toBe(n);
      expect(fan.stats.gapMarkers).toBe(1);
    } finally {
      await io.close();
    }
  });
});
