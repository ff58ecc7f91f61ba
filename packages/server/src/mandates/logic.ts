/**
 * The store's operations on spending mandates, written as store/logic.ts's are (generators that
 * yield their SQL, run by either engine's driver through Store.mandates, in one transaction).
 *
 * A payment under a mandate locks the mandate's row first (FOR UPDATE on PostgreSQL; SQLite's
 * BEGIN IMMEDIATE holds the one write lock), then checks revocation, expiry, payee, the maximum per
 * payment and the period's budget and count, then records the payment through the store's own
 * recordPayment (which locks the user's row: mandate before user, always in that order), and only
 * if it was recorded adds it to the period's use. Payments under one mandate are thus serialised
 * on its row, and the budget and count can never be exceeded, whatever the concurrency.
 */
import type { CurrencyCode, MandateClaims, MinorUnits, PartyId } from "@peage/protocol";
import { int, recordPayment, type Logic, type Row } from "../store/logic.js";
import type { PaymentOutcome, PaymentRecord } from "../store/store.js";

export interface MandateRecord {
  readonly id: string;
  readonly user: PartyId<"user">;
  readonly agentKid: string;
  /** The mandate as the user signed it (message, JWS inside). */
  readonly token: string;
  readonly claims: MandateClaims;
  readonly registeredAt: string;
  readonly revokedAt: string | undefined;
}

/** What a mandate has paid in one period. */
export interface MandateUsage {
  readonly periodKey: string;
  readonly spent: MinorUnits;
  readonly payments: number;
}

export type RegisterOutcome =
  | { readonly kind: "registered" | "repeated"; readonly mandate: MandateRecord }
  /** Another mandate already has this id. */
  | { readonly kind: "id-taken" }
  | { readonly kind: "unknown-user" }
  | { readonly kind: "currency-mismatch"; readonly homeCurrency: CurrencyCode };

export type MandatePaymentOutcome =
  | PaymentOutcome
  | { readonly kind: "unknown-mandate" }
  | { readonly kind: "mandate-revoked"; readonly revokedAt: string }
  | { readonly kind: "mandate-expired"; readonly expiresAt: string }
  | { readonly kind: "payee-not-allowed"; readonly payees: readonly string[] }
  | { readonly kind: "mandate-currency"; readonly currency: CurrencyCode }
  | { readonly kind: "max-exceeded"; readonly max: MinorUnits }
  | { readonly kind: "budget-exceeded"; readonly spent: MinorUnits; readonly budget: MinorUnits }
  | { readonly kind: "count-exceeded"; readonly payments: number; readonly maxPayments: number };

function* rows(sql: string, params: unknown[], forUpdate = false): Logic<Row[]> {
  return (yield { op: "all", sql, params, forUpdate }) as Row[];
}
function* exec(sql: string, ...params: unknown[]): Logic<number> {
  return (yield { op: "run", sql, params }) as number;
}

const toMandate = (row: Row): MandateRecord => ({
  id: String(row["id"]),
  user: String(row["user_id"]) as PartyId<"user">,
  agentKid: String(row["agent_kid"]),
  token: String(row["token"]),
  claims: JSON.parse(String(row["claims"])) as MandateClaims,
  registeredAt: String(row["registered_at"]),
  revokedAt: row["revoked_at"] === null ? undefined : String(row["revoked_at"]),
});

/** Records a verified mandate; the same mandate again is a repeat, another one with its id is refused. */
export function* registerMandate(mandate: Omit<MandateRecord, "revokedAt">): Logic<RegisterOutcome> {
  const user = (yield* rows("SELECT home_currency FROM users WHERE id = ?", [mandate.user]))[0];
  if (!user) return { kind: "unknown-user" };
  const home = String(user["home_currency"]) as CurrencyCode;
  if (mandate.claims.budget.currency !== home) return { kind: "currency-mismatch", homeCurrency: home };
  const existing = (yield* rows("SELECT * FROM agent_mandates WHERE id = ?", [mandate.id]))[0];
  if (existing) {
    return String(existing["token"]) === mandate.token
      ? { kind: "repeated", mandate: toMandate(existing) }
      : { kind: "id-taken" };
  }
  const { claims } = mandate;
  yield* exec(
    `INSERT INTO agent_mandates (id, user_id, agent_kid, token, claims, currency, max_per_payment, budget, max_payments, period,
       expires_at, registered_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
    mandate.id,
    mandate.user,
    mandate.agentKid,
    mandate.token,
    JSON.stringify(claims),
    claims.budget.currency,
    claims.maxPerPayment.amount,
    claims.budget.amount,
    claims.maxPayments,
    claims.period,
    claims.expiresAt,
    mandate.registeredAt,
  );
  return { kind: "registered", mandate: { ...mandate, revokedAt: undefined } };
}

export function* getMandate(id: string): Logic<MandateRecord | undefined> {
  const row = (yield* rows("SELECT * FROM agent_mandates WHERE id = ?", [id]))[0];
  return row && toMandate(row);
}

/** The user's mandates, newest first, with what each paid in the given period keys. */
export function* listMandates(user: PartyId<"user">): Logic<(MandateRecord & { readonly usage: MandateUsage[] })[]> {
  const found = yield* rows("SELECT * FROM agent_mandates WHERE user_id = ? ORDER BY registered_at DESC, id", [user]);
  const out: (MandateRecord & { usage: MandateUsage[] })[] = [];
  for (const row of found) {
    const usage = yield* rows("SELECT * FROM agent_mandate_usage WHERE mandate_id = ? ORDER BY period_key", [row["id"]]);
    out.push({
      ...toMandate(row),
      usage: usage.map((u) => ({
        periodKey: String(u["period_key"]),
        spent: int(u["spent"]) as MinorUnits,
        payments: int(u["payments"]),
      })),
    });
  }
  return out;
}

/** A payment of the user made under a mandate, at its position in the user's feed of them. */
export interface MandatePaymentLink {
  /** 1, 2, … in the order the payments committed: what a cursor names. */
  readonly position: number;
  readonly paymentId: string;
  readonly mandateId: string;
  /** The period it was charged to. */
  readonly periodKey: string;
}

/**
 * The user's payments made under mandates after position `after`, in position order. Positions are
 * given in recordMandatePayment under the user's row lock, held until commit: position n + 1 is
 * drawn only once n has committed, so a cursor never has a row committed late behind it.
 */
export function* mandatePaymentsAfter(user: PartyId<"user">, after: number, limit: number): Logic<MandatePaymentLink[]> {
  const found = yield* rows(
    `SELECT position, payment_id, mandate_id, period_key FROM agent_mandate_payments
      WHERE user_id = ? AND position > ? ORDER BY position LIMIT ?`,
    [user, after, limit],
  );
  return found.map((r) => ({
    position: int(r["position"]),
    paymentId: String(r["payment_id"]),
    mandateId: String(r["mandate_id"]),
    periodKey: String(r["period_key"]),
  }));
}

/**
 * Deletes up to `limit` counters of periods that are over: a day mandate's before `day`, a month
 * mandate's before `month` (keys as mandatePeriodKey makes them; a total mandate's never ends).
 * Nothing needs them: a payment counts in the period of its own time, and a refund of a payment of
 * a period that is over has no budget left to give back. Returns how many were deleted.
 */
export function* pruneMandateUsage(day: string, month: string, limit: number): Logic<number> {
  // The first condition is the index's range (month keys sort before the day keys of their month,
  // "total" after every date); the second is each period's own end.
  return yield* exec(
    `DELETE FROM agent_mandate_usage WHERE (mandate_id, period_key) IN (
       SELECT u.mandate_id, u.period_key FROM agent_mandate_usage u JOIN agent_mandates m ON m.id = u.mandate_id
        WHERE u.period_key < ? AND ((m.period = 'day' AND u.period_key < ?) OR (m.period = 'month' AND u.period_key < ?))
        LIMIT ?)`,
    day,
    day,
    month,
    limit,
  );
}

/** Revokes the user's mandate, once; "unknown" for a mandate of somebody else too. */
export function* revokeMandate(
  user: PartyId<"user">,
  id: string,
  at: string,
): Logic<{ kind: "revoked" | "already-revoked"; mandate: MandateRecord } | { kind: "unknown" }> {
  const row = (yield* rows("SELECT * FROM agent_mandates WHERE id = ?", [id], true))[0];
  if (!row || String(row["user_id"]) !== user) return { kind: "unknown" };
  if (row["revoked_at"] !== null) return { kind: "already-revoked", mandate: toMandate(row) };
  yield* exec("UPDATE agent_mandates SET revoked_at = ? WHERE id = ?", at, id);
  return { kind: "revoked", mandate: { ...toMandate(row), revokedAt: at } };
}

/**
 * In one transaction: the mandate's limits checked against its locked row and the period's use,
 * then the payment recorded as any other, then the use increased. A retry of a recorded request
 * gets its payment back, whatever the mandate's state now.
 */
export function* recordMandatePayment(
  payment: PaymentRecord,
  mandateId: string,
  periodKey: string,
): Logic<MandatePaymentOutcome> {
  const row = (yield* rows("SELECT * FROM agent_mandates WHERE id = ?", [mandateId], true))[0];
  if (!row || String(row["user_id"]) !== payment.user) return { kind: "unknown-mandate" };
  const earlier = (yield* rows("SELECT request_hash FROM payments WHERE user_id = ? AND nonce = ?", [
    payment.user,
    payment.nonce,
  ]))[0];
  if (earlier) return yield* recordPayment(payment); // the store answers a duplicate or a reused nonce
  const mandate = toMandate(row);
  const refusal = limitRefusal(mandate, payment);
  if (refusal) return refusal;
  const use = (yield* rows("SELECT spent, payments FROM agent_mandate_usage WHERE mandate_id = ? AND period_key = ?", [
    mandateId,
    periodKey,
  ]))[0];
  const spent = use ? int(use["spent"]) : 0;
  const count = use ? int(use["payments"]) : 0;
  const { budget, maxPayments } = mandate.claims;
  if (count + 1 > maxPayments) return { kind: "count-exceeded", payments: count, maxPayments };
  if (spent + payment.charged.amount > budget.amount)
    return { kind: "budget-exceeded", spent: spent as MinorUnits, budget: budget.amount as MinorUnits };
  const outcome = yield* recordPayment(payment);
  if (outcome.kind !== "recorded") return outcome;
  yield* exec(
    `INSERT INTO agent_mandate_usage (mandate_id, period_key, spent, payments) VALUES (?, ?, ?, 1)
     ON CONFLICT (mandate_id, period_key) DO UPDATE SET spent = agent_mandate_usage.spent + excluded.spent,
       payments = agent_mandate_usage.payments + 1`,
    mandateId,
    periodKey,
    payment.charged.amount,
  );
  // The user's row is locked (recordPayment) until this commits: the next position is drawn after it.
  yield* exec(
    `INSERT INTO agent_mandate_payments (payment_id, mandate_id, period_key, user_id, position)
     SELECT ?, ?, ?, ?, COALESCE(MAX(position), 0) + 1 FROM agent_mandate_payments WHERE user_id = ?`,
    payment.id,
    mandateId,
    periodKey,
    payment.user,
    payment.user,
  );
  return outcome;
}

/** The limits a payment can break whatever the mandate paid before: revoked, expired, payee, currency, maximum. */
function limitRefusal(mandate: MandateRecord, payment: PaymentRecord): MandatePaymentOutcome | undefined {
  const { claims } = mandate;
  if (mandate.revokedAt !== undefined) return { kind: "mandate-revoked", revokedAt: mandate.revokedAt };
  if (Date.parse(payment.serverTime) >= Date.parse(claims.expiresAt))
    return { kind: "mandate-expired", expiresAt: claims.expiresAt };
  if (!claims.payees.includes(payment.publisher)) return { kind: "payee-not-allowed", payees: claims.payees };
  if (payment.charged.currency !== claims.budget.currency)
    return { kind: "mandate-currency", currency: claims.budget.currency as CurrencyCode };
  if (payment.charged.amount > claims.maxPerPayment.amount)
    return { kind: "max-exceeded", max: claims.maxPerPayment.amount as MinorUnits };
  return undefined;
}

/**
 * The operations above by name: the store runs one in a write transaction by its name and plain
 * arguments (Store.mandates), which also crosses to the SQLite writer's thread (sqlite-thread.ts).
 */
export const mandateOperations = {
  registerMandate,
  getMandate,
  listMandates,
  mandatePaymentsAfter,
  pruneMandateUsage,
  revokeMandate,
  recordMandatePayment,
} as const;
export type MandateOperations = typeof mandateOperations;
export type MandateOperation = keyof MandateOperations;
/** What an operation resolves to. */
export type MandateResult<K extends MandateOperation> = ReturnType<MandateOperations[K]> extends Logic<infer T> ? T : never;
