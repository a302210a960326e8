/** Scheduled jobs through a real HTTP / WebSocket server on the simulated rig (RealClock at 10×). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startLiveServer, waitFor, type LiveServer } from '../helpers/server.js';

const JOB = `id name cron at timezone enabled catchUp maxLatenessS conditions actions source readOnly createdBy nextRunAt running lastRun { id outcome }`;
const RUN = `id jobId scheduledAt startedAt finishedAt trigger outcome code reason steps { action outcome code message } eventIds`;

interface JobOut {
  id: string;
  name: string;
  cron: string | null;
  enabled: boolean;
  source: string;
  readOnly: boolean;
  createdBy: string;
  nextRunAt: string | null;
  timezone: string;
}
interface RunOut {
  id: string;
  jobId: string;
  outcome: string;
  trigger: string;
  code: string | null;
  reason: string | null;
  eventIds: string[];
  steps: Array<{ outcome: string; code: string | null }>;
  scheduledAt: string | null;
}

describe('jobs API', () => {
  let s: LiveServer;
  beforeAll(async () => {
    s = await startLiveServer({ speed: 10 });
    await waitFor(async () => (await s.gql<{ devices: Array<{ online: boolean }> }>('{ devices { online } }')).data?.devices.filter((d) => d.online).length === 2, 'both PSUs online', 20_000);
  });
  afterAll(async () => s?.stop());

  const create = (input: Record<string, unknown>) => s.gql<{ createJob: JobOut }>(`mutation($i: JobInput!) { createJob(input: $i) { ${JOB} } }`, { i: input });

  it('createJob: an invalid cron, an unknown action type and an unknown charger are refused with their keys', async () => {
    const r = await create({ name: 'bad', cron: '0 61 * * *', actions: [{ type: 'charge-start', chargerId: 'nope' }] });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.message).toMatch(/^cron: not a cron expression croner reads \("0 61 \* \* \*"\): Invalid value for hour: 61/);
    const r2 = await create({ name: 'bad', cron: '0 1 * * *', actions: [{ type: 'charge-start', chargerId: 'nope' }, { type: 'warp' }] });
    expect(r2.errors?.[0]?.message).toMatch(/actions\.1\.type/);
    const r3 = await create({ name: 'bad', cron: '0 1 * * *', actions: [{ type: 'charge-start', chargerId: 'nope' }] });
    const issues = (r3.errors?.[0]?.extensions as { issues?: Array<{ path: string; message: string }> }).issues;
    expect(issues).toEqual([{ path: 'actions.0.chargerId', message: 'no charger "nope" (chargers: charger1)' }]);
  });

  it('validateJob previews the next five runs in the job\'s timezone before saving', async () => {
    const r = await s.gql<{ validateJob: { ok: boolean; issues: unknown[]; nextRuns: string[] } }>(
      `query($i: JobInput!) { validateJob(input: $i) { ok issues { path message } nextRuns } }`,
      { i: { name: 'x', cron: '30 2 * * *', timezone: 'Europe/Berlin', actions: [{ type: 'charge-stop', chargerId: 'charger1' }] } },
    );
    expect(r.data?.validateJob.ok).toBe(true);
    const runs = r.data!.validateJob.nextRuns;
    expect(runs).toHaveLength(5);
    for (const at of runs) expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(new Date(at))).toMatch(/^0[23]:[03]0$/);
    const bad = await s.gql<{ validateJob: { ok: boolean; issues: Array<{ path: string }> } }>(`query($i: JobInput!) { validateJob(input: $i) { ok issues { path message } } }`, { i: { name: 'x', cron: 'nope', actions: [] } });
    expect(bad.data?.validateJob.ok).toBe(false);
    expect(bad.data?.validateJob.issues.map((i) => i.path)).toEqual(['actions', 'cron']);
  });

  it('a created job runs on its schedule at simulated speed; runs are recorded, queried and streamed', async () => {
    const feed = collect<{ jobRuns: RunOut }>(s.ws(), `subscription { jobRuns { ${RUN} } }`);
    const r = await create({ name: 'standby every 10 s', cron: '*/10 * * * * *', timezone: 'UTC', actions: [{ type: 'dc-output-standby', target: 'all' }] });
    expect(r.errors).toBeUndefined();
    const job = r.data!.createJob;
    expect(job).toMatchObject({ source: 'API', readOnly: false, createdBy: 'local', enabled: true, cron: '*/10 * * * * *' });
    expect(Date.parse(job.nextRunAt!) % 10_000).toBe(0);
    const next = await s.gql<{ nextRuns: string[] }>(`query($id: ID!) { nextRuns(jobId: $id, count: 5) }`, { id: job.id });
    const ms = next.data!.nextRuns.map(Date.parse);
    expect(ms.slice(1).map((m, i) => m - ms[i])).toEqual([10_000, 10_000, 10_000, 10_000]);
    // 10 s at 10× is about a second of real time.
    await waitFor(() => feed.items.filter((x) => x.jobRuns.jobId === job.id && x.jobRuns.outcome === 'OK').length >= 2, 'two OK runs of the job', 20_000);
    const page = await s.gql<{ jobRuns: { edges: Array<{ node: RunOut }>; pageInfo: { hasNextPage: boolean; endCursor: string } } }>(
      `query($id: ID!) { jobRuns(jobId: $id, first: 1) { edges { node { ${RUN} } } pageInfo { hasNextPage endCursor } } }`,
      { id: job.id },
    );
    const [latest] = page.data!.jobRuns.edges.map((e) => e.node);
    expect(latest).toMatchObject({ outcome: 'OK', trigger: 'SCHEDULE' });
    expect(Date.parse(latest.scheduledAt!) % 10_000).toBe(0);
    expect(latest.eventIds.length).toBeGreaterThan(0);
    expect(page.data!.jobRuns.pageInfo.hasNextPage).toBe(true);
    const older = await s.gql<{ jobRuns: { edges: Array<{ node: RunOut }> } }>(`query($id: ID!, $a: String) { jobRuns(jobId: $id, first: 5, after: $a) { edges { node { id } } } }`, { id: job.id, a: page.data!.jobRuns.pageInfo.endCursor });
    expect(older.data!.jobRuns.edges.every((e) => Number(e.node.id) < Number(latest.id))).toBe(true);
    // The events it caused are the setpoint path's, with origin "schedule".
    const ev = await s.gql<{ events: { nodes: Array<{ id: string; type: string; data: { origin?: string } }> } }>(`{ events(first: 200) { nodes { id type data } } }`);
    const caused = ev.data!.events.nodes.filter((e) => latest.eventIds.includes(e.id));
    expect(caused.map((e) => e.type)).toContain('setpoint.accepted');
    expect(caused.filter((e) => e.type === 'setpoint.accepted').every((e) => e.data.origin === 'schedule')).toBe(true);
    // RUNNING, then the outcome, on the subscription (the second run at least was seen whole).
    const mine = feed.items.map((x) => x.jobRuns).filter((x) => x.jobId === job.id);
    const whole = mine.filter((x) => x.outcome === 'OK').map((x) => x.id).filter((id) => mine.findIndex((x) => x.id === id && x.outcome === 'RUNNING') >= 0);
    expect(whole.length).toBeGreaterThanOrEqual(1);
    for (const id of whole) expect(mine.filter((x) => x.id === id).map((x) => x.outcome)).toEqual(['RUNNING', 'OK']);
    feed.stop();

    const off = await s.gql<{ setJobEnabled: JobOut }>(`mutation($id: ID!) { setJobEnabled(id: $id, enabled: false) { ${JOB} } }`, { id: job.id });
    expect(off.data?.setJobEnabled).toMatchObject({ enabled: false, nextRunAt: null });
    const del = await s.gql<{ deleteJob: JobOut }>(`mutation($id: ID!) { deleteJob(id: $id) { id } }`, { id: job.id });
    expect(del.data?.deleteJob.id).toBe(job.id);
    expect((await s.gql<{ job: JobOut | null }>(`query($id: ID!) { job(id: $id) { id } }`, { id: job.id })).data?.job).toBeNull();
  });

  it('runJobNow answers with the finished run; a refusal carries the gate\'s code', async () => {
    const r = await create({ name: 'stop', cron: '0 0 1 1 *', actions: [{ type: 'charge-stop', chargerId: 'charger1' }] });
    const run = await s.gql<{ runJobNow: RunOut }>(`mutation($id: ID!) { runJobNow(id: $id) { ${RUN} } }`, { id: r.data!.createJob.id });
    expect(run.data?.runJobNow).toMatchObject({ trigger: 'MANUAL', outcome: 'REFUSED', code: 'NOT_CHARGING', scheduledAt: null });
    expect(run.data?.runJobNow.steps).toEqual([{ action: 'stop charge on charger1', outcome: 'refused', code: 'NOT_CHARGING', message: expect.stringMatching(/not charging/) }]);
    const upd = await s.gql<{ updateJob: JobOut }>(`mutation($id: ID!, $i: JobInput!) { updateJob(id: $id, input: $i) { ${JOB} } }`, {
      id: r.data!.createJob.id,
      i: { name: 'stop at six', cron: '0 6 * * *', timezone: 'Europe/Berlin', actions: [{ type: 'charge-stop', chargerId: 'charger1' }] },
    });
    expect(upd.data?.updateJob).toMatchObject({ name: 'stop at six', cron: '0 6 * * *', timezone: 'Europe/Berlin' });
    expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(new Date(upd.data!.updateJob.nextRunAt!))).toBe('06:00');
  });

  it('jobs from the config are listed as such and are read-only in the API', async () => {
    s.rig.engine.scheduler.loadConfigJobs([{ id: 'nightly-prune', name: 'nightly prune', cron: '0 3 * * *', actions: [{ type: 'prune-history', framesOlderThanDays: 7 }] }]);
    const list = await s.gql<{ jobs: JobOut[] }>(`{ jobs { ${JOB} } }`);
    expect(list.data?.jobs.find((j) => j.id === 'nightly-prune')).toMatchObject({ source: 'CONFIG', readOnly: true, createdBy: 'config' });
    for (const m of [
      `mutation { setJobEnabled(id: "nightly-prune", enabled: false) { id } }`,
      `mutation { deleteJob(id: "nightly-prune") { id } }`,
      `mutation { updateJob(id: "nightly-prune", input: { name: "x", cron: "0 4 * * *", actions: [{ type: "prune-history", framesOlderThanDays: 1 }] }) { id } }`,
    ]) {
      const r = await s.gql(m);
      expect(r.errors?.[0]?.extensions?.code).toBe('READ_ONLY');
      expect(r.errors?.[0]?.message).toMatch(/comes from the config file; change it there/);
    }
    const run = await s.gql<{ runJobNow: RunOut }>(`mutation { runJobNow(id: "nightly-prune") { outcome } }`);
    expect(run.data?.runJobNow.outcome).toBe('OK');
  });
});
