/**
 * RequestQueue on the FakeClock: one exchange in flight, matcher before write, timeouts and
 * retries, late replies, unsolicited frames, link loss and NAK. Frames are strings here (the
 * queue is generic); replies are "R:<request>" unless a test says otherwise.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../src/clock.js';
import { RequestQueue, type RequestResult, type RequestSpec } from '../../src/link/request-queue.js';
import type { FrameListener, LinkState, SendResult, StateListener } from '../../src/link/types.js';

const OK: SendResult = { ok: true };

/** A queue whose writes are recorded; `sendResult` decides what each send returns. */
function setup(opts: { timeoutMs?: number; retries?: number; lateWindowMs?: number } = {}) {
  const clock = new FakeClock();
  const sent: string[] = [];
  const harness = {
    clock,
    sent,
    sendResult: (_frame: string): SendResult => OK,
    queue: undefined as unknown as RequestQueue<string>,
  };
  harness.queue = new RequestQueue<string>({
    clock,
    device: 'test device dev-1',
    send: async (frame) => {
      sent.push(frame);
      return harness.sendResult(frame);
    },
    timeoutMs: opts.timeoutMs ?? 500,
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(opts.lateWindowMs !== undefined ? { lateWindowMs: opts.lateWindowMs } : {}),
  });
  return harness;
}

function query(frame: string, extra: Partial<{ retries: number; timeoutMs: number }> = {}): RequestSpec<string> {
  return { label: frame, frame, idempotent: true, match: (f) => f === `R:${frame}`, ...extra };
}

function setter(frame: string): RequestSpec<string> {
  return { label: frame, frame, match: (f) => f === `R:${frame}` };
}

/** Records a result when the promise settles, so tests can assert "not yet". */
function track<T>(p: Promise<T>): { result: T | undefined } {
  const box: { result: T | undefined } = { result: undefined };
  void p.then((r) => (box.result = r));
  return box;
}

describe('RequestQueue', () => {
  it('sends queued requests one at a time, in submission order', async () => {
    const h = setup();
    const a = track(h.queue.request(query('A')));
    const b = track(h.queue.request(query('B')));
    const c = track(h.queue.request(setter('C')));
    await settle();
    expect(h.sent).toEqual(['A']);
    expect(h.queue.queued).toBe(2);

    expect(h.queue.handleFrame('R:A')).toBe('reply');
    await settle();
    expect(a.result).toEqual({ ok: true, reply: 'R:A', attempts: 1 });
    expect(h.sent).toEqual(['A', 'B']);
    expect(c.result).toBeUndefined();

    h.queue.handleFrame('R:B');
    await settle();
    expect(h.sent).toEqual(['A', 'B', 'C']);
    h.queue.handleFrame('R:C');
    await settle();
    expect(b.result).toEqual({ ok: true, reply: 'R:B', attempts: 1 });
    expect(c.result).toEqual({ ok: true, reply: 'R:C', attempts: 1 });
    expect(h.queue.inFlight).toBe(false);
    expect(h.clock.pendingTimers()).toBe(0);
  });

  it('registers the matcher before the write: a reply delivered synchronously from inside send is matched', async () => {
    const clock = new FakeClock();
    let queue!: RequestQueue<string>;
    queue = new RequestQueue<string>({
      clock,
      device: 'echo device',
      // An echoing transport: the reply arrives before send() even returns its promise.
      send: (frame) => {
        queue.handleFrame(`R:${frame}`);
        return Promise.resolve(OK);
      },
    });
    const unsolicited: string[] = [];
    queue.onUnsolicited((f) => unsolicited.push(f));
    const first = queue.request(setter('PBT1'));
    const second = queue.request(query('GS'));
    expect(await first).toEqual({ ok: true, reply: 'R:PBT1', attempts: 1 });
    expect(await second).toEqual({ ok: true, reply: 'R:GS', attempts: 1 });
    expect(unsolicited).toEqual([]);
    expect(queue.stats.unsolicited).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('fails with TIMEOUT on the clock when no reply comes, naming the device and the request', async () => {
    const h = setup({ timeoutMs: 500 });
    const r = track(h.queue.request(setter('MCHGV552,540')));
    await h.clock.advance(499);
    expect(r.result).toBeUndefined();
    await h.clock.advance(1);
    expect(r.result).toMatchObject({ ok: false, code: 'TIMEOUT', attempts: 1 });
    const message = (r.result as { message: string }).message;
    expect(message).toContain('test device dev-1');
    expect(message).toContain('MCHGV552,540');
    expect(message).toContain('500 ms');
    expect(h.queue.stats.timeouts).toBe(1);
  });

  it('re-sends an idempotent request up to its retry count, then fails with TIMEOUT', async () => {
    const h = setup({ timeoutMs: 500, retries: 2 });
    const r = track(h.queue.request(query('PIRI')));
    await settle();
    expect(h.sent).toEqual(['PIRI']);
    await h.clock.advance(500);
    expect(h.sent).toEqual(['PIRI', 'PIRI']);
    await h.clock.advance(500);
    expect(h.sent).toEqual(['PIRI', 'PIRI', 'PIRI']);
    expect(r.result).toBeUndefined();
    await h.clock.advance(500);
    expect(r.result).toMatchObject({ ok: false, code: 'TIMEOUT', attempts: 3 });
    expect(h.sent).toHaveLength(3);
    expect(h.queue.stats).toMatchObject({ writes: 3, retries: 2, timeouts: 1 });
  });

  it('a retry that is answered succeeds, and a per-request retry count overrides the default', async () => {
    const h = setup({ timeoutMs: 500, retries: 0 });
    const r = track(h.queue.request(query('GS', { retries: 1 })));
    await h.clock.advance(500);
    expect(h.sent).toEqual(['GS', 'GS']);
    h.queue.handleFrame('R:GS');
    await settle();
    expect(r.result).toEqual({ ok: true, reply: 'R:GS', attempts: 2 });
    expect(h.queue.stats).toMatchObject({ writes: 2, retries: 1, timeouts: 0, replies: 1 });
  });

  it('never re-sends a request that is not marked idempotent (a setter), whatever the default retries', async () => {
    const h = setup({ timeoutMs: 500, retries: 5 });
    const r = track(h.queue.request(setter('POP1')));
    await h.clock.advance(5000);
    expect(h.sent).toEqual(['POP1']);
    expect(r.result).toMatchObject({ ok: false, code: 'TIMEOUT', attempts: 1 });
    expect(h.queue.stats.retries).toBe(0);
  });

  it('discards and counts a late reply after a timeout; the next request waits out the late window and gets its own reply', async () => {
    // PI18 setters are all answered by the same "^1", so a late ack must not be taken as the next one's.
    const h = setup({ timeoutMs: 500 });
    const unsolicited: string[] = [];
    h.queue.onUnsolicited((f) => unsolicited.push(f));
    const ack = (frame: string): RequestSpec<string> => ({ label: frame, frame, match: (f) => f === '^1' });
    const first = track(h.queue.request(ack('PBT1')));
    const second = track(h.queue.request(ack('POP1')));
    await h.clock.advance(500);
    expect(first.result).toMatchObject({ ok: false, code: 'TIMEOUT' });
    // Late window (default: the timed-out request's timeout): the next exchange is held back.
    await h.clock.advance(100);
    expect(h.sent).toEqual(['PBT1']);
    expect(h.queue.handleFrame('^1')).toBe('late');
    await settle();
    expect(second.result).toBeUndefined();
    expect(h.queue.stats.lateReplies).toBe(1);
    expect(unsolicited).toEqual([]);

    await h.clock.advance(400);
    expect(h.sent).toEqual(['PBT1', 'POP1']);
    expect(second.result).toBeUndefined();
    h.queue.handleFrame('^1');
    await settle();
    expect(second.result).toEqual({ ok: true, reply: '^1', attempts: 1 });
    expect(h.queue.stats).toMatchObject({ lateReplies: 1, replies: 1, unsolicited: 0 });
  });

  it('after the late window a frame matching the timed-out request is just unsolicited', async () => {
    const h = setup({ timeoutMs: 500, lateWindowMs: 200 });
    const unsolicited: string[] = [];
    h.queue.onUnsolicited((f) => unsolicited.push(f));
    const r = track(h.queue.request(setter('PBT1')));
    await h.clock.advance(700);
    expect(r.result).toMatchObject({ code: 'TIMEOUT' });
    expect(h.queue.handleFrame('R:PBT1')).toBe('unsolicited');
    expect(unsolicited).toEqual(['R:PBT1']);
    expect(h.queue.stats.lateReplies).toBe(0);
  });

  it('gapAfterMs keeps the line quiet after an exchange before the next write', async () => {
    const h = setup();
    const a = track(h.queue.request({ ...setter('EEPROM-1'), gapAfterMs: 150 }));
    const b = track(h.queue.request(setter('EEPROM-2')));
    await settle();
    h.queue.handleFrame('R:EEPROM-1');
    await settle();
    expect(a.result).toMatchObject({ ok: true });
    await h.clock.advance(149);
    expect(h.sent).toEqual(['EEPROM-1']);
    await h.clock.advance(1);
    expect(h.sent).toEqual(['EEPROM-1', 'EEPROM-2']);
    h.queue.handleFrame('R:EEPROM-2');
    await settle();
    expect(b.result).toMatchObject({ ok: true });
    // Link loss leaves no quiet-gap timer behind.
    const c = track(h.queue.request({ ...setter('C'), gapAfterMs: 500 }));
    await settle();
    h.queue.linkDown('gone');
    await settle();
    expect(c.result).toMatchObject({ code: 'LINK_DOWN' });
    expect(h.clock.pendingTimers()).toBe(0);
  });

  it('passes frames that match no request to onUnsolicited, also between a request and its reply', async () => {
    const h = setup();
    const unsolicited: string[] = [];
    h.queue.onUnsolicited((f) => unsolicited.push(f));
    expect(h.queue.handleFrame('$AT 01 01 32 0200')).toBe('unsolicited');
    const r = track(h.queue.request(query('F 0')));
    await settle();
    // MK2: a V frame arrives between the request and its reply.
    expect(h.queue.handleFrame('V')).toBe('unsolicited');
    expect(r.result).toBeUndefined();
    h.queue.handleFrame('R:F 0');
    await settle();
    expect(r.result).toEqual({ ok: true, reply: 'R:F 0', attempts: 1 });
    expect(unsolicited).toEqual(['$AT 01 01 32 0200', 'V']);
    expect(h.queue.stats.unsolicited).toBe(2);
  });

  it('link loss fails the request in flight and every queued one at once, without waiting for the timeout', async () => {
    const h = setup({ timeoutMs: 500 });
    const a = track(h.queue.request(query('A')));
    const b = track(h.queue.request(setter('B')));
    const c = track(h.queue.request(query('C')));
    await settle();
    h.queue.linkDown('USB unplugged');
    await settle();
    expect(a.result).toMatchObject({ ok: false, code: 'LINK_DOWN', attempts: 1 });
    expect(b.result).toMatchObject({ ok: false, code: 'LINK_DOWN', attempts: 0 });
    expect(c.result).toMatchObject({ ok: false, code: 'LINK_DOWN', attempts: 0 });
    expect((a.result as { message: string }).message).toContain('USB unplugged');
    expect(h.sent).toEqual(['A']);
    expect(h.clock.pendingTimers()).toBe(0);
    expect(h.queue.stats.linkDownFailures).toBe(3);

    // The queue carries on once the link is back.
    const d = track(h.queue.request(query('D')));
    await settle();
    h.queue.handleFrame('R:D');
    await settle();
    expect(d.result).toEqual({ ok: true, reply: 'R:D', attempts: 1 });
  });

  it('a send that returns LINK_DOWN fails that request and every queued one', async () => {
    const h = setup();
    h.sendResult = () => ({ ok: false, code: 'LINK_DOWN', message: 'link not up' });
    const a = track(h.queue.request(query('A')));
    const b = track(h.queue.request(query('B')));
    await settle();
    expect(a.result).toMatchObject({ ok: false, code: 'LINK_DOWN' });
    expect(b.result).toMatchObject({ ok: false, code: 'LINK_DOWN', attempts: 0 });
    expect(h.sent).toEqual(['A']);
    expect(h.clock.pendingTimers()).toBe(0);
  });

  it('a send that returns WRITE_FAILED fails only that request; the next one is sent', async () => {
    const h = setup();
    h.sendResult = (f) => (f === 'A' ? { ok: false, code: 'WRITE_FAILED', message: 'EIO' } : OK);
    const a = track(h.queue.request(setter('A')));
    const b = track(h.queue.request(setter('B')));
    await settle();
    expect(a.result).toMatchObject({ ok: false, code: 'WRITE_FAILED', attempts: 1 });
    expect((a.result as { message: string }).message).toContain('EIO');
    expect(h.sent).toEqual(['A', 'B']);
    h.queue.handleFrame('R:B');
    await settle();
    expect(b.result).toEqual({ ok: true, reply: 'R:B', attempts: 1 });
    expect(h.queue.stats.writeFailures).toBe(1);
  });

  it('a matched reply that the nak predicate calls a refusal gives NAK with the reply', async () => {
    const h = setup();
    // PI18: a setter is answered by ^1 (ACK) or ^0 (NAK).
    const spec: RequestSpec<string> = {
      label: 'MCHGC0,060',
      frame: 'MCHGC0,060',
      match: (f) => f === '^1' || f === '^0',
      nak: (f) => f === '^0',
    };
    const r = track(h.queue.request(spec));
    await settle();
    h.queue.handleFrame('^0');
    await settle();
    expect(r.result).toMatchObject({ ok: false, code: 'NAK', reply: '^0', attempts: 1 });
    expect((r.result as { message: string }).message).toContain('MCHGC0,060');
    expect(h.queue.stats.naks).toBe(1);
    expect(h.clock.pendingTimers()).toBe(0);
  });

  it('a matcher that throws counts as no match and does not stop the queue', async () => {
    const h = setup({ timeoutMs: 500 });
    const r = track(
      h.queue.request({
        label: 'X',
        frame: 'X',
        match: (f) => {
          if (f === 'boom') throw new Error('bug');
          return f === 'R:X';
        },
      }),
    );
    await settle();
    expect(h.queue.handleFrame('boom')).toBe('unsolicited');
    h.queue.handleFrame('R:X');
    await settle();
    expect(r.result).toMatchObject({ ok: true });
    expect(h.queue.stats.matcherErrors).toBe(1);
  });

  it('forLink wires a link: its frames are matched and leaving "up" fails what is pending', async () => {
    const clock = new FakeClock();
    const frameListeners = new Set<FrameListener<string>>();
    const stateListeners = new Set<StateListener>();
    const sent: string[] = [];
    let state: LinkState = 'up';
    const link = {
      get state() {
        return state;
      },
      send: async (f: string): Promise<SendResult> => {
        sent.push(f);
        return OK;
      },
      onFrame: (l: FrameListener<string>) => (frameListeners.add(l), () => frameListeners.delete(l)),
      onState: (l: StateListener) => (stateListeners.add(l), () => stateListeners.delete(l)),
    };
    const { queue, detach } = RequestQueue.forLink(link, { clock, device: 'evse-1' });
    const a = track(queue.request(query('$GS')));
    await settle();
    for (const l of frameListeners) l('R:$GS', clock.now());
    await settle();
    expect(a.result).toEqual({ ok: true, reply: 'R:$GS', attempts: 1 });

    const b = track(queue.request(query('$GV')));
    await settle();
    state = 'down';
    for (const l of stateListeners) l('down', 'socket closed');
    await settle();
    expect(b.result).toMatchObject({ ok: false, code: 'LINK_DOWN' });
    expect((b.result as RequestResult<string> & { message: string }).message).toContain('socket closed');
    detach();
    expect(frameListeners.size).toBe(0);
    expect(stateListeners.size).toBe(0);
    expect(sent).toEqual(['$GS', '$GV']);
  });

  it('dispose fails everything pending and every later request at once', async () => {
    const h = setup();
    const a = track(h.queue.request(query('A')));
    await settle();
    h.queue.dispose('driver stopped');
    const later = await h.queue.request(query('B'));
    await settle();
    expect(a.result).toMatchObject({ ok: false, code: 'LINK_DOWN' });
    expect(later).toMatchObject({ ok: false, code: 'LINK_DOWN', attempts: 0 });
    expect(h.sent).toEqual(['A']);
    expect(h.clock.pendingTimers()).toBe(0);
  });
});
