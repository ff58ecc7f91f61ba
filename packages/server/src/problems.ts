/**
 * Every error the server answers is an RFC 9457 problem document (protocol problem.ts) sent as
 * application/problem+json, with a stable `code` and `retryable`, which tells the wallet whether
 * sending the very same request again can succeed (a busy database: yes; an empty balance: no).
 */
import { problem, PROBLEM_CONTENT_TYPE, type Problem, type ProblemCode, type VerificationCode } from "@peage/protocol";
import type { FastifyReply } from "fastify";

interface ProblemKind {
  readonly status: number;
  readonly title: string;
  readonly retryable: boolean;
}

/**
 * Status and title of each code. A message that fails verification is 422 (RFC 9110 §15.5.21:
 * well-formed but unprocessable); only a malformed one is 400.
 */
const kinds: Readonly<Partial<Record<ProblemCode, ProblemKind>>> = {
  ERR_BAD_REQUEST: { status: 400, title: "Bad request", retryable: false },
  ERR_MALFORMED: { status: 400, title: "Malformed message", retryable: false },
  ERR_UNSUPPORTED_ALGORITHM: { status: 400, title: "Unsupported signature algorithm", retryable: false },
  ERR_UNAUTHORIZED: { status: 401, title: "Authentication required", retryable: false },
  ERR_INSUFFICIENT_FUNDS: { status: 402, title: "Insufficient funds", retryable: false },
  ERR_LIMIT_EXCEEDED: { status: 402, title: "Monthly limit exceeded", retryable: false },
  ERR_DEPOSIT_REQUIRED: { status: 402, title: "Deposit required", retryable: false },
  ERR_FORBIDDEN: { status: 403, title: "Forbidden", retryable: false },
  ERR_ACCOUNT_SUSPENDED: { status: 403, title: "Account suspended", retryable: false },
  ERR_NOT_FOUND: { status: 404, title: "Not found", retryable: false },
  ERR_UNKNOWN_USER: { status: 404, title: "Unknown user", retryable: false },
  ERR_NONCE_REUSED: { status: 409, title: "Offer nonce already used", retryable: false },
  ERR_CONFLICT: { status: 409, title: "Conflict", retryable: false },
  ERR_ALREADY_REFUNDED: { status: 409, title: "Already refunded", retryable: false },
  ERR_ALREADY_SETTLED: { status: 409, title: "Already settled", retryable: false },
  ERR_ABOVE_MAXIMUM: { status: 422, title: "Above the maximum", retryable: false },
  ERR_NOT_ON_CHAIN: { status: 403, title: "Not on the chain", retryable: false },
  ERR_PAYLOAD_TOO_LARGE: { status: 413, title: "Payload too large", retryable: false },
  ERR_RATE_UNAVAILABLE: { status: 422, title: "Exchange rate unavailable", retryable: false },
  ERR_CHARGE_ROUNDS_TO_ZERO: { status: 422, title: "Charge rounds to zero", retryable: false },
  ERR_INTERNAL: { status: 500, title: "Internal error", retryable: true },
  ERR_SERVER_UNAVAILABLE: { status: 503, title: "Service unavailable", retryable: true },
  // A CRL may be fetched meanwhile.
  ERR_REVOCATION_UNKNOWN: { status: 503, title: "Revocation status unknown", retryable: true },
};

const verificationTitles: Readonly<Partial<Record<VerificationCode, string>>> = {
  ERR_BAD_SIGNATURE: "Bad signature",
  ERR_UNKNOWN_ISSUER: "Unknown certificate issuer",
  ERR_CERT_EXPIRED: "Certificate expired",
  ERR_CERT_NOT_YET_VALID: "Certificate not yet valid",
  ERR_NOT_A_CA: "Issuer is not a CA",
  ERR_PATH_LENGTH: "Certification path too long",
  ERR_KEY_USAGE: "Key usage not allowed",
  ERR_WRONG_ROLE: "Certificate role not allowed",
  ERR_REVOKED: "Certificate revoked",
  ERR_IDENTITY_MISMATCH: "Identity mismatch",
  ERR_UNKNOWN_KEY: "Unknown user key",
  ERR_WRONG_AUDIENCE: "Meant for another server",
  ERR_HASH_MISMATCH: "Offer hash mismatch",
  ERR_PRICE_MISMATCH: "Price mismatch",
  ERR_NONCE_MISMATCH: "Nonce mismatch",
  ERR_DATE_MISMATCH: "Date mismatch",
  ERR_MESSAGE_EXPIRED: "Message expired",
  ERR_MESSAGE_NOT_YET_VALID: "Message not yet valid",
};

/** The problem document for a code, with the status, title and retryability that code always has. */
export function problemFor(code: ProblemCode, detail: string, overrides: { status?: number; retryable?: boolean } = {}): Problem {
  const kind = kinds[code] ?? {
    status: 422,
    title: verificationTitles[code as VerificationCode] ?? "Verification failed",
    retryable: false,
  };
  return problem(code, overrides.status ?? kind.status, kind.title, detail, overrides.retryable ?? kind.retryable);
}

/** Thrown by handlers and hooks; the error handler turns it into the problem response. */
export class HttpProblem extends Error {
  override readonly name = "HttpProblem";
  constructor(
    readonly problem: Problem,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(problem.detail);
  }

  static of(code: ProblemCode, detail: string, overrides?: { status?: number; retryable?: boolean }): HttpProblem {
    return new HttpProblem(problemFor(code, detail, overrides));
  }
}

/** Sends a problem document with its status and media type. */
export function sendProblem(reply: FastifyReply, body: Problem, headers: Readonly<Record<string, string>> = {}): FastifyReply {
  return reply.code(body.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(body);
}
