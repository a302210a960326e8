/**
 * `powerplane vebus …`: the seed's mk2.py examples (monitor.py, write.py) over the running
 * server's API, so every write passes the command gate and is an event like any other.
 *
 *   powerplane vebus monitor [--device ID] [--interval MS] [--count N]
 *   powerplane vebus write [--device ID] --list
 *   powerplane vebus write [--device ID] --write-setting-ram-only VS_USAGE 3 --set-flag-ram-only DISABLE_CHARGE
 *   powerplane vebus write [--device ID] --mode prefer-battery
 *
 * Writes run in the order given and stop at the first refusal. Self-contained (node:util and
 * fetch only) so it can be hung under any command-line parser: `runVebus(argv)` resolves with
 * the exit code. Exit codes: 0 done, 1 refused by the server (its code is printed), 2 bad
 * usage, 3 the server could not be reached.
 */
import { parseArgs } from 'node:util';

export const VEBUS_USAGE = `usage: powerplane vebus monitor [--device ID] [--interval MS] [--count N] [--json]
       powerplane vebus write [--device ID] --list
       powerplane vebus write [--device ID] [--write-ram-var NAME VALUE] [--write-setting NAME VALUE]
                              [--write-setting-ram-only NAME VALUE] [--set-flag NAME] [--clear-flag NAME]
                              [--set-flag-ram-only NAME] [--clear-flag-ram-only NAME] [--mode NAME] [--json]

  --url URL          server URL (env POWERPLANE_URL; default http://127.0.0.1:4000)
  --token TOKEN      API token (env POWERPLANE_TOKEN); writes need the operator role
  --device ID        the inverter/charger (default: the only one the server has)
  --list             RAM vars, settings (value/default/min/max/scale/offset; RAM-only values marked) and flags
  --write-ram-var NAME VALUE           a RAM variable: a number, or true/false for a bit variable
  --write-setting NAME VALUE           a setting, stored in EEPROM (rate-limited, read back)
  --write-setting-ram-only NAME VALUE  a setting in RAM only: in force until the device restarts, not shown by --list's value
  --set-flag / --clear-flag NAME       a flag, stored; --set-flag-ram-only / --clear-flag-ram-only: in RAM only
  --mode NAME        apply a configured mode (e.g. prefer-battery, prefer-ac, charge)
  NAME is a name from --list (VS_USAGE, DISABLE_CHARGE, …) or a number.
Exit codes: 0 done, 1 refused by the server (its code is printed), 2 bad usage, 3 server unreachable.`;

export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, UNREACHABLE: 3 } as const;

class VebusCliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** For the monitor's pause between tables. */
  sleep: (ms: number) => Promise<void>;
  isTty: boolean;
}

const defaultIo = (): Io => ({
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
  env: process.env,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  isTty: !!process.stdout.isTTY,
});

/** Runs `powerplane vebus <argv…>`; resolves with the exit code. */
export async function runVebus(argv: string[], io: Io = defaultIo()): Promise<number> {
  try {
    return await run(argv, io);
  } catch (e) {
    if (e instanceof VebusCliError) {
      io.err(`powerplane vebus: ${e.message}`);
      return e.exitCode;
    }
    io.err(String(e));
    return 1;
  }
}

// ------------------------------------------------------------------------------- API client

class Api {
  constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

  async request<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new VebusCliError(EXIT.UNREACHABLE, `cannot reach the powerplane server at ${this.url} (${cause?.code ?? cause?.message ?? (e as Error).message}); is it running? Set --url or POWERPLANE_URL`);
    }
    let body: { data?: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new VebusCliError(EXIT.UNREACHABLE, `${this.url}/graphql answered HTTP ${res.status} with something that is not GraphQL; is --url the powerplane server?`);
    }
    if (body.errors?.length) {
      const e = body.errors[0]!;
      const code = e.extensions?.code ?? `HTTP_${res.status}`;
      const hint = code === 'UNAUTHENTICATED' || code === 'FORBIDDEN' ? ' (pass --token or set POWERPLANE_TOKEN; writes need the operator role)' : '';
      throw new VebusCliError(EXIT.REFUSED, `${code}: ${e.message}${hint}`);
    }
    if (!body.data) throw new VebusCliError(EXIT.UNREACHABLE, `${this.url}/graphql answered HTTP ${res.status} without data`);
    return body.data;
  }
}

// ------------------------------------------------------------------------------- parsing

type Write =
  | { op: 'ram-var'; name: string; value: number | boolean }
  | { op: 'setting'; name: string; value: number; ramOnly: boolean }
  | { op: 'flag'; name: string; value: boolean; ramOnly: boolean }
  | { op: 'mode'; name: string };

interface Parsed {
  sub: string | null;
  url: string;
  token: string | undefined;
  device: string | null;
  json: boolean;
  help: boolean;
  list: boolean;
  interval: number;
  count: number | null;
  writes: Write[];
}

const usage = (msg: string) => new VebusCliError(EXIT.USAGE, `${msg}\n${VEBUS_USAGE}`);

function num(flag: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n)) throw usage(`${flag} takes a number, got ${raw === undefined ? 'nothing' : `"${raw}"`}`);
  return n;
}

/** The seed's write.py takes two-value options (--write-setting NAME VALUE), which parseArgs does not: they are taken here, in order. */
export function parseVebusArgs(argv: string[], env: NodeJS.ProcessEnv = {}): Parsed {
  const writes: Write[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const take = (n: number): string[] => {
      const vals = argv.slice(i + 1, i + 1 + n);
      if (vals.length < n || vals.some((v) => v.startsWith('--'))) throw usage(`${a} takes ${n === 2 ? 'a name and a value' : 'a name'}`);
      i += n;
      return vals;
    };
    switch (a) {
      case '--write-ram-var': {
        const [name, v] = take(2) as [string, string];
        const value = /^(true|false)$/i.test(v) ? v.toLowerCase() === 'true' : num(a, v);
        writes.push({ op: 'ram-var', name, value });
        break;
      }
      case '--write-setting':
      case '--write-setting-ram-only': {
        const [name, v] = take(2) as [string, string];
        writes.push({ op: 'setting', name, value: num(a, v), ramOnly: a.endsWith('-ram-only') });
        break;
      }
      case '--set-flag':
      case '--clear-flag':
      case '--set-flag-ram-only':
      case '--clear-flag-ram-only': {
        const [name] = take(1) as [string];
        writes.push({ op: 'flag', name, value: a.startsWith('--set'), ramOnly: a.endsWith('-ram-only') });
        break;
      }
      case '--mode': {
        const [name] = take(1) as [string];
        writes.push({ op: 'mode', name });
        break;
      }
      default:
        rest.push(a);
    }
  }
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        device: { type: 'string', short: 'd' },
        json: { type: 'boolean' },
        list: { type: 'boolean' },
        interval: { type: 'string' },
        count: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw usage((e as Error).message);
  }
  const url = (values.url ?? env.POWERPLANE_URL ?? 'http://127.0.0.1:4000').replace(/\/+$/, '').replace(/\/graphql$/, '');
  try {
    new URL(url);
  } catch {
    throw usage(`--url must be a URL such as http://127.0.0.1:4000, got "${url}"`);
  }
  if (positionals.length > 1) throw usage(`unexpected ${positionals.slice(1).map((p) => `"${p}"`).join(' ')}`);
  const interval = values.interval === undefined ? 2000 : num('--interval', values.interval);
  if (interval < 200) throw usage('--interval is at least 200 ms');
  const count = values.count === undefined ? null : num('--count', values.count);
  if (count !== null && (!Number.isInteger(count) || count < 1)) throw usage('--count is a whole number ≥ 1');
  return {
    sub: positionals[0] ?? null,
    url,
    token: values.token ?? (env.POWERPLANE_TOKEN || undefined),
    device: values.device ?? null,
    json: !!values.json,
    help: !!values.help,
    list: !!values.list,
    interval,
    count,
    writes,
  };
}

// ------------------------------------------------------------------------------- commands

const MONITOR_Q = `query($id: ID!) { device(id: $id) { id name online lastSeen ... on InverterCharger {
  session sessionDetail state chargeSubState inverterFrequencyHz alarms vebusError
  battery { voltageV currentA inverterCurrentA chargerCurrentA socPct }
  ac { phase inVoltageV inCurrentA outVoltageV outCurrentA mainsFrequencyHz }
  leds { name state } currentLimit { actualA minA maxA }
  settings { id name effective ramOnly } flags { name effective ramOnly }
} } }`;

interface MonitorDevice {
  id: string;
  name: string;
  online: boolean;
  lastSeen: string | null;
  session: string;
  sessionDetail: string | null;
  state: string | null;
  chargeSubState: string | null;
  inverterFrequencyHz: number | null;
  alarms: string[];
  vebusError: number | null;
  battery: { voltageV: number | null; currentA: number | null; inverterCurrentA: number | null; chargerCurrentA: number | null; socPct: number | null };
  ac: Array<{ phase: number; inVoltageV: number | null; inCurrentA: number | null; outVoltageV: number | null; outCurrentA: number | null; mainsFrequencyHz: number | null }>;
  leds: Array<{ name: string; state: string }>;
  currentLimit: { actualA: number; minA: number; maxA: number } | null;
  settings: Array<{ id: number; name: string | null; effective: number | null; ramOnly: boolean }>;
  flags: Array<{ name: string | null; effective: boolean | null; ramOnly: boolean }>;
}

const f = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '–' : x.toFixed(digits));

function table(rows: string[][]): string {
  const w = rows[0]!.map((_c, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

/** One monitor frame: the device, DC, AC per phase (in → Multi → out), LEDs, RAM-only values in force. */
export function monitorText(d: MonitorDevice): string {
  const head = `${d.name} (${d.id})  ${d.online ? 'online' : 'OFFLINE'}  session ${d.session}${d.sessionDetail && d.session !== 'ready' ? ` (${d.sessionDetail})` : ''}  state ${d.state ?? '–'}${d.chargeSubState ? ` / ${d.chargeSubState}` : ''}`;
  const b = d.battery;
  const dc = `battery ${f(b.voltageV)} V  ${f(b.currentA)} A (charger ${f(b.chargerCurrentA)} A, inverter ${f(b.inverterCurrentA)} A)${b.socPct !== null ? `  SoC ${f(b.socPct, 1)} %` : ''}  inverter ${f(d.inverterFrequencyHz)} Hz`;
  const ac = table([
    ['phase', 'AC in V', 'AC in A', 'mains Hz', '→', 'AC out V', 'AC out A'],
    ...d.ac.map((p) => [`L${p.phase}`, f(p.inVoltageV, 1), f(p.inCurrentA), f(p.mainsFrequencyHz), '→', f(p.outVoltageV, 1), f(p.outCurrentA)]),
  ]);
  const lit = d.leds.filter((l) => l.state !== 'off').map((l) => `${l.name}:${l.state}`);
  const lim = d.currentLimit ? `  AC input limit ${f(d.currentLimit.actualA, 1)} A (${f(d.currentLimit.minA, 1)}–${f(d.currentLimit.maxA, 1)})` : '';
  const ram = [...d.settings.filter((s) => s.ramOnly).map((s) => `${s.name ?? s.id}=${s.effective}`), ...d.flags.filter((x) => x.ramOnly).map((x) => `${x.name}=${String(x.effective)}`)];
  return [
    head,
    dc,
    ac,
    `LEDs ${lit.join(' ') || 'all off'}${lim}`,
    `alarms ${d.alarms.join(', ') || 'none'}${d.vebusError ? `  VE.Bus error ${d.vebusError}` : ''}`,
    `RAM-only in force: ${ram.join(', ') || 'none'}`,
  ].join('\n');
}

async function deviceId(api: Api, p: Parsed): Promise<string> {
  if (p.device) return p.device;
  const r = await api.request<{ inverterChargers: Array<{ id: string }> }>('{ inverterChargers { id } }');
  if (r.inverterChargers.length === 0) throw new VebusCliError(EXIT.REFUSED, `NOT_FOUND: the server at ${api.url} has no VE.Bus inverter/charger (add a link with a vebus: section)`);
  if (r.inverterChargers.length > 1) throw usage(`the server has several inverter/chargers (${r.inverterChargers.map((d) => d.id).join(', ')}): name one with --device`);
  return r.inverterChargers[0]!.id;
}

async function run(argv: string[], io: Io): Promise<number> {
  const p = parseVebusArgs(argv, io.env);
  if (p.help || p.sub === null) {
    io.out(VEBUS_USAGE);
    return p.help ? EXIT.OK : EXIT.USAGE;
  }
  const api = new Api(p.url, p.token);
  if (p.sub === 'monitor') {
    if (p.writes.length || p.list) throw usage('monitor only reads; writes and --list belong to "vebus write"');
    const id = await deviceId(api, p);
    for (let i = 0; p.count === null || i < p.count; i++) {
      if (i > 0) await io.sleep(p.interval);
      const r = await api.request<{ device: MonitorDevice | null }>(MONITOR_Q, { id });
      if (!r.device || !('session' in r.device)) throw new VebusCliError(EXIT.REFUSED, `NOT_FOUND: no inverter/charger "${id}" on the server`);
      if (p.json) io.out(JSON.stringify(r.device));
      else io.out(`${io.isTty && p.count !== 1 ? '\x1b[2J\x1b[H' : i > 0 ? '\n' : ''}${monitorText(r.device)}`);
    }
    return EXIT.OK;
  }
  if (p.sub !== 'write') throw usage(`unknown vebus command "${p.sub}"`);
  if (!p.list && p.writes.length === 0) throw usage('vebus write needs --list or at least one write');
  const id = await deviceId(api, p);
  for (const w of p.writes) {
    const r = await writeOne(api, id, w);
    if (p.json) io.out(JSON.stringify(r));
    else io.out(`${r.message}${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`);
  }
  if (p.list) {
    const r = await api.request<{ device: { listText?: string } | null }>('query($id: ID!) { device(id: $id) { ... on InverterCharger { listText } } }', { id });
    if (!r.device || r.device.listText === undefined) throw new VebusCliError(EXIT.REFUSED, `NOT_FOUND: no inverter/charger "${id}" on the server`);
    io.out(r.device.listText);
  }
  return EXIT.OK;
}

const RESULT = 'deviceId command sent message notes readBack';

async function writeOne(api: Api, deviceId: string, w: Write): Promise<{ command: string; message: string; notes: string[]; readBack: unknown }> {
  switch (w.op) {
    case 'ram-var':
      return (await api.request<{ writeRamVar: never }>(`mutation($d: ID!, $id: String!, $v: JSON!) { writeRamVar(deviceId: $d, id: $id, value: $v) { ${RESULT} } }`, { d: deviceId, id: w.name, v: w.value })).writeRamVar;
    case 'setting':
      return (await api.request<{ writeSetting: never }>(`mutation($d: ID!, $id: String!, $v: Float!, $r: Boolean) { writeSetting(deviceId: $d, id: $id, value: $v, ramOnly: $r) { ${RESULT} } }`, { d: deviceId, id: w.name, v: w.value, r: w.ramOnly })).writeSetting;
    case 'flag':
      return (await api.request<{ setFlag: never }>(`mutation($d: ID!, $f: String!, $v: Boolean!, $r: Boolean) { setFlag(deviceId: $d, flag: $f, value: $v, ramOnly: $r) { ${RESULT} } }`, { d: deviceId, f: w.name, v: w.value, r: w.ramOnly })).setFlag;
    case 'mode':
      return (await api.request<{ applyVebusMode: never }>(`mutation($d: ID!, $m: String!) { applyVebusMode(deviceId: $d, mode: $m) { ${RESULT} } }`, { d: deviceId, m: w.name })).applyVebusMode;
  }
}
