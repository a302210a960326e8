/**
 * An in-memory byte link: a host side (what a driver opens, like /dev/ttyUSB0) and a device
 * side (what a simulator speaks through). Bytes arrive on a microtask, never synchronously,
 * so a write cannot re-enter the writer. `unplug()` behaves like pulling the USB cable.
 */
import type { Transport, TransportFactory } from './types.js';

export interface MemoryLink {
  readonly host: Transport;
  readonly device: Transport;
  /** Host side closes with an error (onClose fires) and cannot reopen until `replug()`. */
  unplug(): void;
  replug(): void;
  /** The process holding the host side died (SIGKILL): the port closes, its listeners are gone. */
  abandonHost(): void;
  readonly plugged: boolean;
  /** Factory for supervisors: yields the host side on every attempt. */
  hostFactory(): TransportFactory;
}

type DataListener = (chunk: Uint8Array) => void;
type CloseListener = (err?: Error) => void;

class Endpoint implements Transport {
  isOpen: boolean;
  peer!: Endpoint;
  readonly dataListeners = new Set<DataListener>();
  readonly closeListeners = new Set<CloseListener>();

  constructor(
    readonly description: string,
    private readonly canOpen: () => string | null,
    private readonly openAtStart: boolean,
  ) {
    this.isOpen = openAtStart;
  }

  async open(): Promise<void> {
    const problem = this.canOpen();
    if (problem) throw new Error(problem);
    if (this.isOpen) {
      // The device side is born open; opening it again is harmless.
      if (this.openAtStart) return;
      throw new Error(`${this.description} is already open`);
    }
    this.isOpen = true;
  }

  async close(): Promise<void> {
    this.isOpen = false;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) throw new Error(`${this.description} is not open`);
    // Copy (not slice(), a view on a Buffer): the caller may reuse its buffer once write() resolves.
    const chunk = new Uint8Array(bytes);
    const peer = this.peer;
    queueMicrotask(() => peer.deliver(chunk));
  }

  /** Bytes reach only an open receiver, as with a serial port nobody has opened. */
  deliver(chunk: Uint8Array): void {
    if (!this.isOpen) return;
    for (const l of this.dataListeners) l(chunk);
  }

  onData(listener: DataListener): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  onClose(listener: CloseListener): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** The device went away: close and tell listeners (close() itself never does). */
  lost(err: Error): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    queueMicrotask(() => {
      for (const l of this.closeListeners) l(err);
    });
  }
}

export function createMemoryLink(name: string): MemoryLink {
  const label = `memory:${name}`;
  let plugged = true;
  const host = new Endpoint(
    label,
    () => (plugged ? null : `${label} not present — is the adapter plugged in?`),
    false,
  );
  // The device side is the adapter's own end of the cable: always open while it exists.
  const device = new Endpoint(`${label} (device side)`, () => null, true);
  host.peer = device;
  device.peer = host;
  return {
    host,
    device,
    get plugged() {
      return plugged;
    },
    unplug() {
      if (!plugged) return;
      plugged = false;
      host.lost(new Error(`${label} unplugged`));
    },
    replug() {
      plugged = true;
    },
    abandonHost() {
      host.isOpen = false;
      host.dataListeners.clear();
      host.closeListeners.clear();
    },
    hostFactory() {
      return async () => host;
    },
  };
}
