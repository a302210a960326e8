/**
 * The browser perimeter and per-client pacing: which web origins may call the API, and a
 * token bucket per client address.
 */
import type { IncomingHttpHeaders } from 'node:http';

/**
 * True when a request with this Origin may be served: no Origin (not a browser page —
 * tokens decide), the server's own origin (same Host), or one in the allow-list.
 */
export function originAllowed(origin: string | null | undefined, host: string | null | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || origin === null) return true;
  if (allowed.includes(origin)) return true;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frame, file://) or garbage
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && !!host && u.host === host.toLowerCase();
}

export function crossOriginMessage(origin: string): string {
  return `requests from the web page at ${origin} are refused: only this server's own pages may call it; add the origin to server.allowedOrigins if it is yours`;
}

/** Token bucket per key (client address): `burst` requests at once, `perSecond` sustained. Wall time. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  take(key: string): boolean {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= 10_000) this.sweep(t);
      b = { tokens: this.burst, at: t };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops buckets that have refilled (they hold no state worth keeping). */
  private sweep(t: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((t - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(k);
  }
}

export function clientKey(remoteAddress: string | undefined, _headers?: IncomingHttpHeaders): string {
  return remoteAddress ?? 'unknown';
}
