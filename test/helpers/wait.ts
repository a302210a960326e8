/**
 * How much longer than on an idle machine a wall-clock wait may take before it fails. Waits end
 * as soon as their condition holds, so patience costs nothing when things work; it only keeps a
 * loaded CI machine (load 10–20 on 2 cores) from failing a correct run. PP_TEST_PATIENCE overrides.
 */
export const PATIENCE = Number(process.env.PP_TEST_PATIENCE ?? 3);

/** Polls `fn` until it returns a truthy value or the time (× PATIENCE) runs out. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs * PATIENCE;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
