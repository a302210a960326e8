/**
 * A linked pair of real pseudo-terminals (scripts/pty-pair.py), so tests exercise
 * `serialport` itself. Bytes written to `a` come out of `b` and vice versa.
 *
 * `close()` ends the relay; both ptys hang up and a SerialPort open on either side emits
 * 'close' with a disconnect error, just as when a USB-serial adapter is unplugged.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const SCRIPT = fileURLToPath(new URL('../../scripts/pty-pair.py', import.meta.url));

export interface PtyPair {
  a: string;
  b: string;
  /** Stops the relay (the "cable" is pulled); resolves once the process has exited. */
  close(): Promise<void>;
}

export async function openPtyPair(timeoutMs = 10_000): Promise<PtyPair> {
  const child = spawn('python3', [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    const timer = setTimeout(() => {
      rl.close();
      child.kill('SIGTERM');
      reject(new Error(`pty-pair.py printed nothing within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    rl.once('line', (l) => {
      clearTimeout(timer);
      rl.close();
      resolve(l);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run python3 ${SCRIPT}: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pty-pair.py exited (${code}) before printing its ptys: ${stderr}`));
    });
  });
  const { a, b } = JSON.parse(line) as { a: string; b: string };

  let closing: Promise<void> | null = null;
  return {
    a,
    b,
    close() {
      closing ??= (async () => {
        child.stdin.end(); // the script stops on stdin EOF; SIGTERM as a backstop
        const t = setTimeout(() => child.kill('SIGTERM'), 2000);
        await exited;
        clearTimeout(t);
      })();
      return closing;
    },
  };
}
