/**
 * Settlements of payments charged by use (upto offers, metered sessions; docs/protocol.md §3.12):
 * once per payment, the amount used recorded beside the maximum, and the unused part posted back
 * as the payment's postings for that part reversed (user, publisher, fee and exchange legs alike);
 * under a spending mandate, that part goes back to the mandate's budget too.
 */
import type { CurrencyCode, MinorUnits } from "@peage/protocol";
import { paymentPostings, reversePostings } from "../../ledger/ledger.js";
import type { NewUsageSettlement, PaymentRecord, UsageSettlementOutcome, UsageSettlementRecord } from "../store.js";
import { giveBackToMandate } from "./mandate-budget.js";
import { all, get, ledgerLock, lockedRow, marks, run, type Logic, type Row } from "./operation.js";
import { post, postingsOf } from "./postings.js";
import { toPayment } from "./records.js";
import { int, str } from "./rows.js";

function toUsageSettlement(row: Row, payment: PaymentRecord): UsageSettlementRecord {
  const ticks = row["ticks"] === null || row["ticks"] === undefined ? {} : { ticks: int(row["ticks"]) };
  return {
    id: str(row["id"]),
    paymentId: payment.id,
    used: { amount: int(row["used_amount"]) as MinorUnits, currency: str(row["used_currency"]) as CurrencyCode },
    ...ticks,
    createdAt: str(row["created_at"]),
    maximum: payment.price,
    chargedUsed: { amount: int(row["charged_used"]) as MinorUnits, currency: payment.charged.currency },
    feeUsed: int(row["fee_used"]),
  };
}

/** `part` of `whole` scaled to `of`, rounded down (the user's share of a charge never rounds up). */
const share = (of: number, part: number, whole: number): number =>
  whole === 0 ? 0 : Number((BigInt(of) * BigInt(part)) / BigInt(whole));

/**
 * Settles a payment charged by use, once: records the amount used beside the maximum and posts the
 * unused part back, as the payment's postings for that part reversed (user, publisher, fee and
 * exchange legs alike, so every currency stays balanced).
 */
export function* settleUsage(settlement: NewUsageSettlement): Logic<UsageSettlementOutcome> {
  yield* ledgerLock();
  const paymentRow = yield* get("SELECT * FROM payments WHERE id = ?", settlement.paymentId);
  if (!paymentRow) return { kind: "unknown-payment" };
  const payment = toPayment(paymentRow);
  yield* lockedRow("SELECT id FROM users WHERE id = ?", payment.user);
  const existing = yield* get("SELECT * FROM usage_settlements WHERE payment_id = ?", payment.id);
  if (existing) {
    const earlier = toUsageSettlement(existing, payment);
    const same = earlier.used.amount === settlement.used.amount && earlier.ticks === settlement.ticks;
    return { kind: same ? "duplicate" : "already-settled", settlement: earlier };
  }
  if (yield* get("SELECT id FROM refunds WHERE payment_id = ?", payment.id)) return { kind: "refunded" };
  if (settlement.used.currency !== payment.price.currency || settlement.used.amount > payment.price.amount)
    return { kind: "above-maximum", maximum: payment.price };
  const max = payment.price.amount;
  const chargedUsed =
    payment.charged.currency === payment.price.currency
      ? settlement.used.amount
      : share(payment.charged.amount, settlement.used.amount, max);
  const feeUsed = share(payment.fee ?? 0, settlement.used.amount, max);
  yield* run(
    `INSERT INTO usage_settlements (payment_id, id, used_amount, used_currency, charged_used, fee_used, ticks, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    payment.id,
    settlement.id,
    settlement.used.amount,
    settlement.used.currency,
    chargedUsed,
    feeUsed,
    settlement.ticks ?? null,
    settlement.createdAt,
  );
  if (settlement.used.amount < max) {
    const original = yield* get("SELECT seq FROM ledger_transactions WHERE payment_id = ? AND kind = 'payment'", payment.id);
    const legs = (yield* postingsOf([int(original!["seq"])])).get(int(original!["seq"])) ?? [];
    const userLeg = legs.find((leg) => /^(funds|float|receivable)\//.test(leg.account));
    const unused = paymentPostings({
      id: payment.id,
      user: payment.user,
      mode: userLeg?.account.startsWith("receivable/") ? "postpaid" : "prepaid",
      fromCardFloat: userLeg?.account.startsWith("float/") === true,
      publisher: payment.publisher,
      price: { amount: (max - settlement.used.amount) as MinorUnits, currency: payment.price.currency },
      charged: { amount: (payment.charged.amount - chargedUsed) as MinorUnits, currency: payment.charged.currency },
      fee: ((payment.fee ?? 0) - feeUsed) as MinorUnits,
    });
    yield* post({
      id: `txn_${settlement.id}`,
      kind: "refund",
      createdAt: settlement.createdAt,
      user: payment.user,
      publisher: payment.publisher,
      paymentId: payment.id,
      ref: settlement.id,
      postings: reversePostings(unused),
    });
    yield* giveBackToMandate(payment.id, payment.charged.amount - chargedUsed);
  }
  return {
    kind: "settled",
    settlement: toUsageSettlement({ ...existingRow(settlement), charged_used: chargedUsed, fee_used: feeUsed }, payment),
  };
}

function existingRow(settlement: NewUsageSettlement): Row {
  return {
    id: settlement.id,
    used_amount: settlement.used.amount,
    used_currency: settlement.used.currency,
    ticks: settlement.ticks ?? null,
    created_at: settlement.createdAt,
  };
}

/** The settlements of these payments, by payment id (a payment not charged by use, or not settled yet, has none). */
export function* settlementsOf(payments: readonly PaymentRecord[]): Logic<Map<string, UsageSettlementRecord>> {
  if (payments.length === 0) return new Map();
  const rows = yield* all(
    `SELECT * FROM usage_settlements WHERE payment_id IN (${marks(payments.length)})`,
    ...payments.map((p) => p.id),
  );
  const byId = new Map(payments.map((p) => [p.id, p]));
  return new Map(rows.map((row) => [str(row["payment_id"]), toUsageSettlement(row, byId.get(str(row["payment_id"]))!)]));
}
