/**
 * Shapes of what the dashboard reads from the GraphQL API (times are ISO-8601 strings): each is
 * the result type of the document that reads it, generated from schema.graphql and queries.ts
 * (`npm run codegen`, generated/graphql.ts), under the names the dashboard uses.
 */
import type * as G from './generated/graphql.js';

/** Keys of any member of a union of object types. */
type AllKeys<U> = U extends unknown ? keyof U : never;
/** One object type for a union: the keys every member has as they are, the others optional. */
type Merged<U> = { [K in keyof U]: U[K] } & { [K in Exclude<AllKeys<U>, keyof U>]?: U extends { [P in K]: infer V } ? V : never };

/** A device of any kind (`__typename` tells which); the Flatpack2Psu fields are absent on others. */
export type Device = Merged<G.OverviewQuery['devices'][number]>;

export type Bus = G.OverviewQuery['buses'][number];
export type Setpoint = NonNullable<Bus['setpoint']>;
export type PsuLimits = NonNullable<Bus['limits']>;
export type SystemInfo = G.OverviewQuery['system'];

export type Charger = G.ChargersQuery['chargers'][number];
/**
 * The phases the dashboard knows (the schema types `phase` as a String; its description lists
 * these). Not a copy of a schema type: the dashboard's own vocabulary for labels and steps.
 */
export type ChargerPhase = 'idle' | 'detect' | 'ramp' | 'CC' | 'CV' | 'paused' | 'done' | 'error';

export type Battery = G.BatteriesQuery['batteries'][number];
export type BatteryModule = Battery['modules'][number];

export type EventRecord = G.EventsQuery['events']['edges'][number]['node'];

export type ChargeSessionSummary = G.SessionsQuery['chargeSessions']['edges'][number]['node'];
export type ChargeSessionDetail = NonNullable<G.SessionQuery['chargeSession']>;

export type TelemetryPoint = G.TelemetryQuery['telemetry']['nodes'][number];

/** A list the dashboard loads from the server. */
export type Loaded<T> = { status: 'loading' } | { status: 'error'; message: string } | { status: 'ok'; items: T[] };

/** A part of the API that may not exist on this server yet (battery). */
export type Feature<T> = Loaded<T> | { status: 'unsupported'; message: string };

export type InverterSummary = G.InvertersQuery['inverters'][number];
export type SavedInverterProfile = G.InverterProfilesQuery['inverterProfiles'][number];
export type InverterAudit = G.InverterAuditsQuery['inverterAudits'][number];
export type ProfilePlan = G.PlanProfileMutation['planProfile'];
export type ApplyProgressMsg = G.ApplyProgressLiveSubscription['applyProgress'];
export type CompareOut = G.CompareInvertersMutation['compareInverters'];
export type SyncOut = G.SyncCheckMutation['syncCheck'];
