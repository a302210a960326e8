/**
 * The generic link seams every device family builds on (issue 10, DESIGN.md "Device families").
 *
 *   Transport (bytes)  →  Framer<F> (bytes ⇄ frames)  →  Link<F> (frames, state, reconnect)
 *                                                        →  RequestQueue<F> (one exchange at a time)
 *
 * A transport moves bytes (src/link/transports/types.ts). A framer is pure and owns the
 * protocol's byte framing and resync. A link owns one connection's life (open, backoff,
 * reconnect) and hands frames both ways. A request queue (request-queue.ts) turns frames into
 * request/reply exchanges for the request/reply families (PI18, VE.Bus MK2, OpenEVSE RAPI).
 */

/**
 * Bytes ⇄ frames for one protocol. Pure apart from its own buffer: no I/O, no clock.
 * `push` never throws on bad bytes: it drops what cannot be a frame, resynchronises on the
 * next plausible start and counts the dropped bytes in `corruptBytes`. A partial frame at
 * the end of a chunk waits for the next chunk.
 */
export interface Framer<F> {
  /** Decodes what `chunk` completes; returns the whole frames, oldest first (maybe none). */
  push(chunk: Uint8Array): F[];
  /** Forgets a partial frame (on reconnect: the new connection starts clean). Keeps counters. */
  reset(): void;
  /** Bytes discarded so far while resynchronising or in frames that failed their check. */
  readonly corruptBytes: number;
  /**
   * The bytes for one outgoing frame. May throw for a frame the caller should never have built
   * (a programming error, not line noise); a link turns that into a WRITE_FAILED result.
   */
  encode(frame: F): Uint8Array;
}

/** The same three states as today's CanAdapterLink (src/families/can/adapter.ts). */
export type LinkState = 'connecting' | 'up' | 'down';

/** Why a frame did not go out. */
export type SendFailureCode = 'LINK_DOWN' | 'WRITE_FAILED';

/**
 * The outcome of `Link.send`, as a value: callers branch on `code`, never catch.
 * LINK_DOWN: the link was not up, nothing was written. WRITE_FAILED: the transport refused
 * the write (or the frame could not be encoded); some bytes may have reached the wire.
 */
export type SendResult = { ok: true } | { ok: false; code: SendFailureCode; message: string };

/** Listener for received or transmitted frames; `ts` is the link clock's time in ms. */
export type FrameListener<F> = (frame: F, ts: number) => void;
export type StateListener = (state: LinkState, detail: string) => void;

/**
 * One supervised connection carrying frames of type F. Listeners return an unsubscribe
 * function. Starting and stopping belong to whoever creates the link. `SupervisedLink`
 * (supervisor.ts) implements it on any transport and framer; CanAdapterLink is one with the
 * Waveshare framer and handshake (it also calls its id `busId`).
 */
export interface Link<F> {
  /** Config id of the link, used in every log line and frame record. */
  readonly id: string;
  readonly state: LinkState;
  /** Encodes and writes one frame. Never rejects: failures are the result value. */
  send(frame: F): Promise<SendResult>;
  /** Every frame received, in wire order. */
  onFrame(listener: FrameListener<F>): () => void;
  /** Every frame written successfully (for the frame log and `expectTx` test helpers). */
  onTx(listener: FrameListener<F>): () => void;
  /** State changes with a human-readable detail ("opening (attempt 3)", "write failed: …"). */
  onState(listener: StateListener): () => void;
  /** Closes and reopens now, e.g. when a driver's watchdog hears nothing. */
  reconnect(reason: string): void;
}
