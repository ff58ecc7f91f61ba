/** Payments: recording one (the checks, the row and its ledger transaction, in one transaction), and reading them back. */
import type { MinorUnits } from "@peage/protocol";
import { paymentPostings } from "../../ledger/ledger.js";
import type { PaymentKeyCheck, PaymentOutcome, PaymentPage, PaymentQuery, PaymentRecord, UserRecord } from "../store.js";
import { floatOf } from "./funds.js";
import { all, get, ledgerLock, run, type Logic } from "./operation.js";
import { post } from "./postings.js";
import { toPayment } from "./records.js";
import { int, str } from "./rows.js";
import { settlementsOf } from "./usage-settlements.js";
import { lockedAccount, usedInMonth } from "./users.js";

export function* findPaymentByNonce(user: string, nonce: string): Logic<PaymentRecord | undefined> {
  const row = yield* get("SELECT * FROM payments WHERE user_id = ? AND nonce = ?", user, nonce);
  return row && toPayment(row);
}

export function* getPayment(id: string): Logic<PaymentRecord | undefined> {
  const row = yield* get("SELECT * FROM payments WHERE id = ?", id);
  return row && toPayment(row);
}

export function* recordPayment(payment: PaymentRecord, key?: PaymentKeyCheck): Logic<PaymentOutcome> {
  yield* ledgerLock();
  // The user's row first: payments of one user are serialised on it, so the nonce, balance and
  // limit read below are the latest committed.
  const user = yield* lockedAccount(payment.user);
  // Re-checked inside the transaction: a concurrent identical request may have won the race.
  const existing = yield* get("SELECT * FROM payments WHERE user_id = ? AND nonce = ?", payment.user, payment.nonce);
  if (existing && str(existing["request_hash"]) === payment.requestHash)
    return { kind: "duplicate", payment: toPayment(existing) };
  // Verified with a key kept by the server: refused as the request would be if the key were read now.
  if (key !== undefined && user?.kid !== key.kid) return { kind: "key-replaced" };
  if (existing) return { kind: "nonce-reused" };
  if (!user) return { kind: "unknown-user" };
  const refused = yield* refusal(user, payment);
  if (refused) return refused;
  const fee = payment.fee ?? (0 as MinorUnits);
  yield* run(
    `INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
       rate, rate_date, nonce, offer_date, server_time, request_hash, acknowledgment, fee_minor)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    payment.id,
    payment.user,
    payment.publisher,
    payment.offerHash,
    payment.price.amount,
    payment.price.currency,
    payment.charged.amount,
    payment.charged.currency,
    payment.rate,
    payment.rateDate ?? null,
    payment.nonce,
    payment.offerDate,
    payment.serverTime,
    payment.requestHash,
    JSON.stringify(payment.acknowledgment),
    fee,
  );
  yield* post({
    id: `txn_${payment.id}`,
    kind: "payment",
    createdAt: payment.serverTime,
    user: payment.user,
    publisher: payment.publisher,
    paymentId: payment.id,
    postings: paymentPostings({
      id: payment.id,
      user: payment.user,
      mode: user.mode,
      fromCardFloat: payment.fromCardFloat === true,
      publisher: payment.publisher,
      price: payment.price,
      charged: payment.charged,
      fee,
    }),
  });
  return { kind: "recorded", payment: { ...payment, fee } };
}

export function* listPayments(query: PaymentQuery): Logic<PaymentPage> {
  const where = ["seq > ?"];
  const params: unknown[] = [query.after ?? 0];
  if (query.user !== undefined) {
    where.push("user_id = ?");
    params.push(query.user);
  }
  if (query.publisher !== undefined) {
    where.push("publisher = ?");
    params.push(query.publisher);
  }
  const rows = yield* all(`SELECT * FROM payments WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?`, ...params, query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const payments = page.map((row) => ({ ...toPayment(row), seq: int(row["seq"], "payments.seq") }));
  const settled = yield* settlementsOf(payments);
  return {
    payments: payments.map((p) => {
      const settlement = settled.get(p.id);
      return settlement ? { ...p, settlement } : p;
    }),
    next: rows.length > query.limit && last ? int(last["seq"], "payments.seq") : undefined,
  };
}

/** Why the user cannot make this payment now (status, currency, balance, deposit, monthly limit), if anything. */
function* refusal(user: Omit<UserRecord, "mandate">, payment: PaymentRecord): Logic<PaymentOutcome | undefined> {
  if (user.status !== "active") return { kind: "suspended" };
  if (user.homeCurrency !== payment.charged.currency) return { kind: "currency-mismatch", homeCurrency: user.homeCurrency };
  const charged = payment.charged.amount;
  if (user.mode === "prepaid") {
    // A card's payment is drawn on what was loaded onto the card, an online one on the funds.
    const balance = payment.fromCardFloat ? Number(yield* floatOf(payment.user, payment.charged.currency)) : user.balance;
    if (balance < charged) return { kind: "insufficient-funds", balance: balance as MinorUnits };
    return undefined;
  }
  if (user.deposit < user.depositRequired)
    return { kind: "deposit-required", required: user.depositRequired, paid: user.deposit };
  const limit = user.monthlyLimit ?? (0 as MinorUnits);
  const used = yield* usedInMonth(payment.user, new Date(payment.serverTime));
  if (used + BigInt(charged) > BigInt(limit)) return { kind: "limit-exceeded", used: Number(used) as MinorUnits, limit };
  return undefined;
}
