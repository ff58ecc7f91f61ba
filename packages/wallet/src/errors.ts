/**
 * The wallet's errors: a stable `code` from protocol problem.ts (or a verification code), the HTTP
 * status the local service answers with, and whether trying again can help. Every error crosses
 * the local HTTP service as an RFC 9457 problem, so the merchant SDK branches on the same codes.
 */
import { problem, type Problem, type ProblemCode, type VerificationError } from "@peage/protocol";

export class WalletError extends Error {
  override readonly name = "WalletError";
  constructor(
    readonly code: ProblemCode,
    message: string,
    readonly status: number,
    readonly retryable: boolean,
    readonly detail: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }

  /** The RFC 9457 problem the local service sends for this error. */
  toProblem(): Problem {
    return problem(this.code, this.status, titleOf(this.code), this.message, this.retryable);
  }
}

/** A message or chain that failed verification, as a wallet error (the code is kept). */
export function fromVerification(error: VerificationError, what: string, status = 422): WalletError {
  return new WalletError(error.code, `${what}: ${error.message}`, status, false, error.detail);
}

function titleOf(code: ProblemCode): string {
  const words = code.replace(/^ERR_/, "").toLowerCase().replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
