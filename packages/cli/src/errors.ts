/**
 * How the command line fails. Every failure has a stable `code` that scripts can branch on and a
 * sentence saying what to do; the exit status tells the three kinds apart:
 *
 *   2  usage: the command line itself is wrong (unknown option, missing or bad value, unreadable file)
 *   1  invalid: something was verified and is not valid (a VerificationError code of the protocol)
 *   1  error: the command could not do what was asked (a file exists, a key does not match)
 */
import { VerificationError } from "@peage/protocol";

/** Exit statuses. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The command line is wrong: exit 2, and point at the command's --help. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "ERR_USAGE";
}

/** The command could not be carried out: exit 1 with a stable code (e.g. ERR_EXISTS, ERR_KEY_MISMATCH). */
export class CommandError extends Error {
  override readonly name = "CommandError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Raised when a verification fails; carries the protocol's error unchanged. */
export class InvalidError extends Error {
  override readonly name = "InvalidError";
  constructor(readonly error: VerificationError) {
    super(error.message);
  }
  get code(): string {
    return this.error.code;
  }
}

/** Throws the error of a failed verification result, or returns its value. */
export function orInvalid<T>(result: { ok: true; value: T } | { ok: false; error: VerificationError }): T {
  if (!result.ok) throw new InvalidError(result.error);
  return result.value;
}

/** The exit status and the stderr line for anything a command throws; never a stack trace. */
export function describeFailure(error: unknown): { exitCode: number; line: string } {
  if (error instanceof UsageError) return { exitCode: EXIT_USAGE, line: error.message };
  if (error instanceof InvalidError) return { exitCode: EXIT_FAILURE, line: `invalid: ${error.code}: ${error.message}` };
  if (error instanceof VerificationError) return { exitCode: EXIT_FAILURE, line: `invalid: ${error.code}: ${error.message}` };
  if (error instanceof CommandError) return { exitCode: EXIT_FAILURE, line: `error: ${error.code}: ${error.message}` };
  const message = error instanceof Error ? error.message : String(error);
  // The other packages' errors (the server's ConfigError, the wallet's WalletError, ...) carry stable codes too.
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^ERR_[A-Z0-9_]+$/.test(code))
    return { exitCode: EXIT_FAILURE, line: `error: ${code}: ${message}` };
  return { exitCode: EXIT_FAILURE, line: `error: ERR_INTERNAL: ${message}` };
}
