/**
 * Messages between threads gathered over one turn of the sender's event loop and posted as one:
 * a message costs a structured clone and a wake-up of the other thread whatever its size, and
 * the payments in one turn share a commit (or a thread's turn) anyway. Used both ways between the
 * event loop and the SQLite writer (store/sqlite-thread.ts, store/sqlite-writer.ts) and the payment
 * threads (payment-pool.ts, payment-thread.ts).
 */

/** A function that queues one item; the items queued in a turn go to `post` together, in order, at its end. */
export function batchPerTurn<T>(post: (items: T[]) => void): (item: T) => void {
  let items: T[] = [];
  return (item) => {
    if (items.push(item) > 1) return;
    setImmediate(() => {
      const batch = items;
      items = [];
      post(batch);
    });
  };
}
