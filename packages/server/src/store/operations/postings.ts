/**
 * The ledger's transactions (docs/ledger.md): posting one, balanced, in the period its time falls
 * in (or the next still open), and reading them back with their postings.
 */
import { assertBalanced, partyOf, TransactionKinds, type NewTransaction, type Posting } from "../../ledger/ledger.js";
import { assignPeriod, periodOf } from "../../ledger/periods.js";
import type { LedgerTransaction } from "../store.js";
import { all, get, marks, run, type Logic, type Row } from "./operation.js";
import { currency, int, oneOf, optStr, str } from "./rows.js";

/** The query of the closed periods from a month on: fixed while the ledger lock is held (drivers may reuse its answer then). */
export const CLOSED_PERIODS_FROM = "SELECT period FROM closed_periods WHERE period >= ?";

/** The period a transaction of this time goes to: its month, or the next month still open. */
function* periodFor(createdAt: string): Logic<string> {
  const month = periodOf(createdAt);
  const closed = yield* all<{ period: string }>(CLOSED_PERIODS_FROM, month);
  return assignPeriod(
    month,
    closed.map((row) => row.period),
  );
}

/**
 * Posts one balanced transaction (BALANCED is checked before anything is written) and keeps the
 * users' stored balances equal to the sums of their funds and deposit postings (BALANCES_ARE_SUMS).
 * The caller holds the ledger lock.
 */
export function* post(txn: NewTransaction): Logic<{ seq: number; period: string }> {
  assertBalanced(txn);
  const period = yield* periodFor(txn.createdAt);
  const inserted = yield* get(
    `INSERT INTO ledger_transactions (id, kind, period, created_at, user_id, publisher, payment_id, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
    txn.id,
    txn.kind,
    period,
    txn.createdAt,
    txn.user ?? null,
    txn.publisher ?? null,
    txn.paymentId ?? null,
    txn.ref ?? null,
  );
  const seq = int(inserted!["seq"]);
  if (txn.postings.length > 0) {
    const params: unknown[] = [];
    for (const p of txn.postings) params.push(seq, p.account, p.currency, p.amount);
    yield* run(
      `INSERT INTO postings (txn_seq, account, currency, amount) VALUES ${txn.postings.map(() => "(?, ?, ?, ?)").join(", ")}`,
      ...params,
    );
  }
  // A user's stored balance is what the server owes them: the opposite of the account's sum.
  for (const p of txn.postings) {
    const { kind, party } = partyOf(p.account);
    if (kind === "funds") yield* run("UPDATE users SET balance_minor = balance_minor - ? WHERE id = ?", p.amount, party);
    else if (kind === "deposit") yield* run("UPDATE users SET deposit_minor = deposit_minor - ? WHERE id = ?", p.amount, party);
  }
  return { seq, period };
}

export function* postingsOf(seqs: readonly number[]): Logic<Map<number, Posting[]>> {
  const bySeq = new Map<number, Posting[]>();
  for (const seq of seqs) bySeq.set(seq, []);
  // Chunks: SQLite allows at most 32766 parameters in one statement.
  for (let i = 0; i < seqs.length; i += 500) {
    const chunk = seqs.slice(i, i + 500);
    const rows = yield* all(
      `SELECT txn_seq, account, currency, amount FROM postings WHERE txn_seq IN (${marks(chunk.length)}) ORDER BY seq`,
      ...chunk,
    );
    for (const row of rows) {
      bySeq.get(int(row["txn_seq"], "postings.txn_seq"))!.push({
        account: str(row["account"], "postings.account"),
        currency: currency(row["currency"], "postings.currency"),
        amount: int(row["amount"], "postings.amount"),
      });
    }
  }
  return bySeq;
}

export function* withPostings(rows: readonly Row[]): Logic<LedgerTransaction[]> {
  const postings = yield* postingsOf(rows.map((row) => int(row["seq"])));
  return rows.map((row) => ({
    seq: int(row["seq"], "ledger_transactions.seq"),
    id: str(row["id"], "ledger_transactions.id"),
    kind: oneOf(TransactionKinds, row["kind"], "ledger_transactions.kind"),
    period: str(row["period"], "ledger_transactions.period"),
    createdAt: str(row["created_at"], "ledger_transactions.created_at"),
    user: optStr(row["user_id"], "ledger_transactions.user_id"),
    publisher: optStr(row["publisher"], "ledger_transactions.publisher"),
    paymentId: optStr(row["payment_id"], "ledger_transactions.payment_id"),
    ref: optStr(row["ref"], "ledger_transactions.ref"),
    postings: postings.get(int(row["seq"])) ?? [],
  }));
}

export function* ledgerTransactions(query: {
  period?: string;
  user?: string;
  after?: number;
  limit: number;
}): Logic<LedgerTransaction[]> {
  const where = ["seq > ?"];
  const params: unknown[] = [query.after ?? 0];
  if (query.period !== undefined) {
    where.push("period = ?");
    params.push(query.period);
  }
  if (query.user !== undefined) {
    where.push("user_id = ?");
    params.push(query.user);
  }
  const rows = yield* all(
    `SELECT * FROM ledger_transactions WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?`,
    ...params,
    query.limit,
  );
  return yield* withPostings(rows);
}
