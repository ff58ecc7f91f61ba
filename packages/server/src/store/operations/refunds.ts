/**
 * Refunds: a payment reversed once, in full, by the opposite of its ledger transaction's postings;
 * a payment made under a spending mandate gives what is refunded back to the mandate's budget.
 */
import { reversePostings } from "../../ledger/ledger.js";
import { StoreStateError, type NewRefund, type PaymentRecord, type RefundOutcome, type RefundRecord } from "../store.js";
import { giveBackToMandate } from "./mandate-budget.js";
import { get, ledgerLock, lockedRow, run, type Logic, type Row } from "./operation.js";
import { post, postingsOf } from "./postings.js";
import { toPayment } from "./records.js";
import { int, str } from "./rows.js";

function* refundRecord(refund: Row, payment: PaymentRecord): Logic<RefundRecord> {
  const txn = yield* get(
    "SELECT period FROM ledger_transactions WHERE payment_id = ? AND kind = 'refund' AND ref = ?",
    payment.id,
    str(refund["id"], "refunds.id"),
  );
  return {
    id: str(refund["id"], "refunds.id"),
    paymentId: payment.id,
    reason: str(refund["reason"], "refunds.reason"),
    createdAt: str(refund["created_at"], "refunds.created_at"),
    user: payment.user,
    publisher: payment.publisher,
    charged: payment.charged,
    price: payment.price,
    period: str(txn?.["period"], "the period of the refund's ledger transaction"),
  };
}

export function* refundPayment(refund: NewRefund): Logic<RefundOutcome> {
  yield* ledgerLock();
  const paymentRow = yield* get("SELECT * FROM payments WHERE id = ?", refund.paymentId);
  if (!paymentRow) return { kind: "unknown-payment" };
  const payment = toPayment(paymentRow);
  yield* lockedRow("SELECT id FROM users WHERE id = ?", payment.user);
  const existing = yield* get("SELECT * FROM refunds WHERE payment_id = ?", payment.id);
  if (existing) return { kind: "already-refunded", refund: yield* refundRecord(existing, payment) };
  const original = yield* get("SELECT seq FROM ledger_transactions WHERE payment_id = ? AND kind = 'payment'", payment.id);
  if (!original)
    throw new StoreStateError(
      "ERR_LEDGER_INVARIANT",
      `ONE_TRANSACTION_PER_PAYMENT: payment ${payment.id} has no ledger transaction to reverse`,
    );
  // A settled payment gave its unused part back already: the refund reverses what is left.
  const returned = yield* get(
    "SELECT t.seq FROM ledger_transactions t JOIN usage_settlements s ON t.id = 'txn_' || s.id WHERE s.payment_id = ?",
    payment.id,
  );
  const settled = yield* get("SELECT charged_used FROM usage_settlements WHERE payment_id = ?", payment.id);
  const seqs = [int(original["seq"]), ...(returned ? [int(returned["seq"])] : [])];
  const postings = [...(yield* postingsOf(seqs)).values()].flat();
  yield* run(
    "INSERT INTO refunds (id, payment_id, reason, created_at) VALUES (?, ?, ?, ?)",
    refund.id,
    payment.id,
    refund.reason,
    refund.createdAt,
  );
  const { period } = yield* post({
    id: `txn_${refund.id}`,
    kind: "refund",
    createdAt: refund.createdAt,
    user: payment.user,
    publisher: payment.publisher,
    paymentId: payment.id,
    ref: refund.id,
    postings: reversePostings(postings),
  });
  yield* giveBackToMandate(payment.id, settled ? int(settled["charged_used"]) : payment.charged.amount);
  return {
    kind: "refunded",
    refund: {
      ...refund,
      user: payment.user,
      publisher: payment.publisher,
      charged: payment.charged,
      price: payment.price,
      period,
    },
  };
}
