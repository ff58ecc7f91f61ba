/**
 * Péage over HTTP 402. A resource server makes a route paid per request with a PaymentGate
 * (the publisher's signed catalog, trusted roots, the payment servers it accepts) and
 * `paidRoute`; a client pays through the user's wallet with `payingFetch`. docs/http.md
 * specifies both wire formats.
 */
export { contentDigest, boundNonce, type RequestFacts } from "./binding.js";
export { type Challenge } from "./challenge.js";
export { PaymentGate, type GateOptions, type Receipt, type Redemption, type RefusalCode, type Credential } from "./gate.js";
export { paidRoute, paymentMiddleware, type PaidRequest, type PaidRouteOptions, type PaidState } from "./node.js";
export { SettlementRefused, type UsageSettlement } from "@peage/merchant";
export { TICK_HEADER, tickHeader, type OpenSession, type TickProof } from "./sessions.js";
export { payingFetch, PaymentRefused, type PayingFetchOptions } from "./client.js";
/** The x402 v2 wire format: the PAYMENT-REQUIRED, PAYMENT-SIGNATURE and PAYMENT-RESPONSE headers. */
export * as x402 from "./wire/x402.js";
/** The "Payment" HTTP authentication scheme: WWW-Authenticate, Authorization and Payment-Receipt. */
export * as paymentAuth from "./wire/payment-auth.js";
