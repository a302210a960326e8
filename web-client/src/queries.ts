/** The GraphQL documents the dashboard sends. Charger and battery ones are separate so that a server without them still serves the rest. */

const SETPOINT = 'setpoint { voltageV currentA origin standby at }';

export const DEVICE_FIELDS = `__typename id kind name busId online lastSeen
  ... on Flatpack2Psu { serial address outputVoltageV outputCurrentA outputPowerW inputVoltageV intakeTempC outputTempC state warnings alarms ownedBy fallbackVoltageV lastReading { at outputVoltageV outputCurrentA } ${SETPOINT} }`;

export const OVERVIEW = `{
  system { simulated startedAt version }
  devices { ${DEVICE_FIELDS} }
  buses { id kind linkState linkDetail limits { minVoltageV maxVoltageV minCurrentA maxCurrentA powerRatingW ovpV } ${SETPOINT} }
}`;

export const BUSES = `{ buses { id kind linkState linkDetail limits { minVoltageV maxVoltageV minCurrentA maxCurrentA powerRatingW ovpV } ${SETPOINT} } }`;

const CHARGER_CORE = 'id name phase targetVoltageV chargeCurrentA progress deliveredAh deliveredWh socPct stopReason rampVoltageV session { id startedAt } psus { id } fallback { voltageV confirmed pendingPsuIds }';
const CHARGER_BMS = 'batteryId bmsCaps { voltageLimitV currentLimitA reason }';

/**
 * Charger selections, richest first. A server without the BMS link still has chargers: the
 * store falls back to the next selection and remembers the one that worked.
 */
export const CHARGER_SELECTIONS = [`${CHARGER_CORE} ${CHARGER_BMS}`, CHARGER_CORE] as const;
export const charger = { fields: CHARGER_SELECTIONS[0] as string };

export const chargersQuery = (fields = charger.fields) => `{ chargers { ${fields} } }`;
export const CHARGERS = chargersQuery(CHARGER_SELECTIONS[0]);

export const BATTERIES = `{ batteries { id name online socPct sohPct voltageV currentA tempC cellHighV cellLowV cellDeltaV
  chargeVoltageLimitV chargeCurrentLimitA dischargeCurrentLimitA dischargeVoltageV requestFlags alarms protections
  modules { index voltageV currentA socPct cellHighV cellLowV tempsC cycles chargedKWh dischargedKWh } } }`;

export const EVENT_FIELDS = 'id at type deviceId busId data';

export const EVENTS = `query($filter: EventFilter, $first: Int) { events(filter: $filter, first: $first) { edges { node { ${EVENT_FIELDS} } } } }`;

export const SUB_DEVICES = `subscription { deviceChanged { ${DEVICE_FIELDS} } }`;
export const SUB_EVENTS = `subscription { events { ${EVENT_FIELDS} } }`;
export const subChargers = () => `subscription { chargeProgress { ${charger.fields} } }`;
export const SUB_TELEMETRY = `subscription($id: ID) { telemetry(deviceId: $id) { deviceId at values } }`;

export const TELEMETRY = `query($id: ID!, $from: DateTime, $maxPoints: Int) { telemetry(deviceId: $id, from: $from, maxPoints: $maxPoints) { nodes { deviceId at values } } }`;

export const SET_OUTPUT = `mutation($input: SetPsuOutputInput!) { setPsuOutput(input: $input) { voltageV currentA clamped deviceIds sent message } }`;
export const STANDBY = `mutation($id: ID!) { standby(deviceId: $id) { voltageV currentA deviceIds sent message } }`;
export const startCharge = () => `mutation($id: ID!, $currentA: Float) { startCharge(chargerId: $id, currentA: $currentA) { ${charger.fields} } }`;
export const stopCharge = () => `mutation($id: ID!) { stopCharge(chargerId: $id) { ${charger.fields} } }`;

export const SESSIONS = `query($first: Int) { chargeSessions(first: $first) { edges { node {
  id chargerId startedAt endedAt outcome reason deliveredAh deliveredWh peakCurrentA targetVoltageV ccToCvAt } } } }`;

export const SESSION = `query($id: ID!, $maxPoints: Int) { chargeSession(id: $id) { id ccToCvAt phases { phase startedAt endedAt }
  samples(maxPoints: $maxPoints) { at voltageV currentA ah wh socPct } } }`;
