/**
 * The ledger audit (`peage ledger verify`, docs/ledger.md "Invariants"): every transaction
 * balanced, users' stored balances equal to their postings, one transaction per payment, refund,
 * payout and collection with the legs they recorded, and nothing posted in a period after it closed.
 * Each check is a query of its own; the audit reports every breach it finds, it repairs none.
 */
import type { LedgerAudit } from "../store.js";
import { all, get, type Logic } from "./operation.js";
import { big, int, str } from "./rows.js";

type PaymentMismatch = LedgerAudit["paymentMismatches"][number];

export function* auditLedger(): Logic<LedgerAudit> {
  const counts = yield* get("SELECT (SELECT COUNT(*) FROM ledger_transactions) AS t, (SELECT COUNT(*) FROM postings) AS p");
  return {
    transactions: int(counts?.["t"]),
    postings: int(counts?.["p"]),
    unbalanced: yield* unbalanced(),
    balanceMismatches: yield* balanceMismatches(),
    paymentMismatches: [...(yield* paymentCounts()), ...(yield* paymentLegs()), ...(yield* refundCounts())],
    lateTransactions: yield* lateTransactions(),
    settlementMismatches: yield* settlementMismatches(),
  };
}

/** BALANCED: each transaction's postings sum to zero in each currency. */
function* unbalanced(): Logic<LedgerAudit["unbalanced"]> {
  const rows = yield* all(
    `SELECT t.id, p.currency, SUM(p.amount) AS total FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
       GROUP BY t.seq, t.id, p.currency HAVING SUM(p.amount) <> 0 ORDER BY t.seq`,
  );
  return rows.map((row) => ({ transaction: str(row["id"]), currency: str(row["currency"]), sum: big(row["total"]).toString() }));
}

/** BALANCES_ARE_SUMS: a user's stored balance and deposit are the opposite of their accounts' sums. */
function* balanceMismatches(): Logic<LedgerAudit["balanceMismatches"]> {
  const found: { user: string; account: string; stored: string; postings: string }[] = [];
  for (const [column, prefix] of [
    ["balance_minor", "funds/"],
    ["deposit_minor", "deposit/"],
  ] as const) {
    const rows = yield* all(
      `SELECT u.id, u.${column} AS stored, COALESCE(s.total, 0) AS total FROM users u
       LEFT JOIN (SELECT account, SUM(amount) AS total FROM postings WHERE account LIKE '${prefix}%' GROUP BY account) s ON s.account = '${prefix}' || u.id
       WHERE u.${column} + COALESCE(s.total, 0) <> 0 ORDER BY u.id`,
    );
    for (const row of rows)
      found.push({
        user: str(row["id"]),
        account: `${prefix}${str(row["id"])}`,
        stored: big(row["stored"]).toString(),
        postings: (-big(row["total"])).toString(),
      });
  }
  return found;
}

/** ONE_TRANSACTION_PER_PAYMENT. */
function* paymentCounts(): Logic<PaymentMismatch[]> {
  const rows = yield* all(
    `SELECT p.id, COUNT(t.seq) AS n FROM payments p LEFT JOIN ledger_transactions t ON t.payment_id = p.id AND t.kind = 'payment'
     GROUP BY p.id HAVING COUNT(t.seq) <> 1 ORDER BY p.id`,
  );
  return rows.map((row) => ({ payment: str(row["id"]), problem: `${big(row["n"])} payment transactions instead of 1` }));
}

/** A payment's transaction debits the user what the payment charged and credits the publisher the price less the fee. */
function* paymentLegs(): Logic<PaymentMismatch[]> {
  const found: PaymentMismatch[] = [];
  for (const row of yield* all(
    `SELECT p.id, p.charged_amount, p.price_amount, p.fee_minor,
       COALESCE((SELECT SUM(q.amount) FROM postings q WHERE q.txn_seq = t.seq AND (q.account = 'funds/' || p.user_id OR q.account = 'float/' || p.user_id OR q.account = 'receivable/' || p.user_id)), 0) AS user_leg,
       COALESCE((SELECT SUM(q.amount) FROM postings q WHERE q.txn_seq = t.seq AND q.account = 'payable/' || p.publisher), 0) AS publisher_leg
     FROM payments p JOIN ledger_transactions t ON t.payment_id = p.id AND t.kind = 'payment' ORDER BY p.seq`,
  )) {
    if (big(row["user_leg"]) !== big(row["charged_amount"]))
      found.push({
        payment: str(row["id"]),
        problem: `the user was debited ${big(row["user_leg"])}, the payment charged ${big(row["charged_amount"])}`,
      });
    if (-big(row["publisher_leg"]) !== big(row["price_amount"]) - big(row["fee_minor"])) {
      found.push({
        payment: str(row["id"]),
        problem: `the publisher was credited ${-big(row["publisher_leg"])}, not the price less the fee (${big(row["price_amount"]) - big(row["fee_minor"])})`,
      });
    }
  }
  return found;
}

/** One refund transaction per refund. */
function* refundCounts(): Logic<PaymentMismatch[]> {
  const rows = yield* all(
    `SELECT r.payment_id, COUNT(t.seq) AS n FROM refunds r LEFT JOIN ledger_transactions t ON t.payment_id = r.payment_id AND t.kind = 'refund' AND t.ref = r.id GROUP BY r.payment_id HAVING COUNT(t.seq) <> 1`,
  );
  return rows.map((row) => ({
    payment: str(row["payment_id"]),
    problem: `refunded with ${big(row["n"])} refund transactions instead of 1`,
  }));
}

/** A closed period holds no transaction written after it closed. */
function* lateTransactions(): Logic<LedgerAudit["lateTransactions"]> {
  const rows = yield* all(
    "SELECT t.id, t.period FROM ledger_transactions t JOIN closed_periods c ON c.period = t.period WHERE t.seq > c.last_seq ORDER BY t.seq",
  );
  return rows.map((row) => ({ transaction: str(row["id"]), period: str(row["period"]) }));
}

/** One transaction per payout and collection, posting the amount recorded. */
function* settlementMismatches(): Logic<LedgerAudit["settlementMismatches"]> {
  const found: { id: string; problem: string }[] = [];
  for (const [table, kind, account] of [
    // A payout leaves the bank account in its own currency, whether or not it was converted.
    ["payouts", "payout", "'server/bank'"],
    ["collections", "collection", "'receivable/' || o.user_id"],
  ] as const) {
    for (const row of yield* all(
      `SELECT o.id, o.amount_minor, COUNT(DISTINCT t.seq) AS n,
         COALESCE((SELECT SUM(q.amount) FROM postings q JOIN ledger_transactions u ON u.seq = q.txn_seq WHERE u.ref = o.id AND u.kind = '${kind}' AND q.account = ${account}), 0) AS leg
       FROM ${table} o LEFT JOIN ledger_transactions t ON t.ref = o.id AND t.kind = '${kind}' GROUP BY o.id, o.amount_minor ORDER BY o.id`,
    )) {
      const leg = big(row["leg"]);
      const expected = -big(row["amount_minor"]);
      if (big(row["n"]) !== 1n) found.push({ id: str(row["id"]), problem: `${big(row["n"])} ${kind} transactions instead of 1` });
      else if (leg !== expected) found.push({ id: str(row["id"]), problem: `posted ${leg}, recorded ${expected}` });
    }
  }
  return [...found, ...(yield* payablesSettled())];
}

/** Each payout settles the payables it was made from: its amount, or each of its conversion's lines in the currency earned. */
function* payablesSettled(): Logic<LedgerAudit["settlementMismatches"]> {
  const found: { id: string; problem: string }[] = [];
  const legs = new Map<string, bigint>();
  for (const row of yield* all(
    `SELECT o.id, p.currency, SUM(p.amount) AS total FROM payouts o
       JOIN ledger_transactions t ON t.ref = o.id AND t.kind = 'payout'
       JOIN postings p ON p.txn_seq = t.seq AND p.account = 'payable/' || o.publisher GROUP BY o.id, p.currency`,
  ))
    legs.set(`${str(row["id"])} ${str(row["currency"])}`, big(row["total"]));
  for (const row of yield* all("SELECT id, currency, amount_minor, conversion FROM payouts ORDER BY id")) {
    const id = str(row["id"]);
    const expected: [string, bigint][] =
      row["conversion"] == null
        ? [[str(row["currency"]), big(row["amount_minor"])]]
        : (JSON.parse(str(row["conversion"])) as { lines: { from: { amount: number; currency: string } }[] }).lines.map(
            (line) => [line.from.currency, BigInt(line.from.amount)],
          );
    for (const [currency, amount] of expected) {
      const leg = legs.get(`${id} ${currency}`) ?? 0n;
      if (leg !== amount) found.push({ id, problem: `settled ${leg} of the ${currency} payable, recorded ${amount}` });
    }
  }
  return found;
}
