/**
 * `powerplane profile dump|diff|plan|apply|compare|sync-check|save` — the seed's lvx-flash
 * commands, spoken to the RUNNING server's API (never opening the inverter behind its back: the
 * server holds the device, and an apply pauses its polling there).
 *
 * Exit codes (the seed's): 0 ok · 1 findings (a diff with changes, compare differences,
 * sync-check errors) · 2 invalid (bad arguments or profile, a refusal before any I/O, the server
 * unreachable) · 3 aborted (an apply that was refused by the unit or aborted, rolled back or not).
 */
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const PROFILE_USAGE = `usage: powerplane profile <command> [--url URL] [--token T] …

  dump        --serial S [--out FILE]            the unit's settings as a YAML profile
  diff        --serial S --profile P             what the profile would change (exit 1 when anything)
  plan        --serial S --profile P             the exact frames, in order, with the read-back expected (nothing sent)
  apply       --serial S --profile P --confirm   plan, then write with read-back after each step (rollback on failure)
  compare     --serial A --serial B              two units' settings key by key (exit 1 on differences)
  sync-check  --serial A --serial B              a parallel pair's state: every finding (exit 1 on errors)
  save        --name N --profile FILE            store a profile on the server under a name

  --serial S   an inverter's serial number or its id (e.g. inv-master)
  --profile P  a YAML file, or the name of a profile saved on the server
  --url URL    the server (default $POWERPLANE_URL or http://127.0.0.1:4000)
  --token T    API token (default $POWERPLANE_TOKEN)

exit codes: 0 ok, 1 findings, 2 invalid, 3 aborted`;

export const EXIT = { ok: 0, findings: 1, invalid: 2, aborted: 3 } as const;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

class CliError extends Error {
  constructor(
    message: string,
    readonly exit: number,
  ) {
    super(message);
  }
}

type GqlError = { message: string; extensions?: { code?: string; violations?: { key: string; message: string }[] } };

function client(url: string, token: string | undefined) {
  return async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    let r: Response;
    try {
      r = await fetch(`${url.replace(/\/$/, '')}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
    } catch (e) {
      throw new CliError(`cannot reach the powerplane server at ${url} (${(e as Error).cause ?? (e as Error).message}); is it running? (--url or $POWERPLANE_URL)`, EXIT.invalid);
    }
    const body = (await r.json().catch(() => ({ errors: [{ message: `HTTP ${r.status} from ${url}` }] }))) as { data?: T; errors?: GqlError[] };
    if (body.errors?.length) {
      const lines = body.errors.flatMap((e) => (e.extensions?.violations?.length ? e.extensions.violations.map((v) => `  - ${v.message}`) : [`${e.extensions?.code ? `${e.extensions.code}: ` : ''}${e.message}`]));
      const code = body.errors[0]!.extensions?.code;
      throw new CliError(lines.join('\n'), code === 'DEVICE_OFFLINE' || code === 'LINK_DOWN' ? EXIT.aborted : EXIT.invalid);
    }
    return body.data as T;
  };
}

function profileArg(p: string | undefined): { yaml?: string; name?: string } {
  if (!p) throw new CliError('give --profile FILE (a YAML profile) or --profile NAME (one saved on the server)', EXIT.invalid);
  if (existsSync(p)) return { yaml: readFileSync(p, 'utf8') };
  if (/[/\\]|\.ya?ml$/i.test(p)) throw new CliError(`no profile file ${p}`, EXIT.invalid);
  return { name: p };
}

const fmt = (v: unknown) => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

const PLAN_FIELDS = `id serial unit steps { index keys from to command frameText frameHex expect } diff { keys from to }`;
type PlanOut = { id: string; serial: string | null; unit: number; steps: { index: number; keys: string[]; from: unknown[]; to: unknown[]; command: string; frameText: string; frameHex: string; expect: Record<string, unknown> }[] };

function printPlan(io: Io, p: PlanOut): void {
  if (!p.steps.length) {
    io.out(`inverter ${p.serial}: already matches the profile; an apply sends nothing (plan ${p.id})`);
    return;
  }
  io.out(`plan ${p.id} for inverter ${p.serial} (unit index ${p.unit}): ${p.steps.length} step(s), nothing sent yet`);
  for (const s of p.steps) {
    io.out(`  ${s.index}. ${s.keys.map((k, i) => `${k} ${fmt(s.from[i])} → ${fmt(s.to[i])}`).join(', ')}`);
    io.out(`     ${s.frameText}   [${s.frameHex}]`);
    io.out(`     read-back must show: ${s.keys.map((k) => `${k} ${fmt(s.expect[k])}`).join(', ')}`);
  }
}

/** Runs `powerplane profile …` (argv after "profile"); resolves with the exit code. */
export async function runProfileCli(argv: string[], io: Io = { out: (s) => console.log(s), err: (s) => console.error(s), env: process.env }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        serial: { type: 'string', multiple: true },
        profile: { type: 'string' },
        confirm: { type: 'boolean' },
        name: { type: 'string' },
        out: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${PROFILE_USAGE}`);
    return EXIT.invalid;
  }
  const { values, positionals } = parsed;
  const cmd = positionals[0];
  if (values.help || !cmd) {
    io.out(PROFILE_USAGE);
    return values.help ? EXIT.ok : EXIT.invalid;
  }
  const url = values.url ?? io.env.POWERPLANE_URL ?? 'http://127.0.0.1:4000';
  const gql = client(url, values.token ?? io.env.POWERPLANE_TOKEN);
  const serials = values.serial ?? [];
  const one = () => {
    if (serials.length !== 1) throw new CliError(`${cmd} needs one --serial (the inverter's serial or id)`, EXIT.invalid);
    return serials[0]!;
  };
  const two = async (): Promise<[string, string]> => {
    if (serials.length === 2) return [serials[0]!, serials[1]!];
    if (serials.length === 0) {
      const { inverters } = await gql<{ inverters: { id: string }[] }>('{ inverters { id } }');
      if (inverters.length === 2) return [inverters[0]!.id, inverters[1]!.id];
    }
    throw new CliError(`${cmd} needs two units: --serial A --serial B`, EXIT.invalid);
  };
  try {
    switch (cmd) {
      case 'dump': {
        const d = await gql<{ dumpProfile: { yaml: string; skipped: { key: string; reason: string }[] } }>(`mutation($d: ID!) { dumpProfile(deviceId: $d) { yaml skipped { key reason } } }`, { d: one() });
        if (values.out) {
          writeFileSync(values.out, d.dumpProfile.yaml);
          io.err(`wrote ${values.out}`);
        } else io.out(d.dumpProfile.yaml.trimEnd());
        for (const s of d.dumpProfile.skipped) io.err(`skipped ${s.key}: ${s.reason}`);
        return EXIT.ok;
      }
      case 'diff': {
        const d = await gql<{ diffProfile: { serial: string; entries: { keys: string[]; from: unknown[]; to: unknown[] }[] } }>(
          `mutation($d: ID!, $p: ProfileInput!) { diffProfile(deviceId: $d, profile: $p) { serial entries { keys from to } } }`,
          { d: one(), p: profileArg(values.profile) },
        );
        if (!d.diffProfile.entries.length) {
          io.out(`inverter ${d.diffProfile.serial}: matches the profile`);
          return EXIT.ok;
        }
        for (const e of d.diffProfile.entries) io.out(e.keys.map((k, i) => `${k}: ${fmt(e.from[i])} → ${fmt(e.to[i])}`).join(', '));
        return EXIT.findings;
      }
      case 'plan': {
        const p = await gql<{ planProfile: PlanOut }>(`mutation($d: ID!, $p: ProfileInput!) { planProfile(deviceId: $d, profile: $p) { ${PLAN_FIELDS} } }`, { d: one(), p: profileArg(values.profile) });
        printPlan(io, p.planProfile);
        return EXIT.ok;
      }
      case 'apply': {
        const p = await gql<{ planProfile: PlanOut }>(`mutation($d: ID!, $p: ProfileInput!) { planProfile(deviceId: $d, profile: $p) { ${PLAN_FIELDS} } }`, { d: one(), p: profileArg(values.profile) });
        printPlan(io, p.planProfile);
        if (!values.confirm) {
          io.err('not applied: an apply writes to the inverter; review the frames above and run again with --confirm');
          return EXIT.invalid;
        }
        const a = await gql<{ applyProfile: { id: string; result: string; code: string | null; message: string; abortedAtStep: number | null; rollbackHeld: boolean | null; frames: { phase: string; index: number; command: string; outcome: string | null; replyHex: string | null }[] } }>(
          `mutation($id: ID!) { applyProfile(planId: $id, confirm: true) { id result code message abortedAtStep rollbackHeld frames { phase index command outcome replyHex } } }`,
          { id: p.planProfile.id },
        );
        const r = a.applyProfile;
        for (const f of r.frames) io.out(`  ${f.phase === 'rollback' ? 'rollback ' : ''}${f.index}. ${f.command}: ${f.outcome}${f.replyHex ? ` [${f.replyHex}]` : ''}`);
        const line = `${r.result}${r.code ? ` (${r.code})` : ''}: ${r.message} (audit ${r.id})`;
        if (r.result === 'applied' || r.result === 'nothing-to-do') {
          io.out(line);
          return EXIT.ok;
        }
        io.err(line);
        return r.result === 'refused' && r.frames.length === 0 && r.code === 'BAD_USER_INPUT' ? EXIT.invalid : EXIT.aborted;
      }
      case 'compare': {
        const [a, b] = await two();
        const c = await gql<{ compareInverters: { equal: string[]; differ: { key: string; a: unknown; b: unknown }[]; onlyA: string[]; onlyB: string[]; metadata: { what: string; a: unknown; b: unknown }[] } }>(
          `mutation($a: ID!, $b: ID!) { compareInverters(a: $a, b: $b) { equal differ { key a b } onlyA onlyB metadata { what a b } } }`,
          { a, b },
        );
        const r = c.compareInverters;
        io.out(`${'key'.padEnd(30)} ${a.padEnd(22)} ${b}`);
        for (const d of r.differ) io.out(`${d.key.padEnd(30)} ${fmt(d.a).padEnd(22)} ${fmt(d.b)}   DIFFERS`);
        for (const d of r.metadata) io.out(`${d.what.padEnd(30)} ${fmt(d.a).padEnd(22)} ${fmt(d.b)}   DIFFERS`);
        for (const k of r.onlyA) io.out(`${k.padEnd(30)} ${'(set)'.padEnd(22)} (missing)`);
        for (const k of r.onlyB) io.out(`${k.padEnd(30)} ${'(missing)'.padEnd(22)} (set)`);
        io.out(`${r.equal.length} key(s) equal: ${r.equal.join(', ')}`);
        return r.differ.length || r.metadata.length || r.onlyA.length || r.onlyB.length ? EXIT.findings : EXIT.ok;
      }
      case 'sync-check': {
        const [a, b] = await two();
        const s = await gql<{ syncCheck: { ok: boolean; inconclusive: boolean; findings: { rule: string; severity: string; message: string }[] } }>(
          `mutation($a: ID!, $b: ID!) { syncCheck(a: $a, b: $b) { ok inconclusive findings { rule severity message } } }`,
          { a, b },
        );
        const r = s.syncCheck;
        for (const f of r.findings) io.out(`${f.severity.toUpperCase().padEnd(8)} ${f.rule.padEnd(20)} ${f.message}`);
        io.out(r.ok ? (r.inconclusive ? 'no errors, but inconclusive: both units idle' : 'in sync') : 'NOT in sync');
        return r.ok ? EXIT.ok : EXIT.findings;
      }
      case 'save': {
        if (!values.name) throw new CliError('save needs --name N', EXIT.invalid);
        const p = profileArg(values.profile);
        if (!p.yaml) throw new CliError('save needs --profile FILE (a YAML file)', EXIT.invalid);
        const r = await gql<{ saveProfile: { name: string; savedBy: string } }>(`mutation($n: String!, $y: String!) { saveProfile(name: $n, yaml: $y) { name savedBy } }`, { n: values.name, y: p.yaml });
        io.out(`saved profile "${r.saveProfile.name}" (by ${r.saveProfile.savedBy})`);
        return EXIT.ok;
      }
      default:
        io.err(`unknown profile command "${cmd}"\n\n${PROFILE_USAGE}`);
        return EXIT.invalid;
    }
  } catch (e) {
    if (e instanceof CliError) {
      io.err(e.message);
      return e.exit;
    }
    throw e;
  }
}
