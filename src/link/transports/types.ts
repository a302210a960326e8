/**
 * A transport moves bytes and nothing else: no framing, no retries, no policy.
 * Real ones wrap `serialport` (serial.ts), a TCP socket (tcp.ts) and `node-hid` (hid.ts); test
 * ones are an in-memory pair (memory.ts) and a real pseudo-terminal pair opened with `serialport`.
 */
export interface Transport {
  /** Human-readable target, e.g. "/dev/ttyUSB0" or "memory:can0"; used in every log line. */
  readonly description: string;
  readonly isOpen: boolean;
  /** Opens the device. Rejects with an Error whose message says what to check. */
  open(): Promise<void>;
  /** Closes the device; idempotent. Does not fire `onClose` listeners. */
  close(): Promise<void>;
  /** Writes bytes; rejects if not open or the device went away. */
  write(bytes: Uint8Array): Promise<void>;
  /** Subscribes to received bytes; returns an unsubscribe function. */
  onData(listener: (chunk: Uint8Array) => void): () => void;
  /** Fires when the device closes without `close()` being called (unplugged, I/O error). */
  onClose(listener: (err?: Error) => void): () => void;
}

/** Builds a fresh transport for each (re)connection attempt, e.g. after autodetect. */
export type TransportFactory = () => Promise<Transport>;
