/**
 * The GraphQL documents the dashboard sends, all of them (test/api/schema-printed.test.ts
 * validates each against schema.graphql). Each operation is named: `npm run codegen` types
 * its variables and result as <Name>Query / <Name>Mutation / <Name>Subscription in
 * generated/graphql.ts (test/web/codegen.test.ts fails when that file is stale).
 */

import { deviceFragments } from './devices/registry.js';

const SETPOINT = 'setpoint { voltageV currentA origin standby at }';

/** Every device's common fields, and each known type's own (web-client/src/devices/registry.ts). */
export const DEVICE_FIELDS = `__typename id kind name busId online lastSeen
  ${deviceFragments}`;

export const OVERVIEW = `query Overview {
  system { simulated startedAt version }
  devices { ${DEVICE_FIELDS} }
  buses { id kind linkNoun linkState linkDetail limits { minVoltageV maxVoltageV minCurrentA maxCurrentA powerRatingW ovpV } ${SETPOINT} }
}`;

export const BUSES = `query Buses { buses { id kind linkNoun linkState linkDetail limits { minVoltageV maxVoltageV minCurrentA maxCurrentA powerRatingW ovpV } ${SETPOINT} } }`;

const CHARGER_FIELDS = `id name phase targetVoltageV chargeCurrentA progress deliveredAh deliveredWh socPct stopReason rampVoltageV
  session { id startedAt } psus { id } settings { capacityAh tailCurrentA } elapsedS ccToCvAt peakCurrentA bmsHold fallback { voltageV confirmed pendingPsuIds } batteryId bmsCaps { voltageLimitV currentLimitA reason }`;

export const CHARGERS = `query Chargers { chargers { ${CHARGER_FIELDS} } }`;

export const BATTERIES = `query Batteries { batteries { id name online socPct sohPct voltageV currentA tempC cellHighV cellLowV cellDeltaV
  chargeVoltageLimitV chargeCurrentLimitA dischargeCurrentLimitA dischargeVoltageV requestFlags alarms protections
  modules { index voltageV currentA socPct cellHighV cellLowV tempsC cycles chargedKWh dischargedKWh } } }`;

export const EVENT_FIELDS = 'id at type deviceId busId data';

export const EVENTS = `query Events($filter: EventFilter, $first: Int) { events(filter: $filter, first: $first) { edges { node { ${EVENT_FIELDS} } } } }`;

export const SUB_DEVICES = `subscription DeviceChanged { deviceChanged { ${DEVICE_FIELDS} } }`;
export const SUB_EVENTS = `subscription EventsLive { events { ${EVENT_FIELDS} } }`;
export const SUB_CHARGERS = `subscription ChargeProgress { chargeProgress { ${CHARGER_FIELDS} } }`;
export const SUB_TELEMETRY = `subscription TelemetryLive($id: ID) { telemetry(deviceId: $id) { deviceId at values } }`;

export const TELEMETRY = `query Telemetry($id: ID!, $from: DateTime, $maxPoints: Int) { telemetry(deviceId: $id, from: $from, maxPoints: $maxPoints) { nodes { deviceId at values } } }`;

export const SET_OUTPUT = `mutation SetOutput($input: SetPsuOutputInput!) { setPsuOutput(input: $input) { voltageV currentA clamped deviceIds sent message } }`;
export const STANDBY = `mutation Standby($id: ID!) { standby(deviceId: $id) { voltageV currentA deviceIds sent message } }`;
export const START_CHARGE = `mutation StartCharge($id: ID!, $currentA: Float) { startCharge(chargerId: $id, currentA: $currentA) { ${CHARGER_FIELDS} } }`;
export const APPLY_VEBUS_MODE = `mutation ApplyVebusMode($id: ID!, $mode: String!) { applyVebusMode(deviceId: $id, mode: $mode) { command sent message readBack } }`;
export const STOP_CHARGE = `mutation StopCharge($id: ID!) { stopCharge(chargerId: $id) { ${CHARGER_FIELDS} } }`;

export const SESSIONS = `query Sessions($first: Int) { chargeSessions(first: $first) { edges { node {
  id kind chargerId startedAt endedAt outcome reason deliveredAh deliveredWh energyKWh peakCurrentA avgCurrentA faults targetVoltageV ccToCvAt } } } }`;

export const SESSION = `query Session($id: ID!, $maxPoints: Int) { chargeSession(id: $id) { id ccToCvAt phases { phase startedAt endedAt }
  samples(maxPoints: $maxPoints) { at voltageV currentA powerW ah wh socPct } } }`;

// ---- scheduled jobs (pages/schedule.ts) ----

const JOB_FIELDS = `id name cron at timezone enabled catchUp maxLatenessS conditions actions source readOnly nextRunAt running
  lastRun { id outcome code reason startedAt }`;
const JOB_RUN_FIELDS = `id jobId scheduledAt startedAt finishedAt trigger outcome code reason steps { action outcome code message } eventIds`;

export const JOBS = `query Jobs { jobs { ${JOB_FIELDS} } }`;

export const JOB_RUNS = `query JobRuns($jobId: ID, $first: Int) { jobRuns(jobId: $jobId, first: $first) { nodes { ${JOB_RUN_FIELDS} } } }`;

export const VALIDATE_JOB = `query ValidateJob($input: JobInput!) { validateJob(input: $input, count: 5) { ok issues { path message } nextRuns } }`;

export const CREATE_JOB = `mutation CreateJob($input: JobInput!) { createJob(input: $input) { ${JOB_FIELDS} } }`;

export const UPDATE_JOB = `mutation UpdateJob($id: ID!, $input: JobInput!) { updateJob(id: $id, input: $input) { ${JOB_FIELDS} } }`;

export const DELETE_JOB = `mutation DeleteJob($id: ID!) { deleteJob(id: $id) { id } }`;

export const SET_JOB_ENABLED = `mutation SetJobEnabled($id: ID!, $enabled: Boolean!) { setJobEnabled(id: $id, enabled: $enabled) { ${JOB_FIELDS} } }`;

export const RUN_JOB_NOW = `mutation RunJobNow($id: ID!) { runJobNow(id: $id) { ${JOB_RUN_FIELDS} } }`;

export const JOB_RUNS_LIVE = `subscription JobRunsLive { jobRuns { ${JOB_RUN_FIELDS} } }`;

export const SET_EVSE_CURRENT = `mutation SetEvseCurrent($id: ID!, $currentA: Int!) { setEvseCurrent(deviceId: $id, currentA: $currentA) { sent message device { ... on EvCharger { configuredA capacityA } } } }`;

// PI18 inverters: the profile page (pages/inverters.ts).
export const INVERTERS = `query Inverters { inverters { id name online serial role parallelIndex mode faultText
  settings { batteryType cutoffVoltageV stopDischargeVoltageV stopChargeVoltageV bulkVoltageV floatVoltageV maxChargingCurrentA maxUtilityChargingCurrentA outputSourcePriority chargerPriority solarPowerPriority } } }`;
export const INVERTER_PROFILES = `query InverterProfiles { inverterProfiles { name yaml savedBy savedAt } }`;
export const INVERTER_AUDITS = `query InverterAudits($deviceId: ID, $limit: Int) { inverterAudits(deviceId: $deviceId, limit: $limit) {
  id at action result operator deviceId serial profileName planId code message abortedAtStep rollbackHeld frames { phase index command frameHex replyHex outcome } } }`;
export const DUMP_PROFILE = `mutation DumpProfile($deviceId: ID!) { dumpProfile(deviceId: $deviceId) { serial yaml skipped { key reason } } }`;
export const SAVE_PROFILE = `mutation SaveProfile($name: String!, $yaml: String!) { saveProfile(name: $name, yaml: $yaml) { name savedBy savedAt } }`;
export const PLAN_PROFILE = `mutation PlanProfile($deviceId: ID!, $profile: ProfileInput!) { planProfile(deviceId: $deviceId, profile: $profile) {
  id deviceId serial unit profileName diff { keys from to } steps { index keys from to command frameText frameHex expect } } }`;
export const APPLY_PROFILE = `mutation ApplyProfile($planId: ID!) { applyProfile(planId: $planId, confirm: true) {
  id result code message abortedAtStep rollbackHeld frames { phase index command frameHex replyHex outcome } } }`;
export const COMPARE_INVERTERS = `mutation CompareInverters($a: ID!, $b: ID!) { compareInverters(a: $a, b: $b) { a b equal differ { key a b } onlyA onlyB metadata { what a b } } }`;
export const SYNC_CHECK = `mutation SyncCheck($a: ID!, $b: ID!) { syncCheck(a: $a, b: $b) { ok inconclusive findings { rule severity message } } }`;
export const SUB_APPLY_PROGRESS = `subscription ApplyProgressLive($planId: ID!) { applyProgress(planId: $planId) { phase index total command outcome message result } }`;

export const ENERGY = `query Energy($days: Int, $tz: Int) { energy(days: $days, tzOffsetMinutes: $tz) { day deviceId kind what wh whReverse reverseWhat } }`;

// The site's forwarding to its fleet (fleet.ts): null when fleet: is not configured.
export const FLEET = `query Fleet { fleet { siteId connected backlog events samples sessions ageMs offlineSince lastError } }`;
