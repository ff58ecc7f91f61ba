/**
 * How the command line fails. Every failure has a stable `code` that scripts can branch on and a
 * sentence saying what to do; the exit status tells the three kinds apart:
 *
 *   2  usage: the command line itself is wrong (unknown option, missing or bad value, unreadable file)
 *   1  invalid: something was verified and is not valid (a VerificationError code of the protocol)
 *   1  error: the command could not do what was asked (a file exists, a key does not match)
 */
import { PeageError, VerificationError, type ProblemCode, type Result } from "@peage/protocol";
import type { RatesErrorCode, SettlementErrorCode } from "@peage/server";

/** Exit statuses. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The codes only the command line gives; a command also passes on the codes of the parts it drives. */
export const CliErrorCodes = [
  "ERR_USAGE",
  "ERR_EXISTS",
  "ERR_WRITE",
  "ERR_NOT_A_DIRECTORY",
  "ERR_KEY_MISMATCH",
  "ERR_SUBJECT_MISMATCH",
  "ERR_NOT_ISSUED_BY_CA",
  "ERR_BAD_STATE",
  "ERR_STATE_MISMATCH",
  "ERR_BAD_OFFER",
  "ERR_PKI",
  "ERR_API_KEY",
  "ERR_CARD",
  "ERR_CARD_ISSUE",
  "ERR_CARD_MEMORY",
  "ERR_NO_CARD",
  "ERR_NO_CARD_ISSUER",
  "ERR_REGISTER",
  "ERR_NO_TPM",
  "ERR_STORE",
  "ERR_STORE_BLOCKED",
  "ERR_NO_DATABASE",
  "ERR_SCHEMA_NEWER",
  "ERR_BACKUP_ENGINE",
  "ERR_LEDGER_BREACH",
  "ERR_OPERATOR_API",
  "ERR_PROGRAM",
  "ERR_DEMO_FAILED",
  "ERR_INTERRUPTED",
] as const;

/**
 * Every code a CommandError carries: the command line's own, and those it passes on unchanged
 * from the payment server's answers (problem codes), its rates files and its settlements.
 */
export type CliErrorCode = (typeof CliErrorCodes)[number] | ProblemCode | RatesErrorCode | SettlementErrorCode;

/** The command line is wrong: exit 2, and point at the command's --help. */
export class UsageError extends PeageError<"ERR_USAGE"> {
  override readonly name = "UsageError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_USAGE", message, options);
  }
}

/** The command could not be carried out: exit 1 with a stable code (e.g. ERR_EXISTS, ERR_KEY_MISMATCH). */
export class CommandError extends PeageError<CliErrorCode> {
  override readonly name = "CommandError";
}

/** Raised when a verification fails; carries the protocol's error unchanged. */
export class InvalidError extends PeageError<VerificationError["code"]> {
  override readonly name = "InvalidError";
  constructor(readonly error: VerificationError) {
    super(error.code, error.message);
  }
}

/** Throws the error of a failed verification result, or returns its value. */
export function orInvalid<T>(result: Result<T>): T {
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
