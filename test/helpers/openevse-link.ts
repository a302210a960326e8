/**
 * A minimal Link<F> over a Transport + Framer for the OpenEVSE tests, until the generic
 * supervised link (src/link/supervisor.ts, branch wt-link) is merged: opens once, no backoff,
 * `reconnect` closes and reopens at once. Frames received are handed out in wire order; frames
 * written go to `onTx` listeners after a successful write.
 */
import type { Framer, FrameListener, Link, LinkState, SendResult, StateListener } from '../../src/link/types.js';
import type { Transport } from '../../src/link/transports/types.js';
import type { RapiFrame } from '../../src/families/openevse/codec.js';
import { RapiFramer } from '../../src/families/openevse/framer.js';
import { createMemoryLink, type MemoryLink } from '../../src/link/transports/memory.js';
import { OpenEvseSim, type EvseSimProfileName, type OpenEvseSimOptions } from '../../src/families/openevse/sim.js';
import type { Clock } from '../../src/clock.js';

export class TestLink<F> implements Link<F> {
  state: LinkState = 'connecting';
  private readonly frameL = new Set<FrameListener<F>>();
  private readonly txL = new Set<FrameListener<F>>();
  private readonly stateL = new Set<StateListener>();
  private offData: (() => void) | null = null;
  private offClose: (() => void) | null = null;

  constructor(
    readonly id: string,
    private readonly transport: Transport,
    readonly framer: Framer<F>,
    private readonly clock: Clock,
  ) {}

  async open(): Promise<void> {
    this.setState('connecting', `opening ${this.transport.description}`);
    try {
      await this.transport.open();
    } catch (err) {
      this.setState('down', (err as Error).message);
      return;
    }
    this.framer.reset();
    this.offData = this.transport.onData((chunk) => {
      for (const f of this.framer.push(chunk)) for (const l of this.frameL) l(f, this.clock.now());
    });
    this.offClose = this.transport.onClose((err) => {
      this.detach();
      this.setState('down', err?.message ?? 'closed');
    });
    this.setState('up', `open ${this.transport.description}`);
  }

  async close(): Promise<void> {
    this.detach();
    await this.transport.close();
    this.setState('down', 'closed');
  }

  private detach(): void {
    this.offData?.();
    this.offClose?.();
    this.offData = this.offClose = null;
  }

  private setState(s: LinkState, detail: string): void {
    this.state = s;
    for (const l of this.stateL) l(s, detail);
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
    for (const l of this.txL) l(frame, this.clock.now());
    return { ok: true };
  }

  onFrame(l: FrameListener<F>): () => void {
    this.frameL.add(l);
    return () => this.frameL.delete(l);
  }
  onTx(l: FrameListener<F>): () => void {
    this.txL.add(l);
    return () => this.txL.delete(l);
  }
  onState(l: StateListener): () => void {
    this.stateL.add(l);
    return () => this.stateL.delete(l);
  }
  reconnect(reason: string): void {
    void (async () => {
      this.detach();
      await this.transport.close();
      this.setState('down', reason);
      await this.open();
    })();
  }
}

export interface EvseBench {
  mem: MemoryLink;
  link: TestLink<RapiFrame>;
  sim: OpenEvseSim;
  /** Every frame the host received, oldest first. */
  rx: RapiFrame[];
}

/** A simulated board on a memory link with a TestLink on the host side (opened, sim started). */
export async function evseBench(clock: Clock, opts: { profile?: EvseSimProfileName } & Partial<Omit<OpenEvseSimOptions, 'transport' | 'clock'>> = {}): Promise<EvseBench> {
  const mem = createMemoryLink('evse');
  const sim = new OpenEvseSim({ ...opts, transport: mem.device, clock });
  const link = new TestLink<RapiFrame>('evse1', mem.host, new RapiFramer(), clock);
  const rx: RapiFrame[] = [];
  link.onFrame((f) => rx.push(f));
  await link.open();
  sim.start();
  return { mem, link, sim, rx };
}
