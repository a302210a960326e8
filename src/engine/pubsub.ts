/**
 * In-process publish/subscribe for the API's live subscriptions. Each subscriber gets a
 * bounded queue: a slow client loses its oldest updates (counted) instead of growing the
 * server's memory without limit.
 */
export class Topic<T> {
  private readonly subs = new Set<(v: T) => void>();

  /** How many subscribers there are (a publisher may skip building a value nobody reads). */
  get size(): number {
    return this.subs.size;
  }

  publish(value: T): void {
    for (const s of this.subs) s(value);
  }

  subscribe(fn: (v: T) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  /** An async iterator over future values that pass `filter`; ends when the consumer returns. */
  iterate(filter: (v: T) => boolean = () => true, maxQueue = 1000, onDrop?: (missed: number) => void): AsyncIterableIterator<T> & { dropped: number } {
    const queue: T[] = [];
    let wake: ((r: IteratorResult<T>) => void) | null = null;
    let done = false;
    const it = {
      dropped: 0,
      next: (): Promise<IteratorResult<T>> => {
        if (queue.length) return Promise.resolve({ value: queue.shift() as T, done: false });
        if (done) return Promise.resolve({ value: undefined as never, done: true });
        return new Promise((r) => (wake = r));
      },
      return: (): Promise<IteratorResult<T>> => {
        done = true;
        unsubscribe();
        queue.length = 0;
        if (wake) {
          const w = wake;
          wake = null;
          w({ value: undefined as never, done: true });
        }
        return Promise.resolve({ value: undefined as never, done: true });
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    const unsubscribe = this.subscribe((v) => {
      if (done || !filter(v)) return;
      if (wake) {
        const w = wake;
        wake = null;
        w({ value: v, done: false });
        return;
      }
      queue.push(v);
      if (queue.length > maxQueue) {
        queue.shift();
        it.dropped++;
        onDrop?.(1);
      }
    });
    return it;
  }
}
