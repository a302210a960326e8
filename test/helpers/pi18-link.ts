/**
 * A minimal Link<F> for driver tests until the generic supervised link (src/link/supervisor.ts,
 * branch wt-link) is merged: one transport, one framer, open on `start()`, state 'connecting' →
 * 'up', 'down' when the transport closes or a write fails. `reconnect` closes and reopens once.
 * No backoff: tests that need one should move to SupervisedLink.
 */
import type { Framer, FrameListener, Link, LinkState, SendResult, StateListener } from '../../src/link/types.js';
import type { Transport } from '../../src/link/transports/types.js';

export class TestLink<F> implements Link<F> {
  state: LinkState = 'down';
  private readonly frameListeners = new Set<FrameListener<F>>();
  private readonly txListeners = new Set<FrameListener<F>>();
  private readonly stateListeners = new Set<StateListener>();
  private offs: (() => void)[] = [];

  constructor(
    readonly id: string,
    private readonly transport: Transport,
    private readonly framer: Framer<F>,
    private readonly now: () => number,
  ) {}

  async start(): Promise<void> {
    this.setState('connecting', `opening ${this.transport.description}`);
    try {
      await this.transport.open();
    } catch (err) {
      this.setState('down', `open failed: ${(err as Error).message}`);
      return;
    }
    this.framer.reset();
    this.offs.push(
      this.transport.onData((chunk) => {
        for (const f of this.framer.push(chunk)) for (const l of this.frameListeners) l(f, this.now());
      }),
      this.transport.onClose((err) => {
        this.detach();
        this.setState('down', `closed: ${err?.message ?? 'closed'}`);
      }),
    );
    this.setState('up', `open ${this.transport.description}`);
  }

  async stop(): Promise<void> {
    this.detach();
    await this.transport.close();
    this.setState('down', 'stopped');
  }

  private detach(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private setState(state: LinkState, detail: string): void {
    if (state === this.state && state !== 'connecting') return;
    this.state = state;
    for (const l of this.stateListeners) l(state, detail);
  }

  async send(frame: F): Promise<SendResult> {
    if (this.state !== 'up') return { ok: false, code: 'LINK_DOWN', message: `${this.id} is ${this.state}` };
    let bytes: Uint8Array;
    try {
      bytes = this.framer.encode(frame);
    } catch (err) {
      return { ok: false, code: 'WRITE_FAILED', message: (err as Error).message };
    }
    try {
      await this.transport.write(bytes);
    } catch (err) {
      return { ok: false, code: 'WRITE_FAILED', message: (err as Error).message };
    }
    for (const l of this.txListeners) l(frame, this.now());
    return { ok: true };
  }

  onFrame(listener: FrameListener<F>): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  onTx(listener: FrameListener<F>): () => void {
    this.txListeners.add(listener);
    return () => this.txListeners.delete(listener);
  }

  onState(listener: StateListener): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  reconnect(reason: string): void {
    this.detach();
    this.setState('down', `reconnecting: ${reason}`);
    void this.transport.close().then(() => this.start());
  }
}
