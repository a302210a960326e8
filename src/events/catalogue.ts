/**
 * The one catalogue of event texts: a plain sentence for every event type the server records,
 * used by the server (the Event.text field of the API) and by the web client (its event log),
 * so the words are written once. Pure: no Node or DOM imports (the web client bundles it).
 *
 * `name` turns an id (device, charger, battery) into the name people know it by.
 */

export interface EventLike {
  type: string;
  deviceId?: string | null;
  busId?: string | null;
  data?: unknown;
}

export type NameOf = (id: string) => string;

const n = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '?');
const str = (v: unknown) => (v == null ? '' : String(v));

/** Who asked, in words ("api" → "from the dashboard or API"). */
export function originText(o: unknown): string {
  switch (o) {
    case 'api':
      return 'from the dashboard or API';
    case 'charger':
      return 'by the charger';
    case 'safety':
      return 'by the safety fail-safe';
    case 'restore':
      return 'restored after a reconnect';
    case 'startup':
      return 'at start-up';
    case 'resume':
      return 'resuming after a restart';
    case 'bms':
      return 'on the BMS’s request';
    case undefined:
    case null:
    case '':
      return '';
    default:
      return `by ${String(o)}`;
  }
}

/** One line in words for an event. */
export function describeEvent(e: EventLike, name: NameOf = (id) => id): string {
  const d = (e.data && typeof e.data === 'object' ? e.data : {}) as Record<string, unknown>;
  const by = originText(d.origin);
  const origin = by ? ` (${by})` : '';
  const va = `${n(d.voltageV, 2)} V / ${n(d.currentA, 1)} A`;
  const ahWh = typeof d.ah === 'number' ? ` (${n(d.ah, 2)} Ah, ${n(d.wh, 0)} Wh)` : '';
  switch (e.type) {
    case 'setpoint.requested':
      return `asked for ${d.standby ? 'standby' : va} on ${str(d.target) === 'all' ? 'all rectifiers' : name(str(d.target ?? e.deviceId ?? ''))}${origin}`;
    case 'setpoint.accepted':
      return `${d.standby ? 'standby ' : ''}${va} per rectifier accepted${d.clamped ? ' (current lowered to stay within the power rating)' : ''}${d.reason ? `: ${str(d.reason)}` : ''}${origin}`;
    case 'setpoint.rejected':
      return `refused ${va}: ${str(d.reason ?? d.code)}${origin}`;
    case 'setpoint.sent':
      return `sent ${va} to the rectifiers${origin}`;
    case 'setpoint.send-failed':
      return `${va} not sent: the link is down; it is sent again when the link is back`;
    case 'default-voltage.accepted':
      return `power-on voltage ${n(d.voltageV, 2)} V accepted${origin}`;
    case 'default-voltage.sent':
      return `power-on voltage ${n(d.voltageV, 2)} V written`;
    case 'default-voltage.send-failed':
      return `power-on voltage ${n(d.voltageV, 2)} V not written: the link is down`;
    case 'default-voltage.rejected':
      return `power-on voltage ${n(d.voltageV, 2)} V refused: ${str(d.reason ?? d.code)}`;
    case 'device.online':
      return 'came online';
    case 'device.offline':
      return `went offline${d.reason ? `: ${str(d.reason)}` : ''}`;
    case 'device.discovered':
      return `found on the bus (serial ${str(d.serial ?? '?')}, address ${str(d.addr ?? '?')})`;
    case 'link.changed':
      return `link ${str(d.state)}${d.detail ? `: ${str(d.detail)}` : ''}`;
    case 'psu.warnings':
    case 'psu.alarms': {
      const names = Array.isArray(d.names) ? (d.names as unknown[]).map(String) : [];
      const what = e.type === 'psu.alarms' ? 'alarms' : 'warnings';
      return names.length ? `${what}: ${names.join(', ')}` : `${what} cleared`;
    }
    case 'psu.identity':
      return `identifies itself as ${str(d.model ?? '?')}, serial ${str(d.serial ?? '?')}${d.buildYear ? `, built ${str(d.buildYear)}` : ''}`;
    case 'psu.alarm':
      return 'ALARM: its output is off';
    case 'charger.phase': {
      const st = d.steps as { count?: number; fromV?: number; toV?: number } | undefined;
      const steps = st && typeof st.count === 'number' && st.count > 0 ? ` after ${st.count} step${st.count === 1 ? '' : 's'} ${n(st.fromV, 1)} → ${n(st.toV, 1)} V` : '';
      return `${str(d.from ?? '?')} → ${str(d.to ?? '?')}${steps}${d.reason ? `: ${str(d.reason)}` : ''}`;
    }
    case 'charger.session.started':
      return `charge ${d.resumed ? 'resumed' : 'started'}: ${n(d.chargeCurrentA, 1)} A up to ${n(d.targetVoltageV, 2)} V${origin}`;
    case 'charger.session.ended':
      return `charge ended, ${str(d.outcome ?? '?')}${d.reason ? `: ${str(d.reason)}` : ''}${ahWh}${origin}`;
    case 'charger.cc-to-cv':
      return `CC → CV (current starts to taper) at ${va}`;
    case 'charger.battery-detected':
      return `battery found (${str(d.by ?? '?')}) at ${n(d.voltageV, 2)} V`;
    case 'charger.current':
      return `charge current ${n(d.fromA, 1)} → ${n(d.toA, 1)} A${origin}`;
    case 'charger.psu-group':
      return str(d.message) || 'rectifier group changed';
    case 'charger.warning':
      return str(d.message);
    case 'charger.rejected':
      return `refused ${str(d.input)}: ${str(d.reason)}${origin}`;
    case 'charger.settings':
      return `settings changed${origin}`;
    case 'charger.settings-rejected':
      return `settings refused (${str(d.key)}): ${str(d.reason)}${origin}`;
    case 'charger.bms-hold':
      return `held by the BMS: ${str(d.reason)}`;
    case 'charger.bms-release':
      return `released by the BMS: ${str(d.reason)}`;
    case 'charger.bms-cap':
      return `BMS limit applied${d.reason ? `: ${str(d.reason)}` : ''}`;
  }
  if (e.type.startsWith('battery.flag.') && typeof d.name === 'string') {
    return `${d.set ? `${str(d.set)} ` : ''}flag ${d.name} ${e.type.slice('battery.flag.'.length)}`;
  }
  if (e.type.startsWith('charger.') || e.type.startsWith('battery.') || e.type.startsWith('bms.')) {
    const parts = [d.message, d.reason].filter((x) => typeof x === 'string' && x) as string[];
    if (typeof d.index === 'number') parts.unshift(`module ${d.index}`);
    if (parts.length) return parts.join(': ') + origin;
  }
  const json = JSON.stringify(d);
  return json === '{}' ? '' : json.length > 160 ? `${json.slice(0, 157)}…` : json;
}
