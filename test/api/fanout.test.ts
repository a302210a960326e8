// Subscription fan-out: identical subscriptions share one execution and serialisation; a slow
// subscriber gets a gap marker with how many updates it missed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { ExecutionResult } from 'graphql';
import { SharedSubscriptions } from '../../src/http/shared-subscriptions.js';
import { Topic } from '../../src/engine/pubsub.js';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';

/** A socket as the fan-out sees it: what it was sent, and how much it has not written yet. */
function fakeSocket() {
  const sent: unknown[] = [];
  const s = { readyState: 1, bufferedAmount: 0, send: (d: string) => void sent.push(JSON.parse(d)) };
  return { socket: s as unknown as WebSocket, sent, s };
}

const tick = () => new Promise((r) => setImmediate(r));

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
