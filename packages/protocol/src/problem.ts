/**
 * Errors that cross HTTP between Péage parts (payment server → wallet → merchant), as RFC 9457
 * problem details with two members of our own: `code`, stable and branched on, and `retryable`,
 * which tells the caller whether sending the same request again can help.
 */
import { Type, type Static } from "@sinclair/typebox";
import { VerificationCodes, type VerificationCode } from "./errors.js";

export const PaymentCodes = [
  /** The prepaid balance does not cover the price. */
  "ERR_INSUFFICIENT_FUNDS",
  /** The postpaid authorization limit for the period would be exceeded. */
  "ERR_LIMIT_EXCEEDED",
  /** A different request already used this offer nonce. */
  "ERR_NONCE_REUSED",
  "ERR_UNKNOWN_USER",
  "ERR_ACCOUNT_SUSPENDED",
  /** The postpaid account's deposit is not paid in full yet. */
  "ERR_DEPOSIT_REQUIRED",
  /** The payment was refunded already: a payment is refunded once. */
  "ERR_ALREADY_REFUNDED",
  /** A payment charged by use was settled already: it is settled once (docs/protocol.md §3.12). */
  "ERR_ALREADY_SETTLED",
  /** A settlement for more than the maximum the user consented to. */
  "ERR_ABOVE_MAXIMUM",
  /** A metered session's word is not on the chain whose root the user signed, or is beyond its length. */
  "ERR_NOT_ON_CHAIN",
  /** No exchange rate between the offer's currency and the user's home currency. */
  "ERR_RATE_UNAVAILABLE",
  /** The price converted into the account's currency comes to less than its smallest unit: nothing could be charged. */
  "ERR_CHARGE_ROUNDS_TO_ZERO",
  /** The user said no. */
  "ERR_DECLINED",
  /** The user's own auto-accept rules refused it without asking (e.g. above the per-payment cap). */
  "ERR_RULE_REFUSED",
  "ERR_WALLET_LOCKED",
  /** A card is in the reader but could not be read: nothing was paid, by card or online. */
  "ERR_CARD_UNREADABLE",
  "ERR_WALLET_UNAVAILABLE",
  /** Nobody could be asked: the wallet has neither a browser nor a terminal to show the offer in. */
  "ERR_CONSENT_UNAVAILABLE",
  "ERR_SERVER_UNAVAILABLE",
  "ERR_TIMEOUT",
  "ERR_UNAUTHORIZED",
  "ERR_FORBIDDEN",
  "ERR_NOT_FOUND",
  "ERR_CONFLICT",
  "ERR_PAYLOAD_TOO_LARGE",
  "ERR_BAD_REQUEST",
  "ERR_INTERNAL",
] as const;
export type PaymentCode = (typeof PaymentCodes)[number];
export type ProblemCode = PaymentCode | VerificationCode;

export const ProblemSchema = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  detail: Type.String(),
  code: Type.Union([...PaymentCodes, ...VerificationCodes].map((c) => Type.Literal(c))),
  retryable: Type.Boolean(),
  instance: Type.Optional(Type.String()),
});
export type Problem = Static<typeof ProblemSchema> & { code: ProblemCode };

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** The problem `type` URI of a code: a stable, dereferenceable-looking name, documented in docs/. */
export function problemType(code: ProblemCode): string {
  return `urn:peage:problem:${code.toLowerCase().replace(/^err_/, "").replaceAll("_", "-")}`;
}

export function problem(code: ProblemCode, status: number, title: string, detail: string, retryable: boolean): Problem {
  return { type: problemType(code), title, status, detail, code, retryable };
}
