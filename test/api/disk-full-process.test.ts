/**
 * A full or read-only database as a user meets it, with a real server process: refused at
 * start before any adapter is opened (one line, exit code 2), and, when the disk fills up
 * mid-charge (the 2 MB tmpfs), the process stays up in a safe state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { waitFor } from '../helpers/wait.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'powerplane.mjs');
/** Without a tmpfs the server processes run with this preload and the flag file stands for a full disk. */
const PRELOAD = join(import.meta.dirname, '..', 'helpers', 'fail-writes-preload.mjs');
const children: ChildProcess[] = [];
let disk: Tmpfs;
beforeAll(() => {
  disk = mountTmpfs(2 * 1024 * 1024, 'pp-diskproc-');
});
afterAll(() => disk.unmount());
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  if (disk.mounted) disk.remount('rw');
  if (disk.mounted) disk.unfill();
  rmSync(fullFlag(), { force: true });
  // Each test starts with the whole 2 MB: an earlier test's databases left less room than a
  // charge needs to start (the disk filled first when the tests ran in file order).
  for (const f of readdirSync(disk.dir)) if (/\.db(-wal|-shm|-journal)?$/.test(f)) rmSync(join(disk.dir, f), { force: true });
});

const fullFlag = () => join(disk.dir, 'disk-is-full.flag');
/** The disk is full: really (tmpfs), or by the injected failure (flag file read by the preload). */
function fillDisk(): void {
  if (disk.mounted) disk.fill();
  else writeFileSync(fullFlag(), '');
}

function start(dbPath: string, speed = 50): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const args = disk.mounted ? [BIN] : ['--import', PRELOAD, BIN];
  const child = spawn(process.execPath, [...args, 'serve', '--port', '0', '--db', dbPath, '--sim-speed', String(speed)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PP_FAIL_WRITES_FLAG: fullFlag() },
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

/** The refusal: exit 2, one line on stderr that says what to do, nothing opened or served. */
async function expectRefusedAtStart(dbPath: string, why: RegExp): Promise<void> {
  const p = start(dbPath);
  expect(await p.exit).toBe(2);
  const lines = p.err().trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(why);
  expect(lines[0]).toMatch(/--db/);
  expect(p.err()).not.toMatch(/\n\s+at /); // no stack trace
  // No adapter was opened and nothing was served.
  expect(p.out()).not.toMatch(/CAN bus|link|serving GraphQL/);
}

describe('the database at start', () => {
  it('defect 9.6: a read-only database is refused before any adapter is opened, with one line and exit code 2', async () => {
    const dbPath = join(disk.dir, 'ro.db');
    Store.open({ path: dbPath, minFreeBytes: 0 }).close();
    if (disk.mounted) {
      disk.remount('ro');
      await expectRefusedAtStart(dbPath, /cannot be written \(EROFS.*read-only mount/);
    } else {
      // Without a tmpfs: a database path under a regular file cannot be created, even by root.
      await expectRefusedAtStart(join(dbPath, 'sub', 'x.db'), /cannot be (written|created)/);
    }
  });

  it('defect 9.6: a full disk is refused at start (no crash loop), with one line and exit code 2', async () => {
    const dbPath = join(disk.dir, 'full.db');
    Store.open({ path: dbPath, minFreeBytes: 0 }).close();
    fillDisk();
    await expectRefusedAtStart(dbPath, /disk is full|SQLITE_FULL/);
  });
});

describe('the disk fills up under a running server', () => {
  it('defect 9.6: on a 2 MB disk the server charges, the disk fills, the charge stops in standby and the process stays up', async () => {
    const dbPath = join(disk.dir, 'live.db');
    // At speed 5 the rig's own writes take minutes to fill 2 MB, so the charge is surely running
    // when the test fills the rest (at speed 50 a loaded machine filled it before the charge
    // could start: a CI flake).
    const p = start(dbPath, 5);
    const url = await waitFor(() => /serving GraphQL at (http:\/\/127\.0\.0\.1:\d+)\/graphql/.exec(p.out())?.[1], 'the server to start', 30_000);
    const gql = async (query: string) => {
      const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
      return (await r.json()) as { data?: { chargers?: Array<{ phase: string; stopReason: string | null }> }; errors?: Array<{ extensions?: { code?: string } }> };
    };
    await waitFor(async () => (await gql('mutation { startCharge(chargerId: "charger1") { phase } }')).data, 'the charge to start', 60_000, 200);
    // The disk fills up mid-charge: the rest of the 2 MB tmpfs (or the injected failure).
    fillDisk();
    const health = await waitFor(async () => {
      const r = await fetch(`${url}/healthz`);
      return r.status === 503 ? ((await r.json()) as { store: { writable: boolean; code: string }; reasons: string[] }) : null;
    }, '/healthz to report the full disk', 60_000, 100);
    expect(health.store).toMatchObject({ writable: false, code: expect.stringMatching(/SQLITE_FULL|SQLITE_IOERR/) });
    const charger = await waitFor(async () => {
      const c = (await gql('{ chargers { phase stopReason } }')).data?.chargers?.[0];
      return c && c.phase === 'done' ? c : null;
    }, 'the charge to stop', 30_000);
    expect(charger.stopReason).toMatch(/storage unavailable/);
    expect((await gql('mutation { setPsuOutput(input: { deviceId: "all", voltageV: 52, currentA: 5 }) { message } }')).errors?.[0]?.extensions?.code).toBe('STORAGE_UNAVAILABLE');
    // Still up a while later (the BMS watchdog, the keep-alives, the charger tick all ran on).
    await new Promise((r) => setTimeout(r, 2000));
    expect(p.child.exitCode).toBeNull();
    expect((await fetch(`${url}/livez`)).status).toBe(200);
    expect(p.out()).toMatch(/STORAGE FAULT/);
  }, 240_000);
});
