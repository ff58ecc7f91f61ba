/**
 * One table of problem codes and HTTP statuses (protocol's ProblemKinds): the payment server and
 * the wallet's local service answer every code with the same status, title and retryability.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { isProblemCode, PaymentCodes, ProblemKinds, problemFor, VerificationCodes, VerificationError } from "@peage/protocol";
import { HttpProblem } from "@peage/server";
import { fromVerification, WalletError } from "../src/index.js";

const everyCode = [...PaymentCodes, ...VerificationCodes];

test("every problem code has an HTTP error status, a title and nothing else is in the table", () => {
  for (const code of everyCode) {
    const kind = ProblemKinds[code];
    assert.ok(kind, `${code} has no status`);
    assert.ok(Number.isInteger(kind.status) && kind.status >= 400 && kind.status <= 599, `${code}: ${kind.status}`);
    assert.ok(kind.title.length > 0, code);
  }
  assert.deepEqual(Object.keys(ProblemKinds).sort(), [...new Set(everyCode)].sort());
});

test("the server and the wallet answer each code with the same problem", () => {
  for (const code of everyCode) {
    const server = HttpProblem.of(code, "what happened").problem;
    const wallet = new WalletError(code, "what happened");
    assert.equal(wallet.status, server.status, code);
    assert.equal(wallet.retryable, server.retryable, code);
    assert.deepEqual(wallet.toProblem(), server, code);
    assert.deepEqual(server, problemFor(code, "what happened"), code);
  }
});

test("a message the wallet was given that fails verification keeps its code and is 422, a malformed one too", () => {
  for (const code of VerificationCodes) {
    const error = fromVerification(new VerificationError(code, "no"), "the offer");
    assert.equal(error.code, code);
    assert.equal(error.status, 422, code);
    assert.equal(error.retryable, false, code);
    assert.equal(error.toProblem().title, ProblemKinds[code].title, code);
  }
  assert.equal(fromVerification(new VerificationError("ERR_MALFORMED", "no"), "the card's acknowledgment", 502).status, 502);
});

test("a status given for a code where the fault lies elsewhere wins over the table", () => {
  const upstream = new WalletError("ERR_MALFORMED", "the payment server sent something that is not a card command", 502, false);
  assert.equal(upstream.toProblem().status, 502);
  assert.equal(upstream.toProblem().code, "ERR_MALFORMED");
  assert.equal(HttpProblem.of("ERR_NOT_FOUND", "gone", { status: 410 }).problem.status, 410);
});

test("only the table's codes are problem codes, whatever a document from outside says", () => {
  for (const code of everyCode) assert.ok(isProblemCode(code), code);
  for (const value of ["ERR_NOPE", "err_malformed", "", "toString", "__proto__", "constructor", 42, null, undefined, {}])
    assert.equal(isProblemCode(value), false, String(value));
});
