/** The frame inspector through the real HTTP server: latest frame per address on a link, generic over families. */
import { afterEach, describe, expect, it } from 'vitest';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';

let s: LiveServer | null = null;
afterEach(async () => {
  await s?.stop();
  s = null;
});

type F = { latestFrames: Array<{ address: string | null; dir: string; bytesHex: string; kind: string; decoded: Record<string, unknown>; count: number }> };

describe('frame inspector', () => {
  it('shows the latest BMS frame per CAN id, decoded, and refuses a link that keeps none with NOT_FOUND', async () => {
    s = await startLiveServer({ bms: true });
    const frames = await waitFor(async () => {
      const r = await s!.gql<F>('{ latestFrames(linkId: "can1") { address dir bytesHex kind decoded count } }');
      return r.data?.latestFrames.some((f) => f.kind === 'charge-limits') ? r.data.latestFrames : null;
    }, 'the BMS frames');
    const limits = frames.find((f) => f.address === '351')!;
    expect(limits).toMatchObject({ dir: 'rx', kind: 'charge-limits' });
    expect(limits.bytesHex).toMatch(/^[0-9A-F]{16}$/);
    expect(limits.decoded.kind).toBe('charge-limits');
    expect(limits.count).toBeGreaterThan(0);
    const none = await s.gql('{ latestFrames(linkId: "can0") { address } }');
    expect(none.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
