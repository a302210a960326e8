/** What the benches read of another process from /proc. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The TCP port a process listens on (from /proc/net/tcp and its socket inodes), or null. */
export function listeningPort(pid) {
  try {
    const inodes = new Set();
    for (const fd of spawnSync('ls', ['-l', `/proc/${pid}/fd`], { encoding: 'utf8' }).stdout.split('\n')) {
      const m = /socket:\[(\d+)\]/.exec(fd);
      if (m) inodes.add(m[1]);
    }
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9])) return parseInt(f[1].split(':')[1], 16);
    }
  } catch {
    /* gone */
  }
  return null;
}

/** A bench's main: its figures as JSON on stdout and exit 0, or the error on stderr and exit 1. */
export function printJsonThenExit(figures) {
  figures.then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
