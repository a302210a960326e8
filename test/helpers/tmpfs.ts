/**
 * A tiny real file system for disk-full and read-only tests: a tmpfs of a few MB (needs root,
 * `mount -t tmpfs`). `mounted` is false where it cannot be mounted; callers then fall back to
 * an injected write failure.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  mounted: boolean;
  /** Writes a filler file until the file system is full (ENOSPC). */
  fill(): void;
  /** Deletes the filler: the disk has room again. */
  unfill(): void;
  remount(mode: 'ro' | 'rw'): void;
  unmount(): void;
}

export function mountTmpfs(sizeBytes: number, prefix = 'pp-tmpfs-'): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let mounted = false;
  // PP_TEST_NO_TMPFS=1 runs the fallback (injected failures) where a tmpfs could be mounted.
  if (!process.env.PP_TEST_NO_TMPFS) {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'ignore' });
      mounted = true;
    } catch {
      mounted = false;
    }
  }
  const filler = join(dir, 'filler.bin');
  return {
    dir,
    mounted,
    fill() {
      // Never on a real disk: only a mounted tmpfs of a few MB may be filled.
      if (!mounted) throw new Error('fill(): no tmpfs is mounted; use an injected write failure instead');
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      try {
        for (;;) {
          try {
            writeSync(fd, chunk);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
            // Take the last crumbs too, a byte at a time.
            for (;;) writeSync(fd, chunk.subarray(0, 1));
          }
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      } finally {
        closeSync(fd);
      }
    },
    unfill() {
      rmSync(filler, { force: true });
    },
    remount(mode) {
      execFileSync('mount', ['-o', `remount,${mode}`, dir], { stdio: 'ignore' });
    },
    unmount() {
      if (mounted) {
        try {
          execFileSync('umount', [dir], { stdio: 'ignore' });
        } catch {
          execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
