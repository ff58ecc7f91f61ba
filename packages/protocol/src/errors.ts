/**
 * The one error model of every Péage package: {@link PeageError}, the base of each package's
 * errors, with a stable `code` from that package's own union; {@link Result} for functions whose
 * failures are expected outcomes rather than exceptions; and protocol's own verification codes.
 */

/**
 * The base of every Péage error: a stable `code` callers branch on (never the message text), a
 * sentence for people that names a next step, and the error it wraps, if any.
 *
 * @example
 * ```ts
 * try { await merchant.pay("level-2") }
 * catch (error) { if (error instanceof PeageError && error.code === "ERR_DECLINED") showMenu() }
 * ```
 */
export class PeageError<Code extends string = string> extends Error {
  override readonly name: string = "PeageError";
  constructor(
    readonly code: Code,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/**
 * Every way a Péage message, signature or certificate chain can fail verification.
 * Callers branch on `code`, never on message text; the codes are part of the public API
 * and appear in the test vectors (docs/protocol.md, "Error codes").
 */
export const VerificationCodes = [
  "ERR_MALFORMED",
  "ERR_UNSUPPORTED_ALGORITHM",
  "ERR_BAD_SIGNATURE",
  "ERR_UNKNOWN_ISSUER",
  "ERR_CERT_EXPIRED",
  "ERR_CERT_NOT_YET_VALID",
  "ERR_NOT_A_CA",
  "ERR_PATH_LENGTH",
  "ERR_KEY_USAGE",
  "ERR_WRONG_ROLE",
  "ERR_REVOKED",
  "ERR_REVOCATION_UNKNOWN",
  "ERR_IDENTITY_MISMATCH",
  "ERR_UNKNOWN_KEY",
  "ERR_WRONG_AUDIENCE",
  "ERR_HASH_MISMATCH",
  "ERR_PRICE_MISMATCH",
  "ERR_NONCE_MISMATCH",
  "ERR_DATE_MISMATCH",
  "ERR_MESSAGE_EXPIRED",
  "ERR_MESSAGE_NOT_YET_VALID",
] as const;

export type VerificationCode = (typeof VerificationCodes)[number];

/**
 * Every code a protocol error carries: the verification codes, a bad amount or currency
 * (MoneyError), and JSON that is not strict (StrictJsonError, DuplicateMemberError).
 */
export type ProtocolErrorCode = VerificationCode | "ERR_MONEY" | "ERR_INVALID_JSON" | "ERR_DUPLICATE_MEMBER";

/** A verification failure: a stable code, a sentence for people, and the data to act on it. */
export class VerificationError extends PeageError<VerificationCode> {
  override readonly name = "VerificationError";
  constructor(
    code: VerificationCode,
    message: string,
    readonly detail: Readonly<Record<string, unknown>> = {},
  ) {
    super(code, message);
  }

  toJSON(): { code: VerificationCode; message: string; detail: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, detail: this.detail };
  }
}

/**
 * The outcome of a function whose failures are expected (a verification, a parse of outside
 * input): the value, or exactly what failed. Every package reports such outcomes with this one
 * shape instead of throwing; `E` is the failure (a VerificationError unless said otherwise).
 *
 * @example
 * ```ts
 * const checked = verifyOffer(offer, roots, now);
 * if (!checked.ok) return refuse(checked.error.code);
 * ```
 */
export type Result<T, E = VerificationError> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

/** A successful {@link Result}. */
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
/** A failed {@link Result} carrying any failure value. */
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
/** A failed {@link Result} carrying a new VerificationError. */
export const fail = (code: VerificationCode, message: string, detail?: Record<string, unknown>): Result<never> => ({
  ok: false,
  error: new VerificationError(code, message, detail),
});

/** Whether a value is one of protocol's verification codes (e.g. a `code` read from JSON). */
export function isVerificationCode(value: unknown): value is VerificationCode {
  return typeof value === "string" && (VerificationCodes as readonly string[]).includes(value);
}
