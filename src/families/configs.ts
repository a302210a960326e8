/**
 * Each family's config entry, by kind (eager and light: schemas only, no driver). The lazy
 * registry (registry.ts) loads the drivers; both list the same kinds in the same order, and a
 * test keeps them in step.
 */
import { flatpack2Config } from './flatpack2/config.js';
import { bmsConfig } from './bms/config.js';

export const familyConfigs = {
  flatpack2: flatpack2Config,
  bms: bmsConfig,
} as const;

export type FamilyKind = keyof typeof familyConfigs;
export const familyKinds = Object.keys(familyConfigs) as FamilyKind[];
