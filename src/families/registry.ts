/**
 * The device families, by kind, each loaded on first use: a rig whose config names no family
 * with a heavy dependency (node-hid for a USB-HID inverter) never loads it. Adding a family is
 * one line here plus its folder. The order is the order the rig builds a bus's families in.
 */
import { familyOf, type PowerplaneConfig } from '../config/schema.js';
import type { DeviceFamily } from './types.js';

export const familyLoaders = {
  flatpack2: () => import('./flatpack2/family.js'),
  bms: () => import('./bms/family.js'),
} as const;

export type FamilyKind = keyof typeof familyLoaders;
export const familyKinds = Object.keys(familyLoaders) as FamilyKind[];
/** The eager config entries (configs.ts) list the same kinds, in the same order (registry.test.ts). */
export { familyKinds as configuredKinds } from './configs.js';

/** The family module of `K`, as a type only (no load). */
export type FamilyOf<K extends FamilyKind> = Awaited<ReturnType<(typeof familyLoaders)[K]>>['family'];
/** The simulator type of family `K`. */
export type SimOf<K extends FamilyKind> = ReturnType<FamilyOf<K>['createSim']>;

/** Loaded families, in registry order. */
export type LoadedFamilies = ReadonlyMap<FamilyKind, DeviceFamily>;

/** The kinds a config uses: a bus's section for a family is keyed by the family's kind. */
export function kindsIn(config: PowerplaneConfig): FamilyKind[] {
  const used = new Set(config.links.map((l) => familyOf(l).kind));
  return familyKinds.filter((k) => used.has(k));
}

/** Loads `kinds` (default: every registered family), keeping registry order. */
export async function loadFamilies(kinds: Iterable<FamilyKind> = familyKinds): Promise<LoadedFamilies> {
  const wanted = new Set(kinds);
  const out = new Map<FamilyKind, DeviceFamily>();
  for (const k of familyKinds) {
    if (!wanted.has(k)) continue;
    const mod = await familyLoaders[k]();
    const family = mod.family as unknown as DeviceFamily;
    if (family.kind !== k) throw new Error(`family module for "${k}" declares kind "${family.kind}"`);
    out.set(k, family);
  }
  return out;
}
