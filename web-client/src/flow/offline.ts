/** Why a device is offline, in words, from what the dashboard already knows: its link, then its last offline event. */
import type { Device } from '../types.js';
import type { FlowContext } from '../devices/types.js';
import { age, clock } from './words.js';

/** The reason the server gave for a device being offline (its bus link detail, else its last device.offline event), or null. */
export function offlineReason(d: Device, ctx: Pick<FlowContext, 'buses' | 'events'>): string | null {
  if (d.online) return null;
  const bus = ctx.buses.find((b) => b.id === d.busId);
  if (bus && bus.linkState !== 'up') return bus.linkDetail ? `link ${bus.linkState}: ${bus.linkDetail}` : `link ${bus.linkState}`;
  const ev = ctx.events.find((e) => e.deviceId === d.id && (e.type === 'device.offline' || e.type === 'device.online'));
  if (ev?.type === 'device.offline') {
    const r = (ev.data as Record<string, unknown> | null)?.reason;
    if (typeof r === 'string' && r) return r;
  }
  return 'no reply from it';
}

/** Ends a reason as a sentence, without doubling its own final punctuation. */
export function sentenceEnd(text: string): string {
  return /[.?!]$/.test(text) ? text : `${text}.`;
}

/** "Rectifier B offline since 14:02 (12 min ago): link down: adapter unplugged." */
export function offlineSentence(d: Device, ctx: Pick<FlowContext, 'buses' | 'events' | 'now'>): string {
  const since = d.lastSeen ? Date.parse(d.lastSeen) : null;
  const when = since != null && Number.isFinite(since) ? ` since ${clock(since)} (${age(ctx.now - since)})` : '';
  return `${d.name} offline${when}: ${sentenceEnd(offlineReason(d, ctx) ?? '')}`;
}
