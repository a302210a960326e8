/**
 * A real nats-server (Debian's, installed by scripts/ensure-fleet-servers.sh) with JetStream,
 * its store in a temp dir, on a free loopback port. kill() stops it hard (SIGKILL: an outage),
 * start() brings it back on the same port and store, stop() ends it and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export interface NatsServer {
  url: string;
  port: number;
  dir: string;
  /** Starts it again (same port, same JetStream store) after kill(). */
  start(): Promise<void>;
  /** SIGKILL: the server is gone at once, as in a crash or a cut link. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

function binary(): string {
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) if (existsSync(p)) return p;
  throw new Error('nats-server is not installed: run `npm test` (its pretest installs it from Debian) or apt-get install -y nats-server');
}

/** `extraConfig` is appended to the server's config file (e.g. an authorization block). */
export async function startNatsServer(opts: { extraConfig?: string } = {}): Promise<NatsServer> {
  const bin = binary();
  const dir = mkdtempSync(join(tmpdir(), 'pp-nats-'));
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    `listen: "127.0.0.1:${port}"\nserver_name: "pp-test-${port}"\njetstream {\n  store_dir: "${join(dir, 'js')}"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n${opts.extraConfig ?? ''}\n`,
  );
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const c = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not become ready in 20 s:\n${log}`)), 20_000);
      const onData = (b: Buffer) => {
        log += b.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      c.stdout!.on('data', onData);
      c.stderr!.on('data', onData);
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}) before it was ready:\n${log}`));
      });
    });
  };

  const kill = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    start,
    kill,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
