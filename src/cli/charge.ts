/** `charge start [A] | stop | status | monitor | config | battery`: the charger, over the API. */
import { Command } from 'commander';
import { Api, CliError, EXIT, keyValues, numberArg, optsOf, print, type ApiOptions } from './common.js';
import { DEVICE_FIELDS } from './devices.js';

const STATUS = `id name busId batteryId phase progress targetVoltageV chargeCurrentA rampVoltageV deliveredAh deliveredWh peakCurrentA elapsedS socPct ccToCvAt stopReason bmsHold
  bmsCaps { voltageLimitV currentLimitA reason } session { id startedAt } fallback { voltageV confirmed pendingPsuIds } psus { id name online }`;
const SETTINGS = `settings { cellCount cellVoltageMaxV capacityAh chargeCurrentA tailCurrentA detectVoltageV detectCurrentA detectThresholdV detectTimeoutMin minCurrentDetectA
  disconnectDetectTimeS rampStepVoltageV rampStepIntervalS voltageToleranceV safetyTimeLimitMin autoStart }`;

type Charger = Record<string, unknown> & { id: string; name: string; phase: string };

interface ChargeOptions extends ApiOptions {
  charger?: string;
  count?: string;
}

/** The charger a command means: --charger, or the only one there is. */
async function chargerId(api: Api, o: ChargeOptions): Promise<string> {
  if (o.charger) return o.charger;
  const { chargers } = await api.request<{ chargers: Array<{ id: string }> }>('{ chargers { id } }');
  if (chargers.length === 1) return chargers[0]!.id;
  if (!chargers.length) throw new CliError(EXIT.REFUSED, 'NOT_FOUND: this server has no charger configured (chargers: in its config)', 'NOT_FOUND');
  throw new CliError(EXIT.USAGE, `this server has ${chargers.length} chargers (${chargers.map((c) => c.id).join(', ')}); name one with --charger ID`);
}

async function charger(api: Api, id: string, fields: string): Promise<Charger> {
  const { charger } = await api.request<{ charger: Charger | null }>(`query($id: ID!) { charger(id: $id) { ${fields} } }`, { id });
  if (!charger) throw new CliError(EXIT.REFUSED, `NOT_FOUND: no charger "${id}"`, 'NOT_FOUND');
  return charger;
}

const psuNames = (c: Charger) => ({ ...c, psus: (c.psus as Array<{ id: string; online: boolean }> | undefined)?.map((p) => `${p.id}${p.online ? '' : ' (offline)'}`) });

/** One line per progress update (monitor). */
export function progressLine(c: Charger): string {
  const f = (v: unknown, unit: string, digits = 2) => (typeof v === 'number' ? `${v.toFixed(digits)} ${unit}` : `– ${unit}`);
  return [new Date().toISOString().slice(11, 19), c.phase.padEnd(9), `target ${f(c.targetVoltageV, 'V')}`, `ramp ${f(c.rampVoltageV, 'V')}`, f(c.deliveredAh, 'Ah'), f(c.deliveredWh, 'Wh', 1), `SOC ${f(c.socPct, '%', 0)}`, c.stopReason ? `(${c.stopReason})` : ''].join('  ').trimEnd();
}

export function register(program: Command): void {
  const charge = new Command('charge').description('the LiFePO4 charger: start, stop, status, monitor, config, battery').option('--charger <id>', 'which charger (needed when the server has more than one)');
  const sub = (name: string, describe: string) => {
    const c = charge.command(name).description(describe);
    c.option('--url <url>', 'server URL (env POWERPLANE_URL; default http://127.0.0.1:4000)').option('--token <token>', 'API token (env POWERPLANE_TOKEN)').option('--json', 'print JSON for scripts instead of tables');
    return c;
  };

  sub('start', 'start a charge (from DETECT); A overrides the configured charge current')
    .argument('[A]', 'charge current (A, total over the PSU group)')
    .action(async (a: string | undefined, _o, cmd: Command) => {
      const o = optsOf(cmd) as ChargeOptions;
      const api = new Api(o);
      const id = await chargerId(api, o);
      const currentA = a === undefined ? undefined : numberArg('A', a);
      const { startCharge } = await api.request<{ startCharge: Charger }>(`mutation($id: ID!, $a: Float) { startCharge(chargerId: $id, currentA: $a) { ${STATUS} } }`, { id, a: currentA ?? null });
      print(o, startCharge, () => `charger ${startCharge.id}: started, phase ${startCharge.phase}, ${startCharge.chargeCurrentA} A to ${startCharge.targetVoltageV} V`);
    });

  sub('stop', 'stop the charge and put its PSUs in standby').action(async (_o, cmd: Command) => {
    const o = optsOf(cmd) as ChargeOptions;
    const api = new Api(o);
    const { stopCharge } = await api.request<{ stopCharge: Charger }>(`mutation($id: ID!) { stopCharge(chargerId: $id) { ${STATUS} } }`, { id: await chargerId(api, o) });
    print(o, stopCharge, () => `charger ${stopCharge.id}: stopped (phase ${stopCharge.phase}${stopCharge.stopReason ? `, ${stopCharge.stopReason}` : ''})`);
  });

  sub('status', 'show the charge: phase, progress, delivered energy, BMS caps').action(async (_o, cmd: Command) => {
    const o = optsOf(cmd) as ChargeOptions;
    const api = new Api(o);
    const c = await charger(api, await chargerId(api, o), STATUS);
    print(o, c, () => keyValues(psuNames(c)));
  });

  sub('config', 'show the charger settings in force').action(async (_o, cmd: Command) => {
    const o = optsOf(cmd) as ChargeOptions;
    const api = new Api(o);
    const c = await charger(api, await chargerId(api, o), `id name ${SETTINGS}`);
    print(o, c, () => keyValues(c));
  });

  sub('battery', 'show the battery: the pack the charger is set up for, and its BMS when it has one').action(async (_o, cmd: Command) => {
    const o = optsOf(cmd) as ChargeOptions;
    const api = new Api(o);
    const c = await charger(api, await chargerId(api, o), `id batteryId settings { cellCount cellVoltageMaxV capacityAh }`);
    const s = c.settings as { cellCount: number; cellVoltageMaxV: number; capacityAh: number };
    const pack = { cells: s.cellCount, cellVoltageMaxV: s.cellVoltageMaxV, packVoltageMaxV: +(s.cellCount * s.cellVoltageMaxV).toFixed(3), capacityAh: s.capacityAh };
    let bms: Record<string, unknown> | null = null;
    if (typeof c.batteryId === 'string') bms = (await api.request<{ device: Record<string, unknown> | null }>(`query($id: ID!) { device(id: $id) { ${DEVICE_FIELDS} } }`, { id: c.batteryId })).device;
    const out = { charger: c.id, pack, bms };
    print(o, out, () => keyValues({ pack, ...(bms ? { bms } : { bms: 'none (the charger is not guided by a BMS)' }) }));
  });

  sub('monitor', 'print the charge progress as it changes (Ctrl-C to stop)')
    .option('--count <n>', 'stop after n updates')
    .action(async (_o, cmd: Command) => {
      const o = optsOf(cmd) as ChargeOptions;
      const api = new Api(o);
      const id = await chargerId(api, o);
      const first = await charger(api, id, STATUS);
      const limit = o.count === undefined ? Infinity : numberArg('--count', o.count);
      const emit = (c: Charger) => process.stdout.write((o.json ? JSON.stringify(c) : progressLine(c)) + '\n');
      emit(first);
      if (limit <= 1) return;
      const [{ createClient }, { default: WebSocket }] = await Promise.all([import('graphql-ws'), import('ws')]);
      const client = createClient({ url: api.endpoint.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, connectionParams: api.authorization ? { authorization: api.authorization } : {} });
      let seen = 1;
      await new Promise<void>((resolve, reject) => {
        const stop = client.subscribe<{ chargeProgress: Charger }>(
          { query: `subscription($id: ID) { chargeProgress(chargerId: $id) { ${STATUS} } }`, variables: { id } },
          {
            next: (v) => {
              if (seen >= limit) return; // updates already on their way after the last one
              if (v.errors?.length) {
                const e = v.errors[0]!;
                return reject(new CliError(EXIT.REFUSED, `${String(e.extensions?.code ?? 'ERROR')}: ${e.message}`));
              }
              if (v.data) emit(v.data.chargeProgress);
              if (++seen >= limit) {
                stop();
                resolve();
              }
            },
            error: (e) => reject(Array.isArray(e) ? new CliError(EXIT.REFUSED, `${String((e[0] as { extensions?: { code?: string } })?.extensions?.code ?? 'ERROR')}: ${(e[0] as Error)?.message}`) : new CliError(EXIT.UNREACHABLE, `the live connection to ${api.url} ended (${(e as Error)?.message ?? (e as CloseEvent)?.reason ?? 'closed'})`)),
            complete: () => resolve(),
          },
        );
        process.once('SIGINT', () => {
          stop();
          resolve();
        });
      }).finally(() => client.dispose());
    });

  program.addCommand(charge);
}
