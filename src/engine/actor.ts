/**
 * Who asked: the API's auth layer runs each mutation inside `runAsActor(name, …)` and
 * `Engine.record` adds `actor` to the data of every event recorded while it runs, so the
 * engine's method signatures do not carry it. Once the mutation has answered the holder is
 * closed: timers the mutation started (a charge's ticks) inherit the async context but no
 * longer name the actor, since what they do later is the engine's own doing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

interface Holder {
  actor: string;
  open: boolean;
}

const als = new AsyncLocalStorage<Holder>();

export async function runAsActor<T>(actor: string, fn: () => T | Promise<T>): Promise<T> {
  const holder: Holder = { actor, open: true };
  try {
    return await als.run(holder, fn);
  } finally {
    holder.open = false;
  }
}

/** The token name (or "local") of the mutation being run, if any. */
export function currentActor(): string | undefined {
  const h = als.getStore();
  return h?.open ? h.actor : undefined;
}

/** The event with `data.actor` added when a mutation is running (unchanged otherwise). */
export function withActor<E extends { data?: Record<string, unknown> }>(e: E): E {
  const actor = currentActor();
  return actor ? { ...e, data: { ...e.data, actor } } : e;
}
