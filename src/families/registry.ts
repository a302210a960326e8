/**
 * The device families, one line each: the family's config entry (its link section's schema and
 * what a charger may find in it; eager and light), its driver (loaded on first use, so a rig
 * whose config names no family with a heavy dependency, e.g. node-hid for a USB-HID inverter,
 * never loads it) and its GraphQL types (loaded with the schema, for every config). Adding a
 * family is its folder plus one line here and one in the web client's device registry.
 */
import type { PowerplaneConfig } from '../config/schema.js';
import type { DeviceFamily } from './types.js';
import type { FamilyConfigEntry } from './config-types.js';
import type { EnergySource } from '../store/energy.js';
import { flatpack2Config } from './flatpack2/config.js';
import { bmsConfig } from './bms/config.js';
import { openEvseConfig } from './openevse/config.js';
import { pi18Config } from './pi18/config.js';
import { vebusConfig } from './vebus/config.js';

export const registry = {
  flatpack2: { config: flatpack2Config, load: () => import('./flatpack2/family.js'), graphql: () => import('./flatpack2/schema.js') },
  bms: { config: bmsConfig, load: () => import('./bms/family.js'), graphql: () => import('./bms/schema.js') },
  openevse: { config: openEvseConfig, load: () => import('./openevse/family.js'), graphql: () => import('./openevse/schema.js') },
  pi18: { config: pi18Config, load: () => import('./pi18/family.js'), graphql: () => import('./pi18/schema.js') },
  vebus: { config: vebusConfig, load: () => import('./vebus/family.js'), graphql: () => import('./vebus/schema.js') },
} as const;

export type FamilyKind = keyof typeof registry;
/** Registry order: the order the config lists allowed sections in, and families load in. */
export const familyKinds = Object.keys(registry) as FamilyKind[];

/** Each family's config entry, by kind. */
export const familyConfigs = Object.fromEntries(familyKinds.map((k) => [k, registry[k].config])) as { [K in FamilyKind]: (typeof registry)[K]['config'] };

/** Each family's energy source (which reading is power), by kind, for energy by day. */
export const energySources: Record<string, EnergySource> = Object.fromEntries(
  familyKinds.flatMap((k) => {
    const e = (registry[k].config as FamilyConfigEntry<unknown>).energy;
    return e ? [[k, e]] : [];
  }),
);

/** The family module of `K`, as a type only (no load). */
export type FamilyOf<K extends FamilyKind> = Awaited<ReturnType<(typeof registry)[K]['load']>>['family'];
/** The simulator type of family `K`. */
export type SimOf<K extends FamilyKind> = ReturnType<FamilyOf<K>['createSim']>;

/** Loaded families, in registry order. */
export type LoadedFamilies = ReadonlyMap<FamilyKind, DeviceFamily>;

/** The kinds a config uses (a link's family section is keyed by the family's kind). */
export function kindsIn(config: PowerplaneConfig): FamilyKind[] {
  return familyKinds.filter((k) => config.links.some((l) => (l as Record<string, unknown>)[k] !== undefined));
}

/** Loads `kinds` (default: every registered family), keeping registry order. */
export async function loadFamilies(kinds: Iterable<FamilyKind> = familyKinds): Promise<LoadedFamilies> {
  const wanted = new Set(kinds);
  const out = new Map<FamilyKind, DeviceFamily>();
  for (const k of familyKinds) {
    if (!wanted.has(k)) continue;
    const mod = await registry[k].load();
    const family = mod.family as unknown as DeviceFamily;
    if (family.kind !== k) throw new Error(`family module for "${k}" declares kind "${family.kind}"`);
    out.set(k, family);
  }
  return out;
}

/** Registers every family's GraphQL types with the schema builder (called once, before the schema is built). */
export async function loadFamilyGraphql(): Promise<void> {
  for (const k of familyKinds) await registry[k].graphql();
}

export type { FamilyConfigEntry };
