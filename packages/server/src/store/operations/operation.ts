/**
 * What a store operation is: a generator that yields its queries (driver.ts) and, for operations
 * that post to the ledger, the ledger lock; a driver runs it in one transaction and sends back the
 * rows. The lock is taken "shared" by every transaction that posts and "exclusive" to close a
 * period, so a period is closed between transactions, never during one (docs/ledger.md).
 */
import type { SqlOp } from "../driver.js";

export { all, get, locked as lockedRow, run, type Row } from "../driver.js";

export type Op =
  | SqlOp
  /** "shared" for every transaction that posts; "exclusive" to close a period. A no-op on SQLite (one writer at a time). */
  | { readonly op: "lock"; readonly mode: "shared" | "exclusive" };

export type Logic<T> = Generator<Op, T, unknown>;

export function* ledgerLock(mode: "shared" | "exclusive" = "shared"): Logic<void> {
  yield { op: "lock", mode };
}

/** A list of n placeholders: "?, ?, ?". */
export const marks = (n: number) => Array.from({ length: n }, () => "?").join(", ");
