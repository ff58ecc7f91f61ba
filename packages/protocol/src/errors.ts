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

/** A verification failure: a stable code, a sentence for people, and the data to act on it. */
export class VerificationError extends Error {
  override readonly name = "VerificationError";
  constructor(
    readonly code: VerificationCode,
    message: string,
    readonly detail: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }

  toJSON(): { code: VerificationCode; message: string; detail: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, detail: this.detail };
  }
}

/** The outcome of a verification: the verified value, or exactly what failed. */
export type Result<T, E = VerificationError> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const fail = (code: VerificationCode, message: string, detail?: Record<string, unknown>): Result<never> => ({
  ok: false,
  error: new VerificationError(code, message, detail),
});

export function isVerificationCode(value: unknown): value is VerificationCode {
  return typeof value === "string" && (VerificationCodes as readonly string[]).includes(value);
}
