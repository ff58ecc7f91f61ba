/**
 * Every error the server answers is an RFC 9457 problem document (protocol problem.ts) sent as
 * application/problem+json, with a stable `code` and `retryable`, which tells the wallet whether
 * sending the very same request again can succeed (a busy database: yes; an empty balance: no).
 */
import {
  PeageError,
  problemFor,
  PROBLEM_CONTENT_TYPE,
  type Problem,
  type ProblemCode,
  type ProblemOverrides,
} from "@peage/protocol";
import type { FastifyReply } from "fastify";

// The status, title and retryability of each code are protocol's ProblemKinds, the table the
// wallet answers with too.
export { problemFor };

/** Thrown by handlers and hooks; the error handler turns it into the problem response. */
export class HttpProblem extends PeageError<ProblemCode> {
  override readonly name = "HttpProblem";
  constructor(
    readonly problem: Problem,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(problem.code, problem.detail);
  }

  static of(code: ProblemCode, detail: string, overrides?: ProblemOverrides): HttpProblem {
    return new HttpProblem(problemFor(code, detail, overrides));
  }
}

/** Sends a problem document with its status and media type. */
export function sendProblem(reply: FastifyReply, body: Problem, headers: Readonly<Record<string, string>> = {}): FastifyReply {
  return reply.code(body.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** A request that does not match its route's schema: the part and the member's path, then why. */
export function malformed(
  part: string,
  first: { readonly instancePath?: string; readonly message?: string } | undefined,
): Problem {
  return problemFor("ERR_MALFORMED", `${part}${first?.instancePath ?? ""}: ${first?.message ?? "is invalid"}`);
}
