/**
 * MQTT bridge for Home Assistant and the tools that speak MQTT (evcc, Node-RED, Venus OS…).
 *
 * Topics, under one root (`mqtt.rootTopic`, default "powerplane"):
 *   <root>/status                       "online" / "offline" (retained; "offline" is the last will)
 *   <root>/<device>/available           "online" / "offline" per device (retained)
 *   <root>/<device>/<reading>           every value of the device's samples (retained), e.g.
 *                                       powerplane/fp2-192750001639/outputVoltageV
 *   <root>/<bus>/setpoint_voltage_v …   a DC output bus's setpoint (retained)
 *   <root>/<charger>/phase, charging …  a charger's state (retained)
 *   <root>/<id>/<control>/set           commands (never retained; a retained one is refused and cleared):
 *                                       <charger>/charge/set ON|OFF|start [A]|stop,
 *                                       <bus or PSU>/standby/set (any payload),
 *                                       <bus>/output_voltage/set V, <bus>/output_current/set A,
 *                                       and a family's controls (src/mqtt/controls.ts), e.g.
 *                                       <multiplus>/mode/set <mode>, <evse>/charging_current/set A,
 *                                       <evse>/enabled/set ON|OFF (state at <device>/<control>)
 *   <root>/result                       the outcome of each command (not retained), as JSON
 *
 * Home Assistant discovery configs (retained) under `<discoveryPrefix>/<component>/<node>/<object>/config`:
 * sensors with device_class and unit from the reading's name (…V voltage, …A current, …W power,
 * …Wh energy, …TempC/…C temperature, socPct battery), a switch per charger, a standby button
 * and voltage/current numbers per DC output bus (their range from the bus's limits); a family's
 * controls only for a device of that family (a VE.Bus mode select, an EVSE current number with
 * the range the gate allows and an enable switch). A family control's command is the family's
 * named command (as a job's `device-command`) through `engine.command` and the family's gate.
 *
 * Commands run with the operator role (as the `mqtt` actor in the event log) and go through
 * the same engine calls, and so the same command gate, as the GraphQL mutations. Nothing here
 * throws into the engine: publishing is fire-and-forget and errors are logged.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Engine, SampleEvent } from '../engine/engine.js';
import type { Logger } from '../log.js';
import type { DeviceViewBase } from '../families/types.js';
import type { ChargerView } from '../engine/charger/runtime.js';
import { runAsActor } from '../engine/actor.js';
import type { MqttConfig } from './config.js';
import type { Code } from '../codes.js';
import { mqttControlsOf } from './controls.js';
import { runDeviceCommand } from '../engine/scheduler/actions.js';

export interface MqttBridge {
  readonly client: MqttClient;
  /** Publishes "offline" and disconnects. */
  stop(): Promise<void>;
}

interface Unit {
  unit?: string;
  device_class?: string;
  state_class?: string;
}

/** Home Assistant sensor metadata from a reading's name (the names carry their unit). */
export function sensorMeta(key: string): Unit {
  if (/soc(Pct)?$/i.test(key)) return { unit: '%', device_class: 'battery', state_class: 'measurement' };
  if (/Pct$/.test(key)) return { unit: '%', state_class: 'measurement' };
  if (/Wh$/.test(key)) return { unit: 'Wh', device_class: 'energy', state_class: 'total_increasing' };
  if (/Ah$/.test(key)) return { unit: 'Ah', state_class: 'total_increasing' };
  if (/(Temp)?C$/.test(key) && /temp/i.test(key)) return { unit: '°C', device_class: 'temperature', state_class: 'measurement' };
  if (/V$/.test(key)) return { unit: 'V', device_class: 'voltage', state_class: 'measurement' };
  if (/A$/.test(key)) return { unit: 'A', device_class: 'current', state_class: 'measurement' };
  if (/W$/.test(key)) return { unit: 'W', device_class: 'power', state_class: 'measurement' };
  if (/Hz$/.test(key)) return { unit: 'Hz', device_class: 'frequency', state_class: 'measurement' };
  if (/S$/.test(key)) return { unit: 's', device_class: 'duration', state_class: 'measurement' };
  return { state_class: 'measurement' };
}

const humanize = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());
const safeId = (s: string) => s.replace(/[^a-zA-Z0-9_-]/g, '_');

export function startMqttBridge(opts: { engine: Engine; log: Logger; config: MqttConfig; version?: string }): MqttBridge {
  const { engine, log, config } = opts;
  const root = config.rootTopic;
  const statusTopic = `${root}/status`;
  const resultTopic = `${root}/result`;
  const options: IClientOptions = {
    clientId: config.clientId ?? `powerplane-${Math.random().toString(16).slice(2, 10)}`,
    username: config.username,
    password: config.password,
    // MQTT 5: "retain as published" lets the bridge see that a command was sent retained.
    protocolVersion: 5,
    reconnectPeriod: 5000,
    connectTimeout: 10_000,
    will: { topic: statusTopic, payload: Buffer.from('offline'), retain: true, qos: 1 },
  };
  const client = connect(config.url, options);
  const lastValue = new Map<string, string>();
  const announced = new Set<string>();
  let connectedOnce = false;

  const publish = (topic: string, payload: string, retain = true) => {
    if (retain && lastValue.get(topic) === payload) return;
    if (retain) lastValue.set(topic, payload);
    client.publish(topic, payload, { retain, qos: retain ? 1 : 0 }, (err) => {
      if (err) log.debug({ topic, err: String(err) }, `mqtt: publish to ${topic} failed (${err.message})`);
    });
  };
  const guard = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      log.warn({ err: String(e) }, `mqtt: ${what} skipped (${String(e)})`);
    }
  };

  // ---- Home Assistant discovery ----
  const haDevice = (id: string, name: string, model: string) => ({
    identifiers: [`powerplane_${safeId(id)}`],
    name,
    manufacturer: 'powerplane',
    model,
    ...(opts.version ? { sw_version: opts.version } : {}),
  });
  const availability = (deviceTopic?: string) => ({
    availability: [{ topic: statusTopic }, ...(deviceTopic ? [{ topic: deviceTopic }] : [])],
    availability_mode: 'all',
  });
  const discover = (component: string, node: string, object: string, payload: Record<string, unknown>) => {
    if (!config.discovery) return;
    const topic = `${config.discoveryPrefix}/${component}/${safeId(`powerplane_${node}`)}/${safeId(object)}/config`;
    if (announced.has(topic)) return;
    announced.add(topic);
    publish(topic, JSON.stringify(payload));
  };

  const deviceOf = (d: DeviceViewBase) => haDevice(d.id, d.name, d.kind);
  const announceReading = (d: DeviceViewBase, key: string, numeric: boolean) => {
    const m = numeric ? sensorMeta(key) : {};
    discover('sensor', d.id, key, {
      name: humanize(key),
      unique_id: `powerplane_${safeId(d.id)}_${safeId(key)}`,
      object_id: `${safeId(d.id)}_${safeId(key)}`,
      state_topic: `${root}/${d.id}/${key}`,
      ...(m.unit ? { unit_of_measurement: m.unit } : {}),
      ...(m.device_class ? { device_class: m.device_class } : {}),
      ...(m.state_class ? { state_class: m.state_class } : {}),
      ...availability(`${root}/${d.id}/available`),
      device: deviceOf(d),
    });
  };

  const onSample = (s: SampleEvent) =>
    guard('a sample', () => {
      const d = engine.device(s.deviceId);
      if (!d) return;
      for (const [k, v] of Object.entries(s.values)) {
        if (v === null) continue;
        announceReading(d, k, typeof v === 'number');
        publish(`${root}/${d.id}/${k}`, String(v));
      }
    });
  const onDevice = (d: DeviceViewBase) =>
    guard('a device change', () => {
      publish(`${root}/${d.id}/available`, d.online ? 'online' : 'offline');
      publishBus(d.busId);
      publishControls(d);
    });

  // ---- a family's controls (src/mqtt/controls.ts): VE.Bus mode select, EVSE current number and enable switch ----
  const publishControls = (d: DeviceViewBase) => {
    for (const c of mqttControlsOf(d)) {
      const stateTopic = `${root}/${d.id}/${c.object}`;
      // Not `discover`: a control's config follows the device (an EVSE's range is read after it is first seen).
      if (config.discovery) {
        publish(
          `${config.discoveryPrefix}/${c.component}/${safeId(`powerplane_${d.id}`)}/${safeId(c.object)}/config`,
          JSON.stringify({
            ...c.config,
            unique_id: `powerplane_${safeId(d.id)}_${safeId(c.object)}`,
            object_id: `${safeId(d.id)}_${safeId(c.object)}`,
            command_topic: `${stateTopic}/set`,
            ...(c.state !== undefined ? { state_topic: stateTopic } : {}),
            ...availability(`${root}/${d.id}/available`),
            device: deviceOf(d),
          }),
        );
      }
      if (typeof c.state === 'string') publish(stateTopic, c.state);
    }
  };

  // ---- DC output buses: setpoint state, standby button, voltage/current numbers ----
  const unitOnBus = (busId: string) => engine.listDevices().find((d) => d.busId === busId && engine.unit(d.id));
  const publishBus = (busId: string) => {
    const limits = engine.dc.limits(busId);
    if (!limits) return;
    const sp = engine.busSetpoint(busId);
    if (sp) {
      publish(`${root}/${busId}/setpoint_voltage_v`, String(sp.voltageV));
      publish(`${root}/${busId}/setpoint_current_a`, String(sp.currentA));
      publish(`${root}/${busId}/standby`, sp.standby ? 'ON' : 'OFF');
    }
    const dev = haDevice(busId, `${busId} DC output`, 'DC output bus');
    const avail = availability();
    discover('button', busId, 'standby', { name: 'Standby', unique_id: `powerplane_${safeId(busId)}_standby`, command_topic: `${root}/${busId}/standby/set`, payload_press: 'PRESS', icon: 'mdi:power-sleep', ...avail, device: dev });
    discover('binary_sensor', busId, 'standby_state', { name: 'In standby', unique_id: `powerplane_${safeId(busId)}_standby_state`, state_topic: `${root}/${busId}/standby`, ...avail, device: dev });
    discover('number', busId, 'output_voltage', {
      name: 'Output voltage',
      unique_id: `powerplane_${safeId(busId)}_output_voltage`,
      command_topic: `${root}/${busId}/output_voltage/set`,
      state_topic: `${root}/${busId}/setpoint_voltage_v`,
      min: limits.minVoltageV,
      max: limits.maxVoltageV,
      step: 0.1,
      mode: 'box',
      unit_of_measurement: 'V',
      device_class: 'voltage',
      ...avail,
      device: dev,
    });
    discover('number', busId, 'output_current', {
      name: 'Output current',
      unique_id: `powerplane_${safeId(busId)}_output_current`,
      command_topic: `${root}/${busId}/output_current/set`,
      state_topic: `${root}/${busId}/setpoint_current_a`,
      min: limits.minCurrentA,
      max: limits.maxCurrentA,
      step: 0.1,
      mode: 'box',
      unit_of_measurement: 'A',
      device_class: 'current',
      ...avail,
      device: dev,
    });
  };

  // ---- chargers ----
  const CHARGER_VALUES = ['deliveredAh', 'deliveredWh', 'targetVoltageV', 'chargeCurrentA', 'socPct', 'progress'] as const;
  const onCharger = (c: ChargerView) =>
    guard('a charger change', () => {
      const active = !['idle', 'done', 'error'].includes(c.phase);
      publish(`${root}/${c.id}/phase`, c.phase);
      publish(`${root}/${c.id}/charging`, active ? 'ON' : 'OFF');
      publish(`${root}/${c.id}/stop_reason`, c.stopReason ?? '');
      const dev = haDevice(c.id, c.name, 'LiFePO4 charger');
      const avail = availability();
      discover('switch', c.id, 'charge', { name: 'Charge', unique_id: `powerplane_${safeId(c.id)}_charge`, command_topic: `${root}/${c.id}/charge/set`, state_topic: `${root}/${c.id}/charging`, payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:battery-charging', ...avail, device: dev });
      discover('sensor', c.id, 'phase', { name: 'Phase', unique_id: `powerplane_${safeId(c.id)}_phase`, state_topic: `${root}/${c.id}/phase`, ...avail, device: dev });
      for (const k of CHARGER_VALUES) {
        const v = (c as unknown as Record<string, unknown>)[k];
        if (typeof v !== 'number') continue;
        const m = k === 'progress' ? { unit: '%', state_class: 'measurement' } : sensorMeta(k);
        discover('sensor', c.id, k, { name: humanize(k), unique_id: `powerplane_${safeId(c.id)}_${k}`, state_topic: `${root}/${c.id}/${k}`, ...(m.unit ? { unit_of_measurement: m.unit } : {}), ...(m.device_class ? { device_class: m.device_class } : {}), ...(m.state_class ? { state_class: m.state_class } : {}), ...avail, device: dev });
        publish(`${root}/${c.id}/${k}`, String(v));
      }
    });

  // ---- commands ----
  type Outcome = { ok: true; message: string } | { ok: false; code: Code; message: string };
  const refuse = (code: Code, message: string): Outcome => ({ ok: false, code, message });
  const asOutcome = (r: { ok: true; message?: string } | { ok: false; code: Code; message: string }, done: string): Outcome => (r.ok ? { ok: true, message: r.message ?? done } : r);

  async function execute(id: string, control: string, payload: string): Promise<Outcome> {
    const p = payload.trim();
    const charger = engine.charger(id);
    if (control === 'charge') {
      if (!charger) return refuse('NOT_FOUND', `no charger "${id}"; the chargers are ${engine.listChargers().map((c) => c.id).join(', ') || 'none'}`);
      const [verb, amps] = p.split(/\s+/);
      if (/^(on|start)$/i.test(verb ?? '')) {
        const currentA = amps === undefined ? undefined : Number(amps);
        if (currentA !== undefined && !Number.isFinite(currentA)) return refuse('BAD_USER_INPUT', `"${amps}" is not a current in A`);
        const r = await charger.startCharge('api', currentA);
        return asOutcome(r.ok ? { ok: true, message: `charger ${id}: started (${r.view.phase})` } : r, '');
      }
      if (/^(off|stop)$/i.test(verb ?? '')) {
        const r = await charger.stopCharge('api', 'User stop (MQTT)');
        return asOutcome(r.ok ? { ok: true, message: `charger ${id}: stopped` } : r, '');
      }
      return refuse('BAD_USER_INPUT', `charge/set takes ON, OFF, start [A] or stop, not "${p}"`);
    }
    // A device's family control: its named command through the family's page of the gate.
    const dev = engine.device(id);
    const controls = dev ? mqttControlsOf(dev) : [];
    if (dev && controls.length > 0) {
      const c = controls.find((x) => x.object === control);
      if (!c) return refuse('BAD_USER_INPUT', `${dev.name} has no control "${control}"; its controls are ${controls.map((x) => x.object).join(', ')}`);
      const cmd = c.parse(p);
      if (!cmd.ok) return cmd;
      return runDeviceCommand(engine, 'api', dev.id, cmd.command, cmd.args);
    }
    // A bus id means any unit on it (a SET is broadcast); a PSU id means that PSU's bus.
    const busId = engine.dc.has(id) ? id : engine.unit(id)?.busId;
    const target = engine.dc.has(id) ? unitOnBus(id)?.id : engine.unit(id) ? id : undefined;
    if (!busId) return refuse('NOT_FOUND', `no DC output bus or PSU "${id}"`);
    if (!target) return refuse('DEVICE_OFFLINE', `bus ${busId} has no PSU yet; a command would reach nobody`);
    if (control === 'standby') {
      const r = await engine.standby('api', target);
      return asOutcome(r.ok ? { ok: true, message: r.message } : r, 'standby');
    }
    if (control === 'output_voltage' || control === 'output_current') {
      const n = Number(p);
      if (p === '' || !Number.isFinite(n)) return refuse('BAD_USER_INPUT', `${control}/set takes a number, not "${p}"`);
      const limits = engine.dc.limits(busId)!;
      const sp = engine.busSetpoint(busId);
      // The other half of the setpoint stays as it is (the standby output when there is none).
      const voltageV = control === 'output_voltage' ? n : (sp?.voltageV ?? limits.standby.voltageV);
      const currentA = control === 'output_current' ? n : (sp?.currentA ?? limits.standby.currentA);
      const r = await engine.setPsuOutput('api', target, { voltageV, currentA });
      return asOutcome(r.ok ? { ok: true, message: r.message } : r, '');
    }
    return refuse('BAD_USER_INPUT', `unknown control "${control}": charge, standby, output_voltage or output_current`);
  }

  const onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }) => {
    const parts = topic.slice(root.length + 1).split('/');
    if (parts.length !== 3 || parts[2] !== 'set') return;
    const [id, control] = parts as [string, string];
    const text = payload.toString('utf8');
    const answer = (o: Outcome) => publish(resultTopic, JSON.stringify({ topic, payload: text, ...o, at: new Date(engine.clock.now()).toISOString() }), false);
    if (packet.retain) {
      // A retained command would run again at every reconnect: refuse it and clear it.
      if (text !== '') {
        log.warn({ topic }, `mqtt: refused a retained command on ${topic}; commands must not be retained (it was cleared)`);
        client.publish(topic, '', { retain: true, qos: 1 });
        answer({ ok: false, code: 'BAD_USER_INPUT', message: `retained command on ${topic} refused and cleared: publish commands without the retain flag` });
      }
      return;
    }
    void runAsActor('mqtt', () => execute(id, control, text)).then(
      (o) => {
        (o.ok ? log.info : log.warn).call(log, { topic, code: o.ok ? undefined : o.code }, `mqtt: ${topic} ${text}: ${o.ok ? o.message : `${o.code}: ${o.message}`}`);
        answer(o);
      },
      (e: unknown) => {
        log.error({ topic, err: String(e) }, `mqtt: ${topic} failed: ${String(e)}`);
        answer({ ok: false, code: 'INTERNAL', message: 'internal error; it is in the server log' });
      },
    );
  };

  const publishAll = () => {
    lastValue.clear();
    announced.clear();
    publish(statusTopic, 'online');
    for (const d of engine.listDevices()) onDevice(d);
    for (const b of engine.listBuses()) publishBus(b.id);
    for (const c of engine.listChargers()) onCharger(c);
  };

  client.on('connect', () => {
    log.info({ url: config.url }, `mqtt: connected to ${config.url}${connectedOnce ? ' again' : ''}; state under ${root}/, ${config.discovery ? `Home Assistant discovery under ${config.discoveryPrefix}/` : 'no discovery'}`);
    connectedOnce = true;
    if (config.commands) client.subscribe(`${root}/+/+/set`, { qos: 1, rap: true });
    publishAll();
  });
  client.on('message', (t, p, packet) => guard('a command', () => onMessage(t, p, packet)));
  let lastError = '';
  client.on('error', (e) => {
    if (e.message !== lastError) log.warn({ url: config.url, err: e.message }, `mqtt: ${config.url}: ${e.message}; retrying every 5 s`);
    lastError = e.message;
  });
  client.on('offline', () => log.debug({}, 'mqtt: offline'));

  const unsubs = [engine.samples.subscribe(onSample), engine.deviceChanged.subscribe(onDevice), engine.chargerChanged.subscribe(onCharger), engine.events.subscribe((e) => e.type.startsWith('setpoint.') && e.busId && guard('a setpoint', () => publishBus(e.busId!)))];

  return {
    client,
    stop: async () => {
      for (const u of unsubs) u();
      if (client.connected) await new Promise<void>((r) => client.publish(statusTopic, 'offline', { retain: true, qos: 1 }, () => r()));
      await client.endAsync();
    },
  };
}
