/**
 * The payment server's work on spending mandates (docs/protocol.md §16, docs/transport.md §7):
 * registering a mandate the user signed, paying an offer for an agent under it (the agent's
 * consent checked, then the mandate's limits and the payment in one transaction), and revoking.
 * The acknowledgment is message 3 exactly as for any payment: the merchant checks it as always.
 */
import {
  canonicalHash,
  decodeJws,
  formatPrice,
  importAgentKey,
  isPlainObject,
  JwsTypes,
  jwkThumbprint,
  mandatePeriodKey,
  PROTOCOL_VERSION,
  timestamp,
  verifyMandate,
  verifyMandatePayment,
  type AgentConsentClaims,
  type ConsentClaims,
  type PartyId,
  type RegisteredMandate,
} from "@peage/protocol";
import {
  chargeFor,
  enrolledKey,
  rateTableFor,
  refusalOf,
  signedPayment,
  type PaymentAnswer,
  type PaymentContext,
} from "../payments.js";
import { HttpProblem } from "../problems.js";
import type { PaymentRecord, UserRecord } from "../store/store.js";
import type { MandatePaymentOutcome, MandateRecord } from "./logic.js";

/** Checks and records a mandate the user signed; the same mandate again is answered as registered. */
export async function registerMandate(body: unknown, ctx: PaymentContext): Promise<{ mandate: MandateRecord; created: boolean }> {
  const verified = await verifyMandate(body, {
    clock: ctx.clock,
    server: ctx.identity.id,
    userKey: (user, kid) => enrolledKey(ctx, user, kid),
    skewMs: ctx.skewMs,
  });
  if (!verified.ok) throw HttpProblem.of(verified.error.code, verified.error.message);
  const { claims } = verified.value;
  const outcome = await ctx.store.mandates("registerMandate", {
    id: claims.mandateId,
    user: claims.user as PartyId<"user">,
    agentKid: verified.value.agentKid,
    token: verified.value.mandate.mandate,
    claims,
    registeredAt: timestamp(ctx.clock.now()),
  });
  switch (outcome.kind) {
    case "registered":
    case "repeated":
      return { mandate: outcome.mandate, created: outcome.kind === "registered" };
    case "id-taken":
      throw HttpProblem.of(
        "ERR_CONFLICT",
        `another mandate already has the id ${claims.mandateId}: sign the mandate with a new id`,
      );
    case "unknown-user":
      throw HttpProblem.of("ERR_UNKNOWN_KEY", `no key is enrolled for ${claims.user}`);
    case "currency-mismatch":
      throw HttpProblem.of(
        "ERR_BAD_REQUEST",
        `the mandate's limits are in ${claims.budget.currency} but ${claims.user} is charged in ${outcome.homeCurrency}: sign them in ${outcome.homeCurrency}`,
      );
  }
}

/** A registered mandate with its agent's key imported, for the payment check. */
async function registered(ctx: PaymentContext, id: string): Promise<RegisteredMandate | undefined> {
  const record = await ctx.store.mandates("getMandate", id);
  if (!record) return undefined;
  const agentKey = await importAgentKey(record.claims.agent);
  return agentKey && { claims: record.claims, agentKey, agentKid: jwkThumbprint(agentKey.publicKey) };
}

/** An agent's payment under a mandate: message 3 back, or the problem saying which limit refused it. */
export async function processMandatePayment(body: unknown, ctx: PaymentContext): Promise<PaymentAnswer & { mandate: string }> {
  const requestHash = canonicalHash(body);
  // As for message 2: the identical bytes again get the recorded acknowledgment, even once expired.
  const earlier = await earlierPayment(ctx, body);
  if (earlier && earlier.payment.requestHash === requestHash)
    return { acknowledgment: earlier.payment.acknowledgment, payment: earlier.payment, replayed: true, mandate: earlier.mandate };
  const verified = await verifyMandatePayment(body, {
    trust: ctx.trust,
    clock: ctx.clock,
    server: ctx.identity.id,
    mandate: (id) => registered(ctx, id),
    skewMs: ctx.skewMs,
  });
  if (!verified.ok) throw HttpProblem.of(verified.error.code, verified.error.message);
  const { consent, mandate } = verified.value;
  ctx.publisherSeen?.(verified.value.publisher.publisher, verified.value.publisher.chain.notAfter);
  const user = await ctx.store.getUser(consent.user as PartyId<"user">);
  if (!user) throw HttpProblem.of("ERR_UNKNOWN_KEY", `no key is enrolled for ${consent.user}`);
  if (user.status !== "active")
    throw HttpProblem.of("ERR_ACCOUNT_SUSPENDED", `the account ${user.id} is suspended: contact the payment service`);
  const serverTime = ctx.clock.now();
  const table = consent.price.currency === user.homeCurrency ? undefined : await rateTableFor(ctx, serverTime);
  const { charged, rate, rateDate } = chargeFor(consent.price, user, table);
  const record = await signedPayment(ctx, {
    consent: asConsent(consent),
    user,
    charged,
    rate,
    rateDate,
    requestHash,
    serverTime,
  });
  const { acknowledgment } = record;
  const periodKey = mandatePeriodKey(mandate.claims.period, serverTime);
  const outcome = await ctx.store.mandates("recordMandatePayment", record, consent.mandate, periodKey);
  if (outcome.kind === "recorded") return { acknowledgment, payment: record, replayed: false, mandate: consent.mandate };
  if (outcome.kind === "duplicate")
    return { acknowledgment: outcome.payment.acknowledgment, payment: outcome.payment, replayed: true, mandate: consent.mandate };
  throw mandateRefusal(outcome, consent, user, record);
}

/** The recorded payment of the nonce and user the (unverified) agent's consent names, if any. */
async function earlierPayment(
  ctx: PaymentContext,
  body: unknown,
): Promise<{ payment: PaymentRecord; mandate: string } | undefined> {
  if (!isPlainObject(body)) return undefined;
  const decoded = decodeJws(body["consent"], JwsTypes.agentConsent);
  if (!decoded.ok || !isPlainObject(decoded.value.payload)) return undefined;
  const { nonce, user, mandate } = decoded.value.payload;
  if (typeof nonce !== "string" || nonce.length > 86 || typeof user !== "string" || user.length > 200) return undefined;
  if (typeof mandate !== "string") return undefined;
  const payment = await ctx.store.findPaymentByNonce(user as PartyId<"user">, nonce);
  return payment && { payment, mandate };
}

/** The claims message 3 is signed over: those of the agent's consent that a user's consent also has. */
function asConsent(consent: AgentConsentClaims): ConsentClaims {
  const { mandate: _mandate, v: _v, ...rest } = consent;
  return { v: PROTOCOL_VERSION, ...rest };
}

function mandateRefusal(
  outcome: Exclude<MandatePaymentOutcome, { kind: "recorded" | "duplicate" }>,
  consent: AgentConsentClaims,
  user: UserRecord,
  record: PaymentRecord,
): HttpProblem {
  const id = consent.mandate;
  const charged = formatPrice(record.charged);
  switch (outcome.kind) {
    case "unknown-mandate":
      return HttpProblem.of("ERR_UNKNOWN_MANDATE", `${user.id} has no mandate ${id}: the user must sign one in the wallet`);
    case "mandate-revoked":
      return HttpProblem.of(
        "ERR_MANDATE_REVOKED",
        `the user revoked mandate ${id} at ${outcome.revokedAt}: ask the user for a new one`,
      );
    case "mandate-expired":
      return HttpProblem.of("ERR_MANDATE_EXPIRED", `mandate ${id} expired at ${outcome.expiresAt}: ask the user for a new one`);
    case "payee-not-allowed":
      return HttpProblem.of(
        "ERR_MANDATE_PAYEE_NOT_ALLOWED",
        `mandate ${id} pays ${outcome.payees.join(", ")} only, not ${record.publisher}: ask the user to pay this one`,
      );
    case "mandate-currency":
      return HttpProblem.of(
        "ERR_CONFLICT",
        `mandate ${id} is in ${outcome.currency} but the account is now charged in ${user.homeCurrency}`,
      );
    case "max-exceeded":
      return HttpProblem.of(
        "ERR_MANDATE_MAX_EXCEEDED",
        `${charged} is above mandate ${id}'s maximum of ${outcome.max} minor units a payment: ask the user to pay this one`,
      );
    case "budget-exceeded":
      return HttpProblem.of(
        "ERR_MANDATE_BUDGET_EXCEEDED",
        `mandate ${id} has spent ${outcome.spent} of its ${outcome.budget} minor units this period, so ${charged} would exceed it`,
      );
    case "count-exceeded":
      return HttpProblem.of(
        "ERR_MANDATE_COUNT_EXCEEDED",
        `mandate ${id} has made its ${outcome.maxPayments} payments this period`,
      );
    default:
      return refusalOf(outcome, consent, user, record.charged);
  }
}

/** Revokes one of the user's mandates; a mandate already revoked stays as it was. */
export async function revokeMandate(ctx: PaymentContext, user: PartyId<"user">, id: string): Promise<MandateRecord> {
  const outcome = await ctx.store.mandates("revokeMandate", user, id, timestamp(ctx.clock.now()));
  if (outcome.kind === "unknown")
    throw HttpProblem.of("ERR_UNKNOWN_MANDATE", `you have no mandate ${id}: list yours with GET /v2/me/mandates`);
  return outcome.mandate;
}
