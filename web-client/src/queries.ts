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
  buses { id kind linkState linkDetail limits { minVoltageV maxVoltageV minCurrentA maxCurrentA powerRatingW ovpV } ${SETPOINT} }
}`;

export const BUSES = `query Buses { buses { id kind linkState linkDetail limits { minVoltageV maxVoltageV minCurrentA maxCurrentA powerRatingW ovpV } ${SETPOINT} } }`;

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
export const STOP_CHARGE = `mutation StopCharge($id: ID!) { stopCharge(chargerId: $id) { ${CHARGER_FIELDS} } }`;

export const SESSIONS = `query Sessions($first: Int) { chargeSessions(first: $first) { edges { node {
  id chargerId startedAt endedAt outcome reason deliveredAh deliveredWh peakCurrentA targetVoltageV ccToCvAt } } } }`;

export const SESSION = `query Session($id: ID!, $maxPoints: Int) { chargeSession(id: $id) { id ccToCvAt phases { phase startedAt endedAt }
  samples(maxPoints: $maxPoints) { at voltageV currentA ah wh socPct } } }`;

export const ENERGY = `query Energy($days: Int, $tz: Int) { energy(days: $days, tzOffsetMinutes: $tz) { day deviceId kind what wh whReverse } }`;
