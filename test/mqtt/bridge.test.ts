/**
 * The MQTT bridge against a real broker (mosquitto), seen as Home Assistant sees it: retained
 * discovery configs and state, availability with a last will, commands on …/set answered on
 * the result topic, through the command gate.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../helpers/mosquitto.js';
import { startLiveServer, type LiveServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { sensorMeta, startMqttBridge, type MqttBridge } from '../../src/mqtt/bridge.js';
import { mqttSchema } from '../../src/mqtt/config.js';
import { silentLogger } from '../../src/log.js';

interface Msg {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A client that records everything it hears. */
async function listener(url: string, topics: string[]): Promise<{ client: MqttClient; msgs: Msg[]; last(topic: string): Msg | undefined }> {
  const client = await connectAsync(url, { clientId: `ha-${Math.random().toString(16).slice(2, 8)}` });
  const msgs: Msg[] = [];
  client.on('message', (topic, payload, packet) => msgs.push({ topic, payload: payload.toString(), retain: packet.retain }));
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, msgs, last: (t) => [...msgs].reverse().find((m) => m.topic === t) };
}

describe('MQTT bridge (mosquitto)', () => {
  let broker: Broker;
  let s: LiveServer;
  let bridge: MqttBridge;
  const log: string[] = [];
  beforeAll(async () => {
    broker = await startBroker();
    s = await startLiveServer({ speed: 20, bms: true });
    bridge = startMqttBridge({ engine: s.rig.engine, log: silentLogger(log), config: mqttSchema.parse({ url: broker.url }), version: '0.1.0' });
    await waitFor(() => bridge.client.connected, 'the bridge connected', 10_000);
  });
  afterAll(async () => {
    await bridge?.stop().catch(() => {});
    await s?.stop();
    await broker?.stop();
  });

  it('units and device classes come from the reading names', () => {
    expect(sensorMeta('outputVoltageV')).toMatchObject({ unit: 'V', device_class: 'voltage' });
    expect(sensorMeta('outputCurrentA')).toMatchObject({ unit: 'A', device_class: 'current' });
    expect(sensorMeta('outputPowerW')).toMatchObject({ unit: 'W', device_class: 'power' });
    expect(sensorMeta('intakeTempC')).toMatchObject({ unit: '°C', device_class: 'temperature' });
    expect(sensorMeta('socPct')).toMatchObject({ unit: '%', device_class: 'battery' });
    expect(sensorMeta('deliveredWh')).toMatchObject({ unit: 'Wh', device_class: 'energy', state_class: 'total_increasing' });
  });

  it('Home Assistant finds sensors, a charge switch, a standby button and voltage/current numbers, all retained', async () => {
    // Subscribing after the bridge published: only retained messages can arrive now.
    const ha = await listener(broker.url, ['homeassistant/#', 'powerplane/#']);
    try {
      const cfg = (topic: string) => {
        const m = ha.last(topic);
        return m ? (JSON.parse(m.payload) as Record<string, unknown>) : undefined;
      };
      await waitFor(() => cfg('homeassistant/sensor/powerplane_fp2-192750001639/outputVoltageV/config') && cfg('homeassistant/sensor/powerplane_bms0/socPct/config'), 'discovery configs', 20_000);
      const volt = cfg('homeassistant/sensor/powerplane_fp2-192750001639/outputVoltageV/config')!;
      expect(volt).toMatchObject({
        unique_id: 'powerplane_fp2-192750001639_outputVoltageV',
        state_topic: 'powerplane/fp2-192750001639/outputVoltageV',
        device_class: 'voltage',
        unit_of_measurement: 'V',
        state_class: 'measurement',
        availability: [{ topic: 'powerplane/status' }, { topic: 'powerplane/fp2-192750001639/available' }],
        device: { identifiers: ['powerplane_fp2-192750001639'], name: 'Rectifier A', manufacturer: 'powerplane' },
      });
      expect(cfg('homeassistant/sensor/powerplane_bms0/socPct/config')).toMatchObject({ device_class: 'battery', unit_of_measurement: '%' });
      expect(cfg('homeassistant/switch/powerplane_charger1/charge/config')).toMatchObject({ command_topic: 'powerplane/charger1/charge/set', state_topic: 'powerplane/charger1/charging', payload_on: 'ON', payload_off: 'OFF' });
      expect(cfg('homeassistant/button/powerplane_can0/standby/config')).toMatchObject({ command_topic: 'powerplane/can0/standby/set' });
      expect(cfg('homeassistant/number/powerplane_can0/output_voltage/config')).toMatchObject({ command_topic: 'powerplane/can0/output_voltage/set', min: 43.5, max: 57.6, unit_of_measurement: 'V' });
      expect(cfg('homeassistant/number/powerplane_can0/output_current/config')).toMatchObject({ command_topic: 'powerplane/can0/output_current/set', unit_of_measurement: 'A' });
      // State and availability, retained: a client that subscribes now gets them at once.
      const probe = await listener(broker.url, ['powerplane/status', 'powerplane/fp2-192750001639/+', 'powerplane/charger1/charging']);
      await waitFor(() => probe.last('powerplane/status') && probe.last('powerplane/charger1/charging') && probe.last('powerplane/fp2-192750001639/outputVoltageV'), 'retained state');
      expect(probe.last('powerplane/status')).toMatchObject({ payload: 'online', retain: true });
      expect(probe.last('powerplane/fp2-192750001639/available')).toMatchObject({ payload: 'online', retain: true });
      expect(Number(probe.last('powerplane/fp2-192750001639/outputVoltageV')!.payload)).toBeGreaterThan(40);
      expect(probe.last('powerplane/charger1/charging')).toMatchObject({ payload: 'OFF', retain: true });
      await probe.client.endAsync();
      // Nothing is retained on a command topic.
      expect(ha.msgs.filter((m) => m.topic.endsWith('/set'))).toEqual([]);
      // No MultiPlus or EVSE on this rig: no mode select, no charging-current number or enable switch.
      expect(ha.msgs.filter((m) => /^homeassistant\/select\/|\/(mode|charging_current|enabled)\/config$/.test(m.topic))).toEqual([]);
    } finally {
      await ha.client.endAsync();
    }
  });

  it('commands on …/set go through the gate and are answered on powerplane/result (not retained)', async () => {
    const ha = await listener(broker.url, ['powerplane/result', 'powerplane/charger1/#', 'powerplane/can0/#']);
    try {
      const results = () => ha.msgs.filter((m) => m.topic === 'powerplane/result').map((m) => ({ ...(JSON.parse(m.payload) as Record<string, unknown>), retain: m.retain }));
      // Refused by the gate: over the voltage range, nothing sent.
      await ha.client.publishAsync('powerplane/can0/output_voltage/set', '70');
      await waitFor(() => results().length >= 1, 'the refusal');
      expect(results()[0]).toMatchObject({ topic: 'powerplane/can0/output_voltage/set', payload: '70', ok: false, code: 'OUT_OF_RANGE', retain: false });
      expect(s.rig.engine.busSetpoint('can0')?.voltageV).not.toBe(70);
      // Accepted: the setpoint changes and its state follows.
      await ha.client.publishAsync('powerplane/can0/output_voltage/set', '54.5');
      await waitFor(() => results().length >= 2, 'the answer');
      expect(results()[1]).toMatchObject({ ok: true });
      expect(s.rig.engine.busSetpoint('can0')).toMatchObject({ voltageV: 54.5 });
      await waitFor(() => ha.last('powerplane/can0/setpoint_voltage_v')?.payload === '54.5', 'the setpoint state');
      // The event log names the MQTT actor.
      const ev = s.store.latestEvent({ types: ['setpoint.accepted'] })!;
      expect(ev.data).toMatchObject({ actor: 'mqtt', voltageV: 54.5 });
      // The charge switch.
      await ha.client.publishAsync('powerplane/charger1/charge/set', 'ON');
      await waitFor(() => results().length >= 3, 'the start');
      expect(results()[2]).toMatchObject({ ok: true, topic: 'powerplane/charger1/charge/set' });
      await waitFor(() => ha.last('powerplane/charger1/charging')?.payload === 'ON', 'charging ON');
      await ha.client.publishAsync('powerplane/charger1/charge/set', 'OFF');
      await waitFor(() => ha.last('powerplane/charger1/charging')?.payload === 'OFF', 'charging OFF');
      // Standby button.
      await ha.client.publishAsync('powerplane/can0/standby/set', 'PRESS');
      await waitFor(() => results().length >= 5, 'standby');
      expect(results()[4]).toMatchObject({ ok: true });
      expect(s.rig.engine.busSetpoint('can0')).toMatchObject({ standby: true });
      // Nonsense is refused with a code.
      await ha.client.publishAsync('powerplane/charger1/charge/set', 'maybe');
      await waitFor(() => results().length >= 6, 'the refusal');
      expect(results()[5]).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
      expect(results().every((r) => r.retain === false)).toBe(true);
    } finally {
      await ha.client.endAsync();
    }
  });

  it('a retained command is refused and cleared, not run at every reconnect', async () => {
    const ha = await listener(broker.url, ['powerplane/result']);
    try {
      await ha.client.publishAsync('powerplane/charger1/charge/set', 'ON', { retain: true });
      await waitFor(() => ha.msgs.length >= 1, 'the refusal');
      expect(JSON.parse(ha.msgs[0]!.payload)).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
      expect(s.rig.engine.listChargers()[0]!.phase).toMatch(/^(idle|done|error)$/);
      // The broker holds nothing retained there any more.
      const probe = await listener(broker.url, ['powerplane/charger1/charge/set']);
      await new Promise((r) => setTimeout(r, 300));
      expect(probe.msgs).toEqual([]);
      await probe.client.endAsync();
    } finally {
      await ha.client.endAsync();
    }
  });

  it('availability: the last will says offline when the bridge drops, and a clean stop says so too', async () => {
    const ha = await listener(broker.url, ['powerplane/status']);
    try {
      await waitFor(() => ha.last('powerplane/status')?.payload === 'online', 'online');
      // An abrupt loss (no DISCONNECT): the broker publishes the will.
      bridge.client.stream.destroy();
      await waitFor(() => ha.last('powerplane/status')?.payload === 'offline', 'the last will', 10_000);
      // It reconnects and says online again.
      await waitFor(() => ha.last('powerplane/status')?.payload === 'online', 'online again', 15_000);
      await bridge.stop();
      await waitFor(() => ha.last('powerplane/status')?.payload === 'offline', 'offline on stop');
    } finally {
      await ha.client.endAsync();
    }
  });
});
