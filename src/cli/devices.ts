/** `get [id]`, `set <id|all> <V> <A>`, `standby [id]`, `map`: the original controller's device commands, over the API. */
import type { Command } from 'commander';
import { Api, CliError, EXIT, keyValues, numberArg, optsOf, print, table, withApiOptions } from './common.js';

export const DEVICE_FIELDS = `__typename id kind name busId online lastSeen
  ... on Flatpack2Psu { serial address state outputVoltageV outputCurrentA outputPowerW inputVoltageV intakeTempC outputTempC ownedBy alarms warnings setpoint { voltageV currentA standby origin at } }
  ... on Battery { voltageV currentA powerW socPct sohPct tempC cellHighV cellLowV chargeVoltageLimitV chargeCurrentLimitA dischargeCurrentLimitA alarms protections }`;

type Dev = Record<string, unknown> & { id: string; kind: string; name: string; online: boolean };

const pick = (d: Dev, ...keys: string[]) => keys.map((k) => d[k]).find((v) => v !== undefined && v !== null) ?? null;

function deviceTable(devs: Dev[]): string {
  return table(devs, [
    ['ID', 'id'],
    ['KIND', 'kind'],
    ['NAME', 'name'],
    ['ONLINE', 'online'],
    ['V', (d) => pick(d, 'outputVoltageV', 'voltageV')],
    ['A', (d) => pick(d, 'outputCurrentA', 'currentA')],
    ['W', (d) => pick(d, 'outputPowerW', 'powerW')],
    ['SOC%', (d) => pick(d, 'socPct')],
    ['°C', (d) => pick(d, 'outputTempC', 'tempC')],
    ['STATE', (d) => pick(d, 'state')],
    ['ALARMS', (d) => pick(d, 'alarms')],
  ]);
}

interface SetpointResult {
  sent: boolean;
  clamped: boolean;
  voltageV: number;
  currentA: number;
  deviceIds: string[];
  message: string;
}
const RESULT = 'sent clamped voltageV currentA deviceIds message';

function setpointText(r: SetpointResult): string {
  return `${r.sent ? 'sent' : 'not sent'}: ${r.voltageV} V / ${r.currentA} A to ${r.deviceIds.join(', ') || '(no device)'}${r.clamped ? ' (current lowered to the power rating)' : ''}\n${r.message}`;
}

export function register(program: Command): void {
  withApiOptions(program.command('get').argument('[id]', 'a device id (all devices without it)').description('show the status of every device, or of one'))
    .action(async (id: string | undefined, _o, cmd: Command) => {
      const o = optsOf(cmd);
      const api = new Api(o);
      if (id === undefined) {
        const { devices } = await api.request<{ devices: Dev[] }>(`{ devices { ${DEVICE_FIELDS} } }`);
        return print(o, devices, () => deviceTable(devices));
      }
      const { device } = await api.request<{ device: Dev | null }>(`query($id: ID!) { device(id: $id) { ${DEVICE_FIELDS} } }`, { id });
      if (!device) throw new CliError(EXIT.REFUSED, `NOT_FOUND: no device "${id}"; \`powerplane get\` lists them`, 'NOT_FOUND');
      print(o, device, () => keyValues(device));
    });

  withApiOptions(
    program
      .command('set')
      .argument('<id>', 'a PSU id, or "all"')
      .argument('<V>', 'output voltage (V)')
      .argument('<A>', 'current limit (A)')
      .description('set the output of a PSU (or of every PSU); the command gate checks it'),
  ).action(async (id: string, v: string, a: string, _o, cmd: Command) => {
    const o = optsOf(cmd);
    const input = { deviceId: id, voltageV: numberArg('V', v), currentA: numberArg('A', a) };
    const { setPsuOutput } = await new Api(o).request<{ setPsuOutput: SetpointResult }>(`mutation($input: SetPsuOutputInput!) { setPsuOutput(input: $input) { ${RESULT} } }`, { input });
    print(o, setPsuOutput, () => setpointText(setPsuOutput));
  });

  withApiOptions(program.command('standby').argument('[id]', 'a PSU id (every PSU without it)').description('put a PSU (or every PSU) in standby: the safe idle output')).action(
    async (id: string | undefined, _o, cmd: Command) => {
      const o = optsOf(cmd);
      const { standby } = await new Api(o).request<{ standby: SetpointResult }>(`mutation($id: ID!) { standby(deviceId: $id) { ${RESULT} } }`, { id: id ?? 'all' });
      print(o, standby, () => setpointText(standby));
    },
  );

  withApiOptions(program.command('map').description('show the serial number → id mapping of the devices that have one')).action(async (_o, cmd: Command) => {
    const o = optsOf(cmd);
    const { devices } = await new Api(o).request<{ devices: Dev[] }>(`{ devices { ${DEVICE_FIELDS} } }`);
    const rows = devices.filter((d) => typeof d.serial === 'string').map((d) => ({ serial: d.serial, id: d.id, address: d.address ?? null, bus: d.busId, name: d.name, online: d.online }));
    print(o, rows, () => table(rows, [['SERIAL', 'serial'], ['ID', 'id'], ['ADDRESS', 'address'], ['BUS', 'bus'], ['NAME', 'name'], ['ONLINE', 'online']]));
  });
}
