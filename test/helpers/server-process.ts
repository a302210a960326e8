/**
 * A real server process (`bin/powerplane.mjs serve …`), as a user starts it: for crash, restart,
 * signal and perimeter tests. Every process a test file spawns is SIGKILLed by killServers().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'powerplane.mjs');

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  log(): string;
}

const running: ChildProcess[] = [];

/** Starts `powerplane serve <args>` and resolves with its URL once it says it is serving. */
export function spawnServer(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  running.push(child);
  let out = '';
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise<ServerProcess>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${(opts.timeoutMs ?? 30_000) / 1000} s:\n${out}`)), opts.timeoutMs ?? 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /serving GraphQL at (http:\/\/127\.0\.0\.1:\d+)\/graphql/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, log: () => out });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before serving:\n${out}`));
    });
  });
}

/** Sends `signal` and waits for the process to exit. */
export async function stopServer(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/** SIGKILLs every server process still running (for afterEach/afterAll). */
export function killServers(): void {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** A GraphQL request over HTTP; throws with the errors when there are any. */
export async function gqlData<T>(url: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<T> {
  const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
  const body = (await r.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
