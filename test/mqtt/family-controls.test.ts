/**
 * The MQTT bridge's family controls against a real broker (mosquitto) on the simulated rig with a
 * MultiPlus (VE.Bus) and an OpenEVSE: Home Assistant finds a mode select and a charging-current
 * number (its range from the device) with an enable switch; commands go through the family's
 * page of the gate as the `mqtt` actor, reach the simulated devices and are read back; refused
 * values are answered on powerplane/result with the code and never reach the wire.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../helpers/mosquitto.js';
import { startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';
import { startMqttBridge, type MqttBridge } from '../../src/mqtt/bridge.js';
import { mqttSchema } from '../../src/mqtt/config.js';
import { silentLogger } from '../../src/log.js';
import type { VebusSim } from '../../src/families/vebus/sim.js';
import type { OpenEvseSim } from '../../src/families/openevse/sim.js';
import type { VebusDeviceView } from '../../src/families/vebus/family.js';
import type { EvseView } from '../../src/families/openevse/types.js';

interface Msg {
  topic: string;
  payload: string;
  retain: boolean;
}

async function listener(url: string, topics: string[]): Promise<{ client: MqttClient; msgs: Msg[]; last(topic: string): Msg | undefined }> {
  const client = await connectAsync(url, { clientId: `ha-${Math.random().toString(16).slice(2, 8)}` });
  const msgs: Msg[] = [];
  client.on('message', (topic, payload, packet) => msgs.push({ topic, payload: payload.toString(), retain: packet.retain }));
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, msgs, last: (t) => [...msgs].reverse().find((m) => m.topic === t) };
}

describe('MQTT family controls: VE.Bus mode and EVSE current (mosquitto)', () => {
  let broker: Broker;
  let s: LiveServer;
  let bridge: MqttBridge;
  let multi: VebusSim;
  let evse: OpenEvseSim;
  let ha: Awaited<ReturnType<typeof listener>>;
  const results = () => ha.msgs.filter((m) => m.topic === 'powerplane/result').map((m) => ({ ...(JSON.parse(m.payload) as Record<string, unknown>), retain: m.retain }) as Record<string, unknown> & { retain: boolean });
  /** Publishes a command and waits for its answer on powerplane/result. */
  const command = async (topic: string, payload: string) => {
    const n = results().length;
    await ha.client.publishAsync(topic, payload);
    return waitFor(() => results().slice(n).find((r) => r.topic === topic && r.payload === payload), `the answer to ${topic} ${payload}`, 30_000);
  };
  const cfg = (topic: string) => {
    const m = ha.last(topic);
    return m ? (JSON.parse(m.payload) as Record<string, unknown>) : undefined;
  };

  beforeAll(async () => {
    broker = await startBroker();
    s = await startLiveServer({ speed: 5, vebus: true, evse: { demoCar: false } });
    multi = s.rig.sim!.vebus.get('vebus0')!;
    evse = s.rig.sim!.openevse.get('evse')!;
    // The MultiPlus with the settings its modes write read, the EVSE with its range read.
    await waitFor(() => {
      const m = s.rig.engine.device<VebusDeviceView>('multi0');
      const e = s.rig.engine.device<EvseView>('evse0');
      return m?.session === 'ready' && m.settings[15]?.effective != null && m.settings[0]?.effective != null && e?.online && e.minA !== null && e.maxA !== null && e.stateName !== null;
    }, 'the MultiPlus ready and the EVSE range read', 40_000);
    bridge = startMqttBridge({ engine: s.rig.engine, log: silentLogger(), config: mqttSchema.parse({ url: broker.url }), version: '0.1.0' });
    await waitFor(() => bridge.client.connected, 'the bridge connected', 10_000);
    ha = await listener(broker.url, ['homeassistant/#', 'powerplane/#']);
  }, 90_000);
  afterAll(async () => {
    await ha?.client.endAsync().catch(() => {});
    await bridge?.stop().catch(() => {});
    await s?.stop();
    await broker?.stop();
  });

  it('Home Assistant finds a mode select, a charging-current number with the EVSE range and an enable switch, retained', async () => {
    await waitFor(
      () => cfg('homeassistant/select/powerplane_multi0/mode/config') && cfg('homeassistant/number/powerplane_evse0/charging_current/config') && cfg('homeassistant/switch/powerplane_evse0/enabled/config'),
      'the control discovery configs',
      20_000,
    );
    expect(cfg('homeassistant/select/powerplane_multi0/mode/config')).toMatchObject({
      unique_id: 'powerplane_multi0_mode',
      command_topic: 'powerplane/multi0/mode/set',
      state_topic: 'powerplane/multi0/mode',
      options: ['prefer-battery', 'prefer-ac', 'charge'],
      availability: [{ topic: 'powerplane/status' }, { topic: 'powerplane/multi0/available' }],
      device: { identifiers: ['powerplane_multi0'], name: 'MultiPlus' },
    });
    // The range is the gate's: the board's 6 A minimum, capped at the 32 A circuit limit.
    expect(cfg('homeassistant/number/powerplane_evse0/charging_current/config')).toMatchObject({
      command_topic: 'powerplane/evse0/charging_current/set',
      state_topic: 'powerplane/evse0/charging_current',
      min: 6,
      max: 32,
      step: 1,
      unit_of_measurement: 'A',
      device_class: 'current',
    });
    expect(cfg('homeassistant/switch/powerplane_evse0/enabled/config')).toMatchObject({ command_topic: 'powerplane/evse0/enabled/set', state_topic: 'powerplane/evse0/enabled', payload_on: 'ON', payload_off: 'OFF' });
    // Retained: a client that subscribes now gets configs and state at once.
    const retained = ['homeassistant/select/powerplane_multi0/mode/config', 'homeassistant/number/powerplane_evse0/charging_current/config', 'homeassistant/switch/powerplane_evse0/enabled/config', 'powerplane/multi0/mode', 'powerplane/evse0/charging_current', 'powerplane/evse0/enabled'];
    const probe = await listener(broker.url, retained);
    try {
      await waitFor(() => retained.every((t) => probe.last(t)), 'the retained configs and state');
      for (const t of retained) expect(probe.last(t), t).toMatchObject({ retain: true });
      expect(probe.last('powerplane/evse0/enabled')!.payload).toBe('ON');
    } finally {
      await probe.client.endAsync();
    }
  });

  it('a mode chosen in Home Assistant is applied to the MultiPlus through the gate (read back) and its state follows', async () => {
    const r = await command('powerplane/multi0/mode/set', 'prefer-battery');
    expect(r).toMatchObject({ ok: true, retain: false });
    // The simulated MultiPlus runs on the mode's values, RAM-only (the EEPROM copy is untouched).
    expect(multi.setting(15)).toMatchObject({ ram: 3 });
    expect(multi.setting(0)!.ram! & 0x40).toBe(0x40); // DISABLE_CHARGE
    await waitFor(() => ha.last('powerplane/multi0/mode')?.payload === 'prefer-battery', 'the mode state prefer-battery');
    // By label too, as the dashboard names it.
    expect(await command('powerplane/multi0/mode/set', 'Charge')).toMatchObject({ ok: true });
    expect(multi.setting(15)).toMatchObject({ ram: 0 });
    expect(multi.setting(0)!.ram! & 0x40).toBe(0);
    await waitFor(() => ha.last('powerplane/multi0/mode')?.payload === 'charge', 'the mode state charge');
    // The event log names the MQTT actor.
    const ev = s.store.latestEvent({ types: ['command.accepted'] })!;
    expect(ev.deviceId).toBe('multi0');
    expect(ev.data).toMatchObject({ actor: 'mqtt', command: 'apply mode charge' });
    // An unknown mode is refused with the code and the configured list; nothing is written.
    const writes = multi.received.length;
    const nope = await command('powerplane/multi0/mode/set', 'turbo');
    expect(nope).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(String(nope.message)).toMatch(/prefer-battery, prefer-ac, charge/);
    expect(multi.received.slice(writes).filter((f) => 'WXYZ'.includes(String.fromCharCode(f.body[0]!)) && [0x32, 0x33, 0x34, 0x37].includes(f.body[1]!))).toEqual([]);
  });

  it('a charging current reaches the simulated EVSE and is read back; an out-of-range one is refused with a code and never reaches the wire', async () => {
    let before = evse.received.length;
    expect(await command('powerplane/evse0/charging_current/set', '16')).toMatchObject({ ok: true });
    expect(evse.received.slice(before).some((l) => /^\$SC 16\b/.test(l))).toBe(true);
    await waitFor(() => ha.last('powerplane/evse0/charging_current')?.payload === '16', 'the current state 16 A');
    expect(s.rig.engine.device<EvseView>('evse0')!.capacityA).toBe(16);

    before = evse.received.length;
    const over = await command('powerplane/evse0/charging_current/set', '40');
    expect(over).toMatchObject({ ok: false, code: 'OUT_OF_RANGE', retain: false });
    expect(String(over.message)).toMatch(/EVSE Garage EVSE: 40 A is outside the allowed 6–32 A/);
    expect(await command('powerplane/evse0/charging_current/set', '5')).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(await command('powerplane/evse0/charging_current/set', '100')).toMatchObject({ ok: false, code: 'OUT_OF_RANGE' });
    expect(await command('powerplane/evse0/charging_current/set', '12.5')).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(await command('powerplane/evse0/charging_current/set', 'lots')).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(evse.received.slice(before).filter((l) => l.startsWith('$SC'))).toEqual([]);
    expect(s.rig.engine.device<EvseView>('evse0')!.capacityA).toBe(16);
    const rejected = s.store.latestEvent({ types: ['command.rejected'] })!;
    expect(rejected.data).toMatchObject({ actor: 'mqtt', code: 'OUT_OF_RANGE' });
  });

  it('the enable switch disables and enables the EVSE through the gate, and its state follows', async () => {
    let before = evse.received.length;
    expect(await command('powerplane/evse0/enabled/set', 'OFF')).toMatchObject({ ok: true });
    expect(evse.received.slice(before).some((l) => l.startsWith('$FD'))).toBe(true);
    await waitFor(() => ha.last('powerplane/evse0/enabled')?.payload === 'OFF', 'enabled OFF', 20_000);
    before = evse.received.length;
    expect(await command('powerplane/evse0/enabled/set', 'ON')).toMatchObject({ ok: true });
    expect(evse.received.slice(before).some((l) => l.startsWith('$FE'))).toBe(true);
    await waitFor(() => ha.last('powerplane/evse0/enabled')?.payload === 'ON', 'enabled ON', 20_000);
    expect(await command('powerplane/evse0/enabled/set', 'maybe')).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    // A control the device does not have is named as such.
    const r = await command('powerplane/evse0/standby/set', 'PRESS');
    expect(r).toMatchObject({ ok: false, code: 'BAD_USER_INPUT' });
    expect(String(r.message)).toMatch(/charging_current, enabled/);
    // Nothing is retained on a command topic, and every answer is unretained.
    expect(ha.msgs.filter((m) => m.topic.endsWith('/set') && m.retain)).toEqual([]);
    expect(results().every((x) => x.retain === false)).toBe(true);
  });
});
