/**
 * The reads of a large period's settlement, in bounded memory: the sums it plans from, grouped in
 * the database (one row per account, however many payments the period holds), and the period's
 * transactions for users' statements a page at a time, by a keyset cursor on (user, position)
 * that the ledger_by_user index serves in order. Settling a period of a million payments thus
 * never holds more than one page and one user's statement.
 */
import type { CurrencyCode, MinorUnits, PartyId } from "@peage/protocol";
import { accountSums, int, periodBalances, withPostings, type Logic, type Row } from "./logic.js";
import { all } from "./operations/operation.js";
import type { PeriodSums, StatementCursor, StatementEntry, StatementPayment } from "./store.js";

export function* periodSums(period: string): Logic<PeriodSums> {
  const moved = yield* all(
    `SELECT t.kind, p.account, p.currency, SUM(p.amount) AS total FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
     WHERE t.period = ? AND t.kind IN ('payment', 'refund')
     GROUP BY t.kind, p.account, p.currency ORDER BY t.kind, p.account, p.currency`,
    period,
  );
  const kinds = moved.map((row) => row["kind"] as "payment" | "refund");
  return {
    ...(yield* periodBalances(period)),
    moved: accountSums(moved).map((sum, i) => ({ ...sum, kind: kinds[i]! })),
  };
}

export function* statementEntries(period: string, after: StatementCursor | undefined, limit: number): Logic<StatementEntry[]> {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`a page holds at least one entry, not ${limit}`);
  // Row values: SQLite and PostgreSQL both seek the (user_id, seq) index to the cursor.
  const rows = yield* all(
    `SELECT t.*, p.publisher AS pay_publisher, p.offer_hash, p.price_amount, p.price_currency,
            p.charged_amount, p.charged_currency, p.rate
     FROM ledger_transactions t LEFT JOIN payments p ON p.id = t.payment_id
     WHERE t.period = ? AND t.user_id IS NOT NULL AND t.kind <> 'collection' AND (t.user_id, t.seq) > (?, ?)
     ORDER BY t.user_id, t.seq LIMIT ?`,
    period,
    after?.user ?? "",
    after?.seq ?? -1,
    limit,
  );
  const transactions = yield* withPostings(rows);
  return transactions.map((transaction, i) => ({ transaction, payment: paymentOf(rows[i]!) }));
}

function paymentOf(row: Row): StatementPayment | undefined {
  if (row["pay_publisher"] === null || row["pay_publisher"] === undefined) return undefined;
  return {
    id: row["payment_id"] as string,
    publisher: row["pay_publisher"] as PartyId<"publisher">,
    offerHash: row["offer_hash"] as string,
    price: { amount: int(row["price_amount"]) as MinorUnits, currency: row["price_currency"] as CurrencyCode },
    charged: { amount: int(row["charged_amount"]) as MinorUnits, currency: row["charged_currency"] as CurrencyCode },
    rate: row["rate"] as string,
  };
}
