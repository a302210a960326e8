/**
 * Compact rows (issue 15 item 2): every family's frames, recorded in the compact frames table,
 * read back through the frame inspector (the GraphQL `frames` query on a real server) exactly as
 * the drivers handed them to the store: CAN (Flatpack2, BMS), PI18, VE.Bus MK2 and RAPI.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { Store, type FrameRow } from '../../src/store/store.js';
import { hex } from '../../src/families/can/types.js';

let s: LiveServer | null = null;
let restore: (() => void) | null = null;
afterEach(async () => {
  restore?.();
  restore = null;
  await s?.stop();
  s = null;
});

interface Node {
  id: string;
  at: string;
  protocol: string;
  link: string;
  dir: string;
  address: string | null;
  bytesHex: string;
  text: string | null;
  kind: string;
  deviceId: string | null;
  meta: Record<string, unknown> | null;
}

describe('frame inspector on the compact frames table', () => {
  it('every family’s frames read back through GraphQL field for field as the drivers recorded them', async () => {
    // Every frame the drivers hand to the store, as handed (the store keeps them by reference).
    const recorded: FrameRow[] = [];
    // appendFrameRecord: where every frame goes in (the engine's path; appendFrame goes through it too).
    const orig = Store.prototype.appendFrameRecord;
    Store.prototype.appendFrameRecord = function (this: Store, ts: number, link: string, f: Omit<FrameRow, 'ts' | 'link'>) {
      recorded.push({ ...f, ts, link, bytes: Uint8Array.from(f.bytes) });
      return orig.call(this, ts, link, f);
    };
    restore = () => {
      Store.prototype.appendFrameRecord = orig;
    };
    s = await startLiveServer({ speed: 10, bms: true, evse: true, inverters: true, vebus: true });
    const protocols = ['can', 'pi18', 'mk2', 'rapi'];
    await waitFor(() => protocols.every((p) => recorded.filter((f) => f.protocol === p).length >= 6), 'frames of every protocol', 30_000);
    restore();
    restore = null;
    const upTo = Math.max(...recorded.map((f) => f.ts));
    for (const p of protocols) {
      const r = await s.gql<{ frames: { edges: Array<{ node: Node }> } }>(
        `query($p: String, $to: DateTime) { frames(filter: { protocol: $p, to: $to }, first: 40) { edges { node { id at protocol link dir address bytesHex text kind deviceId meta } } } }`,
        { p, to: upTo },
      );
      expect(r.errors).toBeUndefined();
      const got = r.data!.frames.edges.map((e) => e.node);
      const want = recorded.filter((f) => f.protocol === p && f.ts <= upTo).reverse().slice(0, 40);
      expect(got.length).toBe(want.length);
      expect(got.map(({ id: _id, ...n }) => n)).toEqual(
        want.map((f) => ({
          at: new Date(f.ts).toISOString(),
          protocol: f.protocol,
          link: f.link,
          dir: f.dir,
          address: f.address,
          bytesHex: hex(f.bytes),
          text: f.text,
          kind: f.kind,
          deviceId: f.deviceId,
          meta: f.meta ?? null,
        })),
      );
      // Ids are opaque and unique; each one pages on from where it is.
      expect(new Set(got.map((n) => n.id)).size).toBe(got.length);
    }
  });
});
