/**
 * Why a payment did not unlock anything, in the few cases a publisher's program has to tell apart.
 * Each error has a stable `code`, `retryable` (asking again later can succeed) and a message that
 * tells the publisher what to do. `reason` keeps the wallet's or server's own code (e.g.
 * ERR_RULE_REFUSED, ERR_LIMIT_EXCEEDED) and `verificationCode` the exact check that failed.
 */
import { PeageError, type ProblemCode, type VerificationCode } from "@peage/protocol";

/** Every code a {@link MerchantError} carries; the publisher's program branches on these. */
export const MerchantErrorCodes = [
  /** The user (or the user's own wallet rules) said no. */
  "ERR_DECLINED",
  /** No wallet is running, or it cannot be reached or is locked. */
  "ERR_WALLET_UNAVAILABLE",
  /** The user's balance or spending limit at the payment server does not cover the price. */
  "ERR_INSUFFICIENT_FUNDS",
  /** What came back does not prove payment of this offer: nothing may be unlocked. */
  "ERR_INVALID_ACKNOWLEDGMENT",
  /** No answer in the time the program allowed. */
  "ERR_TIMEOUT",
  /** The catalog has no such offer (or not for this trigger). */
  "ERR_UNKNOWN_OFFER",
  /** The catalog or the trusted roots given to Merchant.create do not verify. */
  "ERR_INVALID_CATALOG",
  /** Anything else the wallet or payment server refused; `reason` says what. */
  "ERR_PAYMENT_FAILED",
] as const;
export type MerchantErrorCode = (typeof MerchantErrorCodes)[number];

/** What a MerchantError carries besides its code and message. */
export interface MerchantErrorDetails {
  readonly retryable: boolean;
  readonly reason?: ProblemCode;
  readonly verificationCode?: VerificationCode;
  readonly cause?: unknown;
}

/**
 * Why pay() (or atLaunch, onEvent, periodic) did not authorize: branch on `code`, try again only
 * when `retryable`.
 *
 * @example
 * ```ts
 * try {
 *   await merchant.pay("level-2");
 * } catch (error) {
 *   if (error instanceof MerchantError && error.code === "ERR_DECLINED") return showMenu();
 *   throw error;
 * }
 * ```
 */
export class MerchantError extends PeageError<MerchantErrorCode> {
  override readonly name = "MerchantError";
  readonly retryable: boolean;
  readonly reason: ProblemCode | undefined;
  readonly verificationCode: VerificationCode | undefined;

  constructor(code: MerchantErrorCode, message: string, details: MerchantErrorDetails) {
    super(code, message, { cause: details.cause });
    this.retryable = details.retryable;
    this.reason = details.reason;
    this.verificationCode = details.verificationCode;
  }
}
