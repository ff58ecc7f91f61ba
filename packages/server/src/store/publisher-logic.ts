/**
 * What a publisher reads about itself (routes/publisher.ts), as logic.ts-style operations run by
 * Store.runLogic on either engine: its sales as a feed with a stable cursor, its earnings per
 * period and currency from the ledger, and its payouts and carry-overs from the settlements.
 *
 * The sales feed (self-service-migration.ts). A cursor over payments.seq would skip a payment
 * committed late: on PostgreSQL two payment transactions draw seq 7 and 8, 8 commits first, a
 * reader's page ends at 8, and 7 then becomes visible behind the cursor. So the feed has its own
 * positions, handed out to committed payments only, by assignSales under a lock on the
 * publisher's head row (SELECT … FOR UPDATE; SQLite's one writer): one assignment commits before
 * the next starts, so the positions visible at any moment are 1..n without a hole, and a payment
 * committed late is given n + 1, after every cursor already handed out.
 */
import type { CurrencyCode, MinorUnits, PartyId, Price } from "@peage/protocol";
import { all, get, lockedRow, run, type Logic } from "./operations/operation.js";
import { int } from "./operations/rows.js";
import type { PayoutConversion } from "./store.js";

export interface Sale {
  /** The sale's position in the publisher's feed (1, 2, …): what a cursor names. */
  readonly position: number;
  readonly paymentId: string;
  readonly offerHash: string;
  readonly price: Price;
  readonly nonce: string;
  readonly offerDate: string;
  readonly serverTime: string;
  /** Present once the payment was refunded. */
  readonly refund?: { readonly refundId: string; readonly createdAt: string };
}

const UNASSIGNED = `FROM payments p WHERE p.publisher = ? AND NOT EXISTS (SELECT 1 FROM sales_feed f WHERE f.payment_id = p.id)`;

/**
 * True when some committed payment of the publisher has no position yet (a read: no lock taken).
 * Payments are never deleted and the head counts the positions given, so comparing the two counts
 * is exact, and cheaper than looking for a payment without a position.
 */
export function* hasUnassignedSales(publisher: PartyId<"publisher">): Logic<boolean> {
  const row = (yield* get<{ paid: unknown; head: unknown }>(
    `SELECT (SELECT COUNT(*) FROM payments WHERE publisher = ?) AS paid,
            (SELECT position FROM sales_feed_heads WHERE publisher = ?) AS head`,
    publisher,
    publisher,
  ))!;
  return int(row.paid) > (row.head === null || row.head === undefined ? 0 : int(row.head));
}

/** Gives the publisher's committed payments without a position the next ones, in seq order; returns how many. */
export function* assignSales(publisher: PartyId<"publisher">): Logic<number> {
  yield* run("INSERT INTO sales_feed_heads (publisher, position) VALUES (?, 0) ON CONFLICT DO NOTHING", publisher);
  const head = int(
    (yield* lockedRow<{ position: unknown }>("SELECT position FROM sales_feed_heads WHERE publisher = ?", publisher))!.position,
  );
  const added = yield* run(
    `INSERT INTO sales_feed (publisher, position, payment_id)
       SELECT p.publisher, CAST(? AS BIGINT) + ROW_NUMBER() OVER (ORDER BY p.seq), p.id ${UNASSIGNED}`,
    head,
    publisher,
  );
  if (added > 0) yield* run("UPDATE sales_feed_heads SET position = ? WHERE publisher = ?", head + added, publisher);
  return added;
}

/** The publisher's sales after position `after`, in feed order. */
export function* salesAfter(publisher: PartyId<"publisher">, after: number, limit: number): Logic<Sale[]> {
  const rows = yield* all(
    `SELECT f.position, p.id, p.offer_hash, p.price_amount, p.price_currency, p.nonce, p.offer_date, p.server_time,
            r.id AS refund_id, r.created_at AS refunded_at
       FROM sales_feed f JOIN payments p ON p.id = f.payment_id LEFT JOIN refunds r ON r.payment_id = p.id
      WHERE f.publisher = ? AND f.position > ? ORDER BY f.position LIMIT ?`,
    publisher,
    after,
    limit,
  );
  return rows.map((row) => ({
    position: int(row["position"]),
    paymentId: row["id"] as string,
    offerHash: row["offer_hash"] as string,
    price: { amount: int(row["price_amount"]) as MinorUnits, currency: row["price_currency"] as CurrencyCode },
    nonce: row["nonce"] as string,
    offerDate: row["offer_date"] as string,
    serverTime: row["server_time"] as string,
    ...(row["refund_id"] === null || row["refund_id"] === undefined
      ? {}
      : { refund: { refundId: row["refund_id"] as string, createdAt: row["refunded_at"] as string } }),
  }));
}

/** One period and currency of a publisher's earnings, minor units. */
export interface Earnings {
  readonly period: string;
  readonly currency: CurrencyCode;
  /** Earned on the period's payments, the server's fee deducted. */
  readonly earned: bigint;
  readonly payments: number;
  /** Given back on the period's refunds. */
  readonly refunded: bigint;
  readonly refunds: number;
  /** earned − refunded. */
  readonly net: bigint;
  /** Paid out by the settlements booked in the period. */
  readonly paidOut: bigint;
}

/** The publisher's earnings per period and currency, from its payable account in the ledger; oldest first. */
export function* earnings(publisher: PartyId<"publisher">, period: string | undefined): Logic<Earnings[]> {
  const rows = yield* all(
    `SELECT t.period, p.currency, t.kind, SUM(p.amount) AS amount, COUNT(*) AS n
       FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
      WHERE p.account = ? AND t.kind IN ('payment', 'refund', 'payout') ${period === undefined ? "" : "AND t.period = ?"}
      GROUP BY t.period, p.currency, t.kind ORDER BY t.period, p.currency`,
    `payable/${publisher}`,
    ...(period === undefined ? [] : [period]),
  );
  const byKey = new Map<string, { period: string; currency: CurrencyCode; sums: Map<string, [bigint, number]> }>();
  for (const row of rows) {
    const key = `${row["period"] as string} ${row["currency"] as string}`;
    const entry = byKey.get(key) ?? {
      period: row["period"] as string,
      currency: row["currency"] as CurrencyCode,
      sums: new Map(),
    };
    entry.sums.set(row["kind"] as string, [BigInt(row["amount"] as bigint), int(row["n"])]);
    byKey.set(key, entry);
  }
  return [...byKey.values()].map(({ period: p, currency, sums }) => {
    // The payable account is a liability: a payment credits it (negative), a refund or a payout debits it.
    const [paid, payments] = sums.get("payment") ?? [0n, 0];
    const [back, refunds] = sums.get("refund") ?? [0n, 0];
    const [out] = sums.get("payout") ?? [0n, 0];
    return { period: p, currency, earned: -paid, payments, refunded: back, refunds, net: -paid - back, paidOut: out };
  });
}

/** A payout of a settlement, as recorded with it. */
export interface PublisherPayoutRow {
  readonly id: string;
  readonly period: string;
  readonly amount: Price;
  readonly sepa: boolean;
  readonly executionDate: string;
  readonly conversion?: PayoutConversion;
}

/** The publisher's payouts and the settlements' details (where its carry-overs are), oldest first. */
export function* payoutsOf(
  publisher: PartyId<"publisher">,
): Logic<{ payouts: PublisherPayoutRow[]; settlements: { period: string; details: string }[] }> {
  const payouts = (yield* all(
    `SELECT o.id, o.period, o.currency, o.amount_minor, o.sepa, o.conversion, s.execution_date
       FROM payouts o JOIN settlements s ON s.period = o.period WHERE o.publisher = ? ORDER BY o.period, o.currency`,
    publisher,
  )).map((row) => ({
    id: row["id"] as string,
    period: row["period"] as string,
    amount: { amount: int(row["amount_minor"]) as MinorUnits, currency: row["currency"] as CurrencyCode },
    sepa: row["sepa"] === true || int(row["sepa"]) === 1,
    executionDate: row["execution_date"] as string,
    ...(row["conversion"] == null ? {} : { conversion: JSON.parse(row["conversion"] as string) as PayoutConversion }),
  }));
  const settlements = (yield* all("SELECT period, details FROM settlements ORDER BY period")).map((row) => ({
    period: row["period"] as string,
    details: row["details"] as string,
  }));
  return { payouts, settlements };
}
