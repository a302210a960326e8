/**
 * Inverters (PI18 / LVX6048): settings profiles. Pick a unit and a saved profile → diff and plan
 * (the exact frames; nothing sent) → apply with a confirmation that shows the frames → progress
 * step by step (applyProgress subscription) → the audit trail. Dump a unit into a new profile;
 * compare and sync-check the pair as tables.
 */
import { gql, subscribe } from '../api.js';
import { fmtDateTime, h, replaceChildren, setText, toast } from '../dom.js';
import { applyProfileDialog } from '../dialogs.js';
import * as Q from '../queries.js';
import type { ApplyProgressMsg, CompareOut, InverterAudit, InverterSummary, ProfilePlan, SavedInverterProfile, SyncOut } from '../types.js';
import type { Page } from '../page.js';

const show = (v: unknown) => (v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

function table(testId: string, caption: string, head: string[], rows: Array<Array<string | Node>>, rowAttrs?: (i: number) => Record<string, string>): HTMLElement {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'table', 'data-testid': testId },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, head.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((r, i) => h('tr', rowAttrs?.(i) ?? {}, r.map((c) => h('td', {}, c))))),
    ),
  );
}

function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return `${err.code ? `Refused (${err.code}): ` : ''}${err.message ?? String(e)}`;
}

export const invertersPage: Page = {
  path: 'inverters',
  title: 'Inverters',
  mount(root) {
    let inverters: InverterSummary[] = [];
    let profiles: SavedInverterProfile[] = [];
    let plan: ProfilePlan | null = null;
    let stopProgress: (() => void) | null = null;

    const unitSel = h('select', { id: 'inv-unit', 'data-testid': 'inv-unit', 'aria-label': 'Inverter' });
    const profileSel = h('select', { id: 'inv-profile', 'data-testid': 'inv-profile', 'aria-label': 'Saved profile' });
    const planBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'plan-btn' }, 'Diff & plan');
    const applyBtn = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'apply-btn', disabled: true }, 'Apply…');
    const planOut = h('div', { 'data-testid': 'plan-out' });
    const progress = h('ol', { class: 'progress-list', 'data-testid': 'apply-progress' });
    const result = h('p', { 'data-testid': 'apply-result', role: 'status' });
    const audits = h('div', { 'data-testid': 'audit-trail' });
    const dumpName = h('input', { type: 'text', id: 'dump-name', 'aria-label': 'New profile name', placeholder: 'profile name', autocomplete: 'off' });
    const dumpBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'dump-btn' }, 'Dump unit → save as');
    const yamlView = h('pre', { class: 'yaml small', 'data-testid': 'profile-yaml' });
    const cmpOut = h('div', { 'data-testid': 'compare-out' });
    const cmpBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'compare-btn' }, 'Compare the two units');
    const syncBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'sync-btn' }, 'Sync-check the pair');

    const unitName = (id: string) => inverters.find((i) => i.id === id)?.name ?? id;

    const fillSelects = () => {
      const u = unitSel.value;
      replaceChildren(unitSel, inverters.map((i) => h('option', { value: i.id }, `${i.name} (${i.serial ?? i.id})${i.online ? '' : ' — offline'}`)));
      if (u) unitSel.value = u;
      const p = profileSel.value;
      replaceChildren(profileSel, profiles.length ? profiles.map((x) => h('option', { value: x.name }, `${x.name} (saved by ${x.savedBy})`)) : [h('option', { value: '' }, 'no saved profiles — dump a unit below')]);
      if (p) profileSel.value = p;
      const sel = profiles.find((x) => x.name === profileSel.value);
      setText(yamlView, sel?.yaml ?? '');
    };

    const loadAudits = async () => {
      try {
        const r = await gql<{ inverterAudits: InverterAudit[] }>(Q.INVERTER_AUDITS, { limit: 30 });
        replaceChildren(audits, table('audit-table', 'Audit trail (dry runs and applies, newest first)', ['When', 'Action', 'Result', 'Operator', 'Unit', 'Profile', 'Frames', 'Message'],
          r.inverterAudits.map((a) => [
            fmtDateTime(a.at), a.action, a.result + (a.rollbackHeld === null ? '' : a.rollbackHeld ? ' (rolled back)' : ' (rollback FAILED)'), a.operator, a.serial ?? a.deviceId, a.profileName ?? '—',
            a.frames.map((f) => `${f.phase === 'rollback' ? '↺ ' : ''}${f.command}${f.outcome ? ` ${f.outcome}` : ''}`).join(', ') || '—',
            a.message,
          ]),
          (i) => ({ 'data-audit-result': r.inverterAudits[i]!.result }),
        ));
      } catch (e) {
        replaceChildren(audits, h('p', { class: 'muted' }, errorText(e)));
      }
    };

    const load = async () => {
      try {
        const [a, b] = await Promise.all([gql<{ inverters: InverterSummary[] }>(Q.INVERTERS), gql<{ inverterProfiles: SavedInverterProfile[] }>(Q.INVERTER_PROFILES)]);
        inverters = a.inverters;
        profiles = b.inverterProfiles;
        fillSelects();
      } catch (e) {
        replaceChildren(planOut, h('p', { class: 'muted' }, `Inverters are not available on this server: ${errorText(e)}`));
      }
      await loadAudits();
    };

    const renderPlan = (p: ProfilePlan) => {
      const diff = p.diff.length
        ? table('diff-table', `Diff: what the profile changes on ${unitName(p.deviceId)}`, ['Key', 'Unit now', 'Profile'], p.diff.flatMap((d) => d.keys.map((k, i) => [k, show((d.from as unknown as unknown[])[i]), show((d.to as unknown as unknown[])[i])])))
        : h('p', { 'data-testid': 'plan-empty' }, `${unitName(p.deviceId)} already matches the profile; an apply would send nothing.`);
      const steps = p.steps.length
        ? table('plan-table', `Plan ${p.id}: the frames in order (nothing sent yet)`, ['#', 'Keys', 'Change', 'Frame', 'Hex'],
            p.steps.map((s) => [String(s.index), s.keys.join(', '), `${show(s.from)} → ${show(s.to)}`, h('code', {}, s.frameText), h('code', { class: 'small' }, s.frameHex)]))
        : null;
      replaceChildren(planOut, diff, steps);
      applyBtn.disabled = p.steps.length === 0;
    };

    planBtn.addEventListener('click', async () => {
      if (!unitSel.value || !profileSel.value) return toast('pick an inverter and a saved profile', 'error');
      planBtn.disabled = true;
      replaceChildren(progress);
      setText(result, '');
      try {
        const r = await gql<{ planProfile: ProfilePlan }>(Q.PLAN_PROFILE, { deviceId: unitSel.value, profile: { name: profileSel.value } });
        plan = r.planProfile;
        renderPlan(plan);
      } catch (e) {
        plan = null;
        applyBtn.disabled = true;
        const err = e as { message?: string };
        replaceChildren(planOut, h('div', { class: 'dialog-error', role: 'alert', 'data-testid': 'plan-error' }, errorText(e), ...(err.message ? [] : [])));
      } finally {
        planBtn.disabled = false;
        void loadAudits();
      }
    });

    applyBtn.addEventListener('click', () => {
      const p = plan;
      if (!p) return;
      applyProfileDialog(p, unitName(p.deviceId), async () => {
        replaceChildren(progress);
        setText(result, 'applying…');
        stopProgress?.();
        stopProgress = subscribe<{ applyProgress: ApplyProgressMsg }>(Q.SUB_APPLY_PROGRESS, { planId: p.id }, ({ applyProgress: m }) => {
          const text = m.phase === 'step' || m.phase === 'rollback' ? `${m.phase === 'rollback' ? 'rollback ' : ''}step ${m.index}/${m.total} ${m.command}: ${m.outcome}` : m.phase === 'done' ? `done: ${m.result}` : m.message;
          progress.append(h('li', { 'data-phase': m.phase, 'data-outcome': m.outcome ?? '' }, text));
        });
        // The subscription replays what was already reported for this plan, so no step is missed if it lands late.
        try {
          const r = await gql<{ applyProfile: { id: string; result: string; code: string | null; message: string } }>(Q.APPLY_PROFILE, { planId: p.id });
          const a = r.applyProfile;
          setText(result, `${a.result}${a.code ? ` (${a.code})` : ''}: ${a.message}`);
          result.dataset.result = a.result;
          applyBtn.disabled = true;
          void loadAudits();
          return a.result === 'applied' || a.result === 'nothing-to-do' ? `Profile ${a.result} on ${unitName(p.deviceId)}` : `Apply ${a.result}: see the audit`;
        } finally {
          setTimeout(() => stopProgress?.(), 3000);
        }
      });
    });

    profileSel.addEventListener('change', fillSelects);

    dumpBtn.addEventListener('click', async () => {
      const name = dumpName.value.trim();
      if (!unitSel.value || !name) return toast('pick an inverter and give the new profile a name', 'error');
      dumpBtn.disabled = true;
      try {
        const d = await gql<{ dumpProfile: { yaml: string } }>(Q.DUMP_PROFILE, { deviceId: unitSel.value });
        await gql(Q.SAVE_PROFILE, { name, yaml: d.dumpProfile.yaml });
        toast(`saved profile "${name}" from ${unitName(unitSel.value)}`);
        await load();
        profileSel.value = name;
        fillSelects();
      } catch (e) {
        toast(errorText(e), 'error');
      } finally {
        dumpBtn.disabled = false;
      }
    });

    const pair = (): [string, string] | null => (inverters.length >= 2 ? [inverters[0]!.id, inverters[1]!.id] : null);
    cmpBtn.addEventListener('click', async () => {
      const ab = pair();
      if (!ab) return toast('compare needs two inverters', 'error');
      try {
        const r = await gql<{ compareInverters: CompareOut }>(Q.COMPARE_INVERTERS, { a: ab[0], b: ab[1] });
        const c = r.compareInverters;
        replaceChildren(cmpOut, table('compare-table', `Compare ${unitName(ab[0])} vs ${unitName(ab[1])}`, ['Key', unitName(ab[0]), unitName(ab[1]), ''], [
          ...c.differ.map((d) => [d.key, show(d.a), show(d.b), 'differs']),
          ...c.metadata.map((d) => [d.what, show(d.a), show(d.b), 'differs']),
          ...c.onlyA.map((k) => [k, 'set', 'missing', 'only one']),
          ...c.onlyB.map((k) => [k, 'missing', 'set', 'only one']),
          ...c.equal.map((k) => [k, '=', '=', 'equal']),
        ]));
      } catch (e) {
        replaceChildren(cmpOut, h('p', { role: 'alert' }, errorText(e)));
      }
    });
    syncBtn.addEventListener('click', async () => {
      const ab = pair();
      if (!ab) return toast('sync-check needs the two units of a pair', 'error');
      try {
        const r = await gql<{ syncCheck: SyncOut }>(Q.SYNC_CHECK, { a: ab[0], b: ab[1] });
        const s = r.syncCheck;
        replaceChildren(cmpOut,
          h('p', { 'data-testid': 'sync-verdict' }, s.ok ? (s.inconclusive ? 'No errors, but inconclusive: both units idle' : 'In sync') : 'NOT in sync'),
          table('sync-table', 'Sync-check findings', ['Severity', 'Rule', 'Finding'], s.findings.map((f) => [f.severity, f.rule, f.message])),
        );
      } catch (e) {
        replaceChildren(cmpOut, h('p', { role: 'alert' }, errorText(e)));
      }
    });

    root.append(
      h('section', { class: 'card' },
        h('h2', {}, 'Settings profiles'),
        h('div', { class: 'form-row' }, h('label', { for: 'inv-unit' }, 'Inverter '), unitSel, h('label', { for: 'inv-profile' }, ' Profile '), profileSel, planBtn, applyBtn),
        yamlView,
        planOut,
        progress,
        result,
      ),
      h('section', { class: 'card' }, h('h2', {}, 'New profile from a unit'), h('div', { class: 'form-row' }, dumpName, dumpBtn)),
      h('section', { class: 'card' }, h('h2', {}, 'Parallel pair'), h('div', { class: 'form-row' }, cmpBtn, syncBtn), cmpOut),
      h('section', { class: 'card' }, audits),
    );
    void load();
    return () => stopProgress?.();
  },
};
