/**
 * A simulated CAN bus: every frame a node sends reaches every other attached node, in send
 * order, on a microtask (never synchronously, so a node may answer from its handler).
 * No arbitration, no errors: the bus is an ideal wire; faults belong to adapters and devices.
 */
import type { CanFrame } from './types.js';

export interface CanBusNode {
  send(frame: CanFrame): void;
  detach(): void;
}

interface Attached {
  name: string;
  onFrame: (frame: CanFrame) => void;
  attached: boolean;
}

export class CanBusSim {
  readonly bitrate: number;
  /** Frames sent on the bus since it was created. */
  frameCount = 0;
  private readonly nodes: Attached[] = [];

  constructor(opts: { bitrate: number }) {
    this.bitrate = opts.bitrate;
  }

  /** Names of the attached nodes (for logs and tests). */
  get nodeNames(): string[] {
    return this.nodes.map((n) => n.name);
  }

  attach(name: string, onFrame: (frame: CanFrame) => void): CanBusNode {
    const node: Attached = { name, onFrame, attached: true };
    this.nodes.push(node);
    return {
      send: (frame) => this.send(node, frame),
      detach: () => {
        node.attached = false;
        const i = this.nodes.indexOf(node);
        if (i >= 0) this.nodes.splice(i, 1);
      },
    };
  }

  private send(from: Attached, frame: CanFrame): void {
    if (!from.attached) return;
    this.frameCount++;
    // One copy per frame: the sender may reuse its buffer, receivers share this one.
    const copy: CanFrame = { id: frame.id, extended: frame.extended, remote: frame.remote, data: new Uint8Array(frame.data) };
    queueMicrotask(() => {
      for (const node of this.nodes.slice()) {
        if (node !== from && node.attached) node.onFrame(copy);
      }
    });
  }
}
