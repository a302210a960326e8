/**
 * Schedule: the scheduled jobs with their next run in this browser's local time, an enabled
 * toggle, run now, create/edit with the server's validation messages and a preview of the next
 * five runs (validateJob, as the operator types), and the run history with outcomes, live.
 * Jobs from the config file are shown read-only.
 */
import { ApiError, gql, subscribe } from '../api.js';
import { h, KeyedList, replaceChildren, setAttr, setText, toast, type Row } from '../dom.js';
import * as Q from '../queries.js';
import type { Page } from '../page.js';
import type * as G from '../generated/graphql.js';

/** What the page reads: the generated result types of its documents (npm run codegen). */
type JobRunView = G.JobRunsQuery['jobRuns']['nodes'][number];
type JobView = G.JobsQuery['jobs'][number];

/** Local time, with the weekday: when a job runs matters by the day. */
export function fmtLocal(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

const OUTCOME_TEXT: Record<JobRunView['outcome'], string> = { RUNNING: 'running', OK: 'ok', REFUSED: 'refused', FAILED: 'failed', SKIPPED: 'skipped' };
const TRIGGER_TEXT: Record<JobRunView['trigger'], string> = { SCHEDULE: 'schedule', CATCH_UP: 'catch-up', MANUAL: 'manual' };

const EXAMPLES: Array<[string, unknown]> = [
  ['Start charge', { type: 'charge-start', chargerId: 'charger1' }],
  ['Start charge at 20 A', { type: 'charge-start', chargerId: 'charger1', currentA: 20 }],
  ['Stop charge', { type: 'charge-stop', chargerId: 'charger1' }],
  ['Set DC output', { type: 'dc-output-set', target: 'all', voltageV: 53.5, currentA: 10 }],
  ['DC output standby', { type: 'dc-output-standby', target: 'all' }],
  ['Prune history', { type: 'prune-history', framesOlderThanDays: 7, samplesOlderThanDays: 90 }],
  ['Device command', { type: 'device-command', deviceId: '', command: '', args: {} }],
  ['MultiPlus: apply a mode (VE.Bus)', { type: 'device-command', deviceId: 'multi0', command: 'apply-mode', args: { mode: 'prefer-battery' } }],
  ['EV charger: set the current', { type: 'device-command', deviceId: 'evse0', command: 'set-current', args: { currentA: 10 } }],
  ['EV charger: enable / disable / sleep', { type: 'device-command', deviceId: 'evse0', command: 'sleep', args: {} }],
  ['Inverter: apply a saved profile (PI18, admin)', { type: 'device-command', deviceId: 'inv-master', command: 'apply-profile', args: { profile: 'summer' } }],
];

function outcomeBadge(outcome: JobRunView['outcome'] | null, code?: string | null): HTMLElement {
  const el = h('span', { class: 'badge badge-outcome', 'data-outcome': outcome ?? 'none' }, outcome ? `${OUTCOME_TEXT[outcome]}${code ? ` (${code})` : ''}` : 'never run');
  return el;
}

function describeSchedule(j: JobView): string {
  return j.cron ? `${j.cron} (${j.timezone})` : `once at ${fmtLocal(j.at)}`;
}

interface Ctx {
  refresh(): Promise<void>;
  edit(j: JobView | null): void;
}

function jobRow(j0: JobView, ctx: Ctx): Row<JobView> {
  let current = j0;
  // While a switch is on its way, the box shows what the person chose, not a list asked before.
  let switching = false;
  const name = h('td', { class: 'wrap' });
  const sched = h('td', { class: 'wrap', 'data-testid': 'job-schedule' });
  const next = h('td', { 'data-testid': 'job-next-run' });
  const last = h('td', { 'data-testid': 'job-last-run' });
  const toggle = h('input', {
    type: 'checkbox',
    'data-testid': 'job-enabled',
    onchange: async () => {
      const want = toggle.checked;
      switching = true;
      try {
        await gql<G.SetJobEnabledMutation>(Q.SET_JOB_ENABLED, { id: current.id, enabled: want } satisfies G.SetJobEnabledMutationVariables);
        toast(`"${current.name}" ${want ? 'enabled' : 'disabled'}`);
      } catch (e) {
        toggle.checked = !want;
        toast(e instanceof Error ? e.message : String(e), 'error');
      } finally {
        switching = false;
      }
      await ctx.refresh();
    },
  });
  const runBtn = h('button', {
    type: 'button',
    class: 'btn btn-small',
    'data-testid': 'job-run-now',
    onclick: async () => {
      runBtn.disabled = true;
      try {
        const r = await gql<G.RunJobNowMutation>(Q.RUN_JOB_NOW, { id: current.id } satisfies G.RunJobNowMutationVariables);
        const run = r.runJobNow;
        toast(`"${current.name}": ${OUTCOME_TEXT[run.outcome]}${run.reason ? ` — ${run.reason}` : ''}`, run.outcome === 'OK' ? 'ok' : 'error');
      } catch (e) {
        toast(e instanceof Error ? e.message : String(e), 'error');
      } finally {
        runBtn.disabled = false;
        await ctx.refresh();
      }
    },
  }, 'Run now');
  const editBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'job-edit', onclick: () => ctx.edit(current) }, 'Edit');
  const delBtn = h('button', {
    type: 'button',
    class: 'btn btn-small btn-danger',
    'data-testid': 'job-delete',
    onclick: async () => {
      if (!confirm(`Delete the job "${current.name}"? Its run history stays.`)) return;
      try {
        await gql(Q.DELETE_JOB, { id: current.id });
        toast(`"${current.name}" deleted`);
      } catch (e) {
        toast(e instanceof Error ? e.message : String(e), 'error');
      }
      await ctx.refresh();
    },
  }, 'Delete');
  const el = h('tr', { 'data-testid': 'job-row', 'data-job-id': j0.id },
    name, sched, next, last,
    h('td', {}, h('label', { class: 'inline-label' }, toggle, 'enabled')),
    h('td', {}, h('div', { class: 'actions actions-tight' }, runBtn, editBtn, delBtn)),
  );
  return {
    el,
    update(j) {
      current = j;
      replaceChildren(name, h('span', { class: 'block' }, j.name), j.readOnly ? h('span', { class: 'badge', 'data-testid': 'job-from-config', title: 'Declared in the config file: change it there.' }, 'from config') : null);
      setText(sched, describeSchedule(j));
      setText(next, j.enabled ? fmtLocal(j.nextRunAt) : 'disabled');
      replaceChildren(last, j.lastRun ? h('span', {}, outcomeBadge(j.running ? 'RUNNING' : j.lastRun.outcome, j.lastRun.code), ' ', h('span', { class: 'muted small' }, fmtLocal(j.lastRun.startedAt))) : outcomeBadge(null));
      if (!switching) toggle.checked = j.enabled;
      toggle.disabled = j.readOnly;
      editBtn.disabled = j.readOnly;
      delBtn.disabled = j.readOnly;
      setAttr(el, 'data-enabled', String(j.enabled));
    },
  };
}

function runRow(r0: JobRunView, jobName: (id: string) => string): Row<JobRunView> {
  const cells = Array.from({ length: 6 }, () => h('td', {}));
  cells[5].className = 'wrap';
  const el = h('tr', { 'data-testid': 'run-row', 'data-run-id': r0.id }, cells);
  return {
    el,
    update(r) {
      setAttr(el, 'data-outcome', r.outcome);
      setText(cells[0], jobName(r.jobId));
      setText(cells[1], r.scheduledAt ? fmtLocal(r.scheduledAt) : '—');
      setText(cells[2], fmtLocal(r.startedAt));
      setText(cells[3], TRIGGER_TEXT[r.trigger]);
      replaceChildren(cells[4], outcomeBadge(r.outcome, r.code));
      const steps = r.steps.map((s) => `${s.action}: ${s.outcome}${s.code ? ` (${s.code})` : ''}`).join(' · ');
      setText(cells[5], [r.reason, steps, r.eventIds.length ? `${r.eventIds.length} event(s)` : ''].filter(Boolean).join(' — '));
    },
  };
}

/** The create/edit form: the server checks every change (validateJob) and previews the next runs. */
function jobForm(ctx: Ctx): { el: HTMLElement; open(j: JobView | null): void } {
  let editing: JobView | null = null;
  const title = h('h2', {}, 'New job');
  const name = h('input', { id: 'job-name', 'data-testid': 'job-form-name', placeholder: 'Charge on the cheap tariff' });
  const kind = h('select', { id: 'job-kind', 'data-testid': 'job-form-kind' }, h('option', { value: 'cron' }, 'Repeating (cron)'), h('option', { value: 'at' }, 'Once'));
  const cron = h('input', { id: 'job-cron', 'data-testid': 'job-form-cron', placeholder: '0 1 * * *  (minute hour day month weekday; seconds first optional)' });
  const at = h('input', { id: 'job-at', type: 'datetime-local', step: '1', 'data-testid': 'job-form-at' });
  const tz = h('input', { id: 'job-tz', 'data-testid': 'job-form-timezone' });
  const catchUp = h('select', { id: 'job-catchup', 'data-testid': 'job-form-catchup' }, h('option', { value: 'SKIP' }, 'Skip a run missed while the server was down'), h('option', { value: 'ONCE' }, 'Run a missed run once at start'));
  const lateness = h('input', { id: 'job-lateness', type: 'number', min: '1', 'data-testid': 'job-form-lateness' });
  const enabled = h('input', { id: 'job-enabled', type: 'checkbox', checked: true });
  const actions = h('textarea', { id: 'job-actions', rows: '5', class: 'code', 'data-testid': 'job-form-actions', spellcheck: 'false' });
  const conditions = h('textarea', { id: 'job-conditions', rows: '3', class: 'code', 'data-testid': 'job-form-conditions', spellcheck: 'false' });
  const example = h('select', { 'aria-label': 'Add an action', 'data-testid': 'job-form-add-action' }, h('option', { value: '' }, 'Add an action…'), EXAMPLES.map(([label], i) => h('option', { value: String(i) }, label)));
  const issues = h('ul', { class: 'issues', 'data-testid': 'job-form-issues', 'aria-live': 'polite' });
  const preview = h('ol', { class: 'preview', 'data-testid': 'job-form-preview' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'job-form-save' }, 'Save');
  const cancel = h('button', { type: 'button', class: 'btn', onclick: () => close() }, 'Cancel');
  const field = (label: string, input: HTMLElement, hint?: string) => h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), input, hint ? h('span', { class: 'muted small' }, hint) : null);
  const cronField = field('Cron expression', cron, 'croner syntax; five fields, or six with seconds first');
  const atField = field('Time (local)', at);
  const form = h('form', { class: 'card job-form', 'data-testid': 'job-form', hidden: true },
    h('header', { class: 'tile-head' }, title),
    field('Name', name),
    field('Schedule', kind),
    cronField,
    atField,
    field('Timezone', tz, 'IANA name; the cron is read in it (DST included)'),
    field('Catch-up', catchUp),
    field('Latest catch-up (s)', lateness),
    h('label', { class: 'inline-label' }, enabled, 'Enabled'),
    field('Actions (JSON list; run in order, stop at the first refusal)', actions),
    example,
    field('Conditions (JSON list, all must hold; e.g. [{"type":"soc-below","batteryId":"bms0","pct":60}])', conditions),
    h('h3', { class: 'small' }, 'Problems'),
    issues,
    h('h3', { class: 'small' }, 'Next five runs (your local time)'),
    preview,
    h('div', { class: 'actions' }, save, cancel),
  );

  const parseJson = (el: HTMLTextAreaElement, key: string): { ok: true; value: unknown } | { ok: false; message: string } => {
    const text = el.value.trim();
    if (!text) return { ok: true, value: [] };
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      return { ok: false, message: `${key}: not JSON (${(e as Error).message})` };
    }
  };

  /** The form as a JobInput, or the problems the browser can see itself. */
  const input = (): { ok: true; value: Record<string, unknown> } | { ok: false; messages: string[] } => {
    const a = parseJson(actions, 'actions');
    const c = parseJson(conditions, 'conditions');
    const bad = [a, c].filter((x): x is { ok: false; message: string } => !x.ok).map((x) => x.message);
    if (bad.length) return { ok: false, messages: bad };
    const v: Record<string, unknown> = {
      name: name.value,
      timezone: tz.value.trim() || undefined,
      enabled: enabled.checked,
      catchUp: catchUp.value,
      actions: (a as { value: unknown }).value,
      conditions: (c as { value: unknown }).value,
    };
    if (lateness.value) v.maxLatenessS = Number(lateness.value);
    if (kind.value === 'cron') v.cron = cron.value;
    else v.at = at.value ? new Date(at.value).toISOString() : undefined;
    return { ok: true, value: v };
  };

  const showIssues = (lines: string[]) => {
    replaceChildren(issues, lines.map((l) => h('li', {}, l)));
    issues.hidden = !lines.length;
  };

  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = async () => {
    const my = ++seq;
    const i = input();
    if (!i.ok) {
      showIssues(i.messages);
      replaceChildren(preview);
      return;
    }
    try {
      const r = await gql<G.ValidateJobQuery>(Q.VALIDATE_JOB, { input: i.value });
      if (my !== seq) return;
      showIssues(r.validateJob.issues.map((x) => `${x.path || 'job'}: ${x.message}`));
      replaceChildren(preview, r.validateJob.nextRuns.map((t) => h('li', {}, fmtLocal(t))));
    } catch (e) {
      if (my !== seq) return;
      showIssues([e instanceof Error ? e.message : String(e)]);
      replaceChildren(preview);
    }
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void check(), 250);
  };
  const syncKind = () => {
    cronField.hidden = kind.value !== 'cron';
    atField.hidden = kind.value !== 'at';
  };
  for (const el of [name, cron, at, tz, lateness, actions, conditions]) el.addEventListener('input', later);
  for (const el of [kind, catchUp, enabled]) el.addEventListener('change', () => (syncKind(), later()));
  example.addEventListener('change', () => {
    const ex = EXAMPLES[Number(example.value)];
    example.value = '';
    if (!ex) return;
    let list: unknown[] = [];
    try {
      const cur = actions.value.trim() ? JSON.parse(actions.value) : [];
      list = Array.isArray(cur) ? cur : [cur];
    } catch {
      list = [];
    }
    actions.value = JSON.stringify([...list, ex[1]], null, 1);
    later();
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const i = input();
    if (!i.ok) return showIssues(i.messages);
    save.disabled = true;
    try {
      if (editing) await gql(Q.UPDATE_JOB, { id: editing.id, input: i.value });
      else await gql(Q.CREATE_JOB, { input: i.value });
      toast(`"${String(i.value.name)}" saved`);
      close();
      await ctx.refresh();
    } catch (e) {
      const errs = e instanceof ApiError ? e.errors : [];
      const list = (errs[0]?.extensions as { issues?: Array<{ path: string; message: string }> } | undefined)?.issues;
      showIssues(list ? list.map((x) => `${x.path || 'job'}: ${x.message}`) : [e instanceof Error ? e.message : String(e)]);
    } finally {
      save.disabled = false;
    }
  });

  const close = () => {
    form.hidden = true;
    editing = null;
  };

  const pad = (n: number) => String(n).padStart(2, '0');
  const localInput = (iso: string) => {
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  };

  return {
    el: form,
    open(j) {
      editing = j;
      setText(title, j ? `Edit "${j.name}"` : 'New job');
      name.value = j?.name ?? '';
      kind.value = j && !j.cron ? 'at' : 'cron';
      cron.value = j?.cron ?? '';
      at.value = j?.at ? localInput(j.at) : '';
      tz.value = j?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
      catchUp.value = j?.catchUp ?? 'SKIP';
      lateness.value = j ? String(j.maxLatenessS) : '';
      enabled.checked = j?.enabled ?? true;
      actions.value = j ? JSON.stringify(j.actions, null, 1) : '';
      conditions.value = j && Array.isArray(j.conditions) && j.conditions.length ? JSON.stringify(j.conditions, null, 1) : '';
      syncKind();
      showIssues([]);
      replaceChildren(preview);
      form.hidden = false;
      name.focus();
      if (j) void check();
    },
  };
}

export const schedulePage: Page = {
  path: 'schedule',
  title: 'Schedule',
  mount(root) {
    const msg = h('p', { class: 'muted', 'data-testid': 'schedule-status' });
    const body = h('tbody', {});
    const runsBody = h('tbody', {});
    const newBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'job-new', onclick: () => form.open(null) }, 'New job…');
    let jobs: JobView[] = [];
    const jobName = (id: string) => jobs.find((j) => j.id === id)?.name ?? id;
    const ctx: Ctx = {
      refresh: () => {
        changedAt = loadSeq;
        return load();
      },
      edit: (j) => form.open(j),
    };
    const form = jobForm(ctx);
    const rows = new KeyedList<JobView>(body, (j) => j.id, (j) => jobRow(j, ctx));
    const runRows = new KeyedList<JobRunView>(runsBody, (r) => r.id, (r) => runRow(r, jobName));
    let runs: JobRunView[] = [];
    root.append(
      h('div', { class: 'toolbar' }, h('h1', { class: 'page-title' }, 'Schedule'), h('div', { class: 'actions' }, newBtn)),
      msg,
      form.el,
      h('div', { class: 'card table-wrap' },
        h('table', { class: 'table', 'data-testid': 'jobs-table' },
          h('caption', {}, 'Jobs (times in your local time)'),
          h('thead', {}, h('tr', {}, ['Name', 'Schedule', 'Next run', 'Last run', 'Enabled', ''].map((t) => h('th', { scope: 'col' }, t)))),
          body)),
      h('div', { class: 'card table-wrap' },
        h('table', { class: 'table', 'data-testid': 'runs-table' },
          h('caption', {}, 'Run history'),
          h('thead', {}, h('tr', {}, ['Job', 'Scheduled', 'Started', 'Trigger', 'Outcome', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
          runsBody)),
    );
    let disposed = false;
    // An answer paints only if no newer one has, and if it was asked after the person's last
    // change (ctx.refresh follows each switch, edit or run): one asked before, arriving late,
    // would show a state the server has left. (Not "only the newest": live runs ask every
    // half second, and on a slow link each answer would be outrun by the next and none painted.)
    let loadSeq = 0;
    let painted = 0;
    let changedAt = 0;
    const load = async () => {
      const seq = ++loadSeq;
      try {
        const [j, r] = await Promise.all([gql<G.JobsQuery>(Q.JOBS), gql<G.JobRunsQuery>(Q.JOB_RUNS, { first: 50 } satisfies G.JobRunsQueryVariables)]);
        if (disposed || seq <= painted || seq <= changedAt) return;
        painted = seq;
        jobs = j.jobs;
        runs = r.jobRuns.nodes;
        rows.render(jobs);
        runRows.render(runs);
        const text = jobs.length ? '' : 'No scheduled jobs yet.';
        setText(msg, text);
        msg.hidden = !text;
      } catch (e) {
        setText(msg, `Cannot load the schedule: ${e instanceof Error ? e.message : String(e)}`);
        msg.hidden = false;
      }
    };
    let reload: ReturnType<typeof setTimeout> | undefined;
    const stopLive = subscribe<G.JobRunsLiveSubscription>(Q.JOB_RUNS_LIVE, undefined, (d) => {
      const r = d.jobRuns;
      runs = [r, ...runs.filter((x) => x.id !== r.id)].sort((a, b) => Number(b.id) - Number(a.id)).slice(0, 50);
      runRows.render(runs);
      // The job's last run and next run change with it.
      clearTimeout(reload);
      reload = setTimeout(() => void load(), 200);
    });
    void load();
    return () => {
      disposed = true;
      clearTimeout(reload);
      stopLive();
    };
  },
};
