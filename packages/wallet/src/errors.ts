/**
 * The wallet's errors: a stable `code` from protocol problem.ts (or a verification code), the HTTP
 * status the local service answers with, and whether trying again can help. Every error crosses
 * the local HTTP service as an RFC 9457 problem, so the merchant SDK branches on the same codes.
 * Status and retryability default to protocol's ProblemKinds, the table the payment server uses.
 */
import { PeageError, ProblemKinds, problemFor, type Problem, type ProblemCode, type VerificationError } from "@peage/protocol";

/** The codes a wallet error carries: protocol's problem codes, which include the verification codes. */
export type WalletErrorCode = ProblemCode;

/**
 * Any failure of the wallet: a refusal (the user, the rules, the card), a verification failure,
 * an unreachable payment server. `status` is what the local service answers; `retryable` says
 * whether the very same request can succeed later.
 */
export class WalletError extends PeageError<WalletErrorCode> {
  override readonly name = "WalletError";
  constructor(
    code: WalletErrorCode,
    message: string,
    readonly status: number = ProblemKinds[code].status,
    readonly retryable: boolean = ProblemKinds[code].retryable,
    readonly detail: Readonly<Record<string, unknown>> = {},
  ) {
    super(code, message);
  }

  /** The RFC 9457 problem the local service sends for this error. */
  toProblem(): Problem {
    return problemFor(this.code, this.message, { status: this.status, retryable: this.retryable });
  }
}

/**
 * A message or chain that failed verification, as a wallet error (the code is kept). The wallet
 * answers 422 for every such failure, ERR_MALFORMED included, where the payment server says 400:
 * the request the program sent the wallet is well-formed, only the message inside it is not.
 */
export function fromVerification(error: VerificationError, what: string, status = 422): WalletError {
  return new WalletError(error.code, `${what}: ${error.message}`, status, false, error.detail);
}
