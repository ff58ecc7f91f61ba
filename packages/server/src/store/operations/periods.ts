/**
 * Accounting periods (docs/ledger.md, "Periods"): closing one, under the exclusive ledger lock, and
 * what settlement reads of a period: its transactions and payments, its users, and the sums that
 * were accrued, owed and settled before it.
 */
import { periodOf } from "../../ledger/periods.js";
import { StoreStateError, type ClosedPeriod, type PeriodActivity } from "../store.js";
import { all, get, ledgerLock, run, type Logic, type Row } from "./operation.js";
import { withPostings } from "./postings.js";
import { toClosed, toPayment, toUser, USER_SELECT } from "./records.js";
import { big, currency, int, str } from "./rows.js";

export function* closePeriod(period: string, at: string): Logic<ClosedPeriod> {
  if (period > periodOf(at))
    throw new StoreStateError(
      "ERR_PERIOD_NOT_OVER",
      `period ${period} has not started yet (it is ${periodOf(at)}): it cannot be closed`,
    );
  // Exclusive: no transaction is being written while the period closes, so none lands in it afterwards.
  yield* ledgerLock("exclusive");
  const existing = yield* get("SELECT * FROM closed_periods WHERE period = ?", period);
  if (existing) return toClosed(existing);
  const last = yield* get("SELECT COALESCE(MAX(seq), 0) AS seq FROM ledger_transactions");
  yield* run("INSERT INTO closed_periods (period, closed_at, last_seq) VALUES (?, ?, ?)", period, at, int(last?.["seq"]));
  return { period, closedAt: at, lastSeq: int(last?.["seq"]) };
}

export function* closedPeriods(): Logic<ClosedPeriod[]> {
  return (yield* all("SELECT * FROM closed_periods ORDER BY period")).map(toClosed);
}

export function* periodsWithTransactions(): Logic<string[]> {
  return (yield* all<{ period: string }>("SELECT DISTINCT period FROM ledger_transactions ORDER BY period")).map(
    (row) => row.period,
  );
}

export const accountSums = (rows: readonly Row[]) =>
  rows.map((row) => ({
    account: str(row["account"], "postings.account"),
    currency: currency(row["currency"], "postings.currency"),
    sum: big(row["total"]),
  }));

/** Sums paid out to publishers or collected from users before a period, by party and currency. */
const settledSums = (direction: "payout" | "collection", rows: readonly Row[]) =>
  rows.map((row) => ({
    party: str(row["party"], `${direction}s.party`),
    direction,
    currency: currency(row["currency"], `${direction}s.currency`),
    sum: big(row["total"]),
  }));

export function* periodActivity(period: string): Logic<PeriodActivity> {
  const txnRows = yield* all("SELECT * FROM ledger_transactions WHERE period = ? ORDER BY seq", period);
  const transactions = yield* withPostings(txnRows);
  const paymentRows = yield* all(
    "SELECT p.* FROM payments p WHERE p.id IN (SELECT t.payment_id FROM ledger_transactions t WHERE t.period = ? AND t.payment_id IS NOT NULL) ORDER BY p.seq",
    period,
  );
  return {
    ...(yield* periodBalances(period)),
    transactions,
    payments: new Map(paymentRows.map((row) => [str(row["id"]), toPayment(row)])),
  };
}

/** PeriodActivity but its transactions and payments: sums and parties, as many as the accounts, not the payments. */
export function* periodBalances(period: string): Logic<Omit<PeriodActivity, "transactions" | "payments">> {
  const users = (yield* all(
    `${USER_SELECT} WHERE u.id IN (SELECT t.user_id FROM ledger_transactions t WHERE t.period <= ? AND t.user_id IS NOT NULL) ORDER BY u.id`,
    period,
  )).map(toUser);
  const accruedThrough = accountSums(
    yield* all(
      `SELECT p.account, p.currency, SUM(p.amount) AS total FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
       WHERE t.period <= ? AND t.kind NOT IN ('collection', 'payout') AND (p.account LIKE 'payable/%' OR p.account LIKE 'receivable/%')
       GROUP BY p.account, p.currency ORDER BY p.account, p.currency`,
      period,
    ),
  );
  const balancesBefore = accountSums(
    yield* all(
      `SELECT p.account, p.currency, SUM(p.amount) AS total FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
       WHERE t.period < ? AND (p.account LIKE 'funds/%' OR p.account LIKE 'deposit/%')
       GROUP BY p.account, p.currency ORDER BY p.account, p.currency`,
      period,
    ),
  );
  // What earlier payouts took from each payable, per currency earned: the payout transactions' own
  // legs, since a payout converted into another currency settles payables in the currencies earned.
  const payouts = yield* all(
    `SELECT o.publisher AS party, p.currency, SUM(p.amount) AS total FROM payouts o
       JOIN ledger_transactions t ON t.ref = o.id AND t.kind = 'payout'
       JOIN postings p ON p.txn_seq = t.seq AND p.account = 'payable/' || o.publisher
     WHERE o.period < ? GROUP BY o.publisher, p.currency`,
    period,
  );
  const collections = yield* all(
    "SELECT user_id AS party, currency, SUM(amount_minor) AS total FROM collections WHERE period < ? GROUP BY user_id, currency",
    period,
  );
  return {
    period,
    users,
    accruedThrough,
    balancesBefore,
    settledBefore: [...settledSums("payout", payouts), ...settledSums("collection", collections)],
  };
}
