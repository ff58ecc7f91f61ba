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
  // Spending mandates (docs/protocol.md §16): why a payment under a mandate was refused.
  "ERR_UNKNOWN_MANDATE",
  "ERR_MANDATE_REVOKED",
  "ERR_MANDATE_EXPIRED",
  "ERR_MANDATE_PAYEE_NOT_ALLOWED",
  "ERR_MANDATE_MAX_EXCEEDED",
  "ERR_MANDATE_BUDGET_EXCEEDED",
  "ERR_MANDATE_COUNT_EXCEEDED",
] as const;
export type PaymentCode = (typeof PaymentCodes)[number];
export type ProblemCode = PaymentCode | VerificationCode;

/** Whether a value read from outside (a problem document's `code`) is one of the problem codes. */
export function isProblemCode(value: unknown): value is ProblemCode {
  return typeof value === "string" && Object.hasOwn(ProblemKinds, value);
}

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

/** A problem document with every member given. Prefer {@link problemFor}, which takes them from the code. */
export function problem(code: ProblemCode, status: number, title: string, detail: string, retryable: boolean): Problem {
  return { type: problemType(code), title, status, detail, code, retryable };
}

/** What a problem code always means on HTTP: its status, its title and whether trying again can help. */
export interface ProblemKind {
  readonly status: number;
  readonly title: string;
  readonly retryable: boolean;
}

const refused = (status: number, title: string): ProblemKind => ({ status, title, retryable: false });
const unavailable = (title: string): ProblemKind => ({ status: 503, title, retryable: true });
/** A message that fails verification is 422 (RFC 9110 §15.5.21: well-formed but unprocessable). */
const unverified = (title: string): ProblemKind => refused(422, title);

/**
 * The one table of problem codes and their HTTP status: the payment server answers with it and the
 * wallet's local service too, so a code means the same status wherever it is met. Only a malformed
 * message is 400; a message that fails verification is 422. A caller may still answer another
 * status for the same code where the fault lies elsewhere (the wallet's 502 when the payment server
 * sends something malformed), which {@link problemFor}'s overrides say.
 */
export const ProblemKinds: Readonly<Record<ProblemCode, ProblemKind>> = {
  ERR_BAD_REQUEST: refused(400, "Bad request"),
  ERR_MALFORMED: refused(400, "Malformed message"),
  ERR_UNSUPPORTED_ALGORITHM: refused(400, "Unsupported signature algorithm"),
  ERR_UNAUTHORIZED: refused(401, "Authentication required"),
  ERR_INSUFFICIENT_FUNDS: refused(402, "Insufficient funds"),
  ERR_LIMIT_EXCEEDED: refused(402, "Monthly limit exceeded"),
  ERR_DEPOSIT_REQUIRED: refused(402, "Deposit required"),
  ERR_FORBIDDEN: refused(403, "Forbidden"),
  ERR_ACCOUNT_SUSPENDED: refused(403, "Account suspended"),
  ERR_DECLINED: refused(403, "Declined"),
  ERR_RULE_REFUSED: refused(403, "Refused by the wallet's rules"),
  ERR_NOT_FOUND: refused(404, "Not found"),
  ERR_UNKNOWN_USER: refused(404, "Unknown user"),
  ERR_TIMEOUT: { status: 408, title: "Timeout", retryable: true },
  ERR_NONCE_REUSED: refused(409, "Offer nonce already used"),
  ERR_CONFLICT: refused(409, "Conflict"),
  ERR_ALREADY_REFUNDED: refused(409, "Already refunded"),
  ERR_ALREADY_SETTLED: refused(409, "Already settled"),
  ERR_ABOVE_MAXIMUM: refused(422, "Above the maximum"),
  ERR_NOT_ON_CHAIN: refused(403, "Not on the chain"),
  ERR_PAYLOAD_TOO_LARGE: refused(413, "Payload too large"),
  ERR_RATE_UNAVAILABLE: refused(422, "Exchange rate unavailable"),
  ERR_CHARGE_ROUNDS_TO_ZERO: refused(422, "Charge rounds to zero"),
  ERR_WALLET_LOCKED: refused(423, "Wallet locked"),
  ERR_UNKNOWN_MANDATE: refused(404, "Unknown mandate"),
  ERR_MANDATE_REVOKED: refused(403, "Mandate revoked"),
  ERR_MANDATE_EXPIRED: refused(403, "Mandate expired"),
  ERR_MANDATE_PAYEE_NOT_ALLOWED: refused(403, "Payee not allowed by the mandate"),
  ERR_MANDATE_MAX_EXCEEDED: refused(402, "Above the mandate's maximum per payment"),
  ERR_MANDATE_BUDGET_EXCEEDED: refused(402, "Mandate budget exhausted"),
  ERR_MANDATE_COUNT_EXCEEDED: refused(402, "Mandate payment count reached"),
  ERR_INTERNAL: { status: 500, title: "Internal error", retryable: true },
  ERR_SERVER_UNAVAILABLE: unavailable("Service unavailable"),
  ERR_WALLET_UNAVAILABLE: unavailable("Wallet unavailable"),
  ERR_CONSENT_UNAVAILABLE: unavailable("Nobody to ask for consent"),
  ERR_CARD_UNREADABLE: unavailable("Card unreadable"),
  // A CRL may be fetched meanwhile.
  ERR_REVOCATION_UNKNOWN: unavailable("Revocation status unknown"),
  ERR_BAD_SIGNATURE: unverified("Bad signature"),
  ERR_UNKNOWN_ISSUER: unverified("Unknown certificate issuer"),
  ERR_CERT_EXPIRED: unverified("Certificate expired"),
  ERR_CERT_NOT_YET_VALID: unverified("Certificate not yet valid"),
  ERR_NOT_A_CA: unverified("Issuer is not a CA"),
  ERR_PATH_LENGTH: unverified("Certification path too long"),
  ERR_KEY_USAGE: unverified("Key usage not allowed"),
  ERR_WRONG_ROLE: unverified("Certificate role not allowed"),
  ERR_REVOKED: unverified("Certificate revoked"),
  ERR_IDENTITY_MISMATCH: unverified("Identity mismatch"),
  ERR_UNKNOWN_KEY: unverified("Unknown user key"),
  ERR_WRONG_AUDIENCE: unverified("Meant for another server"),
  ERR_HASH_MISMATCH: unverified("Offer hash mismatch"),
  ERR_PRICE_MISMATCH: unverified("Price mismatch"),
  ERR_NONCE_MISMATCH: unverified("Nonce mismatch"),
  ERR_DATE_MISMATCH: unverified("Date mismatch"),
  ERR_MESSAGE_EXPIRED: unverified("Message expired"),
  ERR_MESSAGE_NOT_YET_VALID: unverified("Message not yet valid"),
};

/** Where a problem departs from its code's usual status or retryability (see {@link ProblemKinds}). */
export interface ProblemOverrides {
  readonly status?: number;
  readonly retryable?: boolean;
}

/**
 * The problem document for a code, with the status, title and retryability of {@link ProblemKinds}.
 *
 * @example
 * ```ts
 * problemFor("ERR_NOT_FOUND", "no payment pay_123: list them with GET /v1/payments").status // 404
 * ```
 */
export function problemFor(code: ProblemCode, detail: string, overrides: ProblemOverrides = {}): Problem {
  const kind = ProblemKinds[code];
  return problem(code, overrides.status ?? kind.status, kind.title, detail, overrides.retryable ?? kind.retryable);
}
