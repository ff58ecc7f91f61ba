/**
 * The transport vectors of the payment server (packages/protocol/test-vectors/transport/
 * payment-server.json, docs/transport.md §6) replayed against a reference server set up as the
 * file says: its own identity and key (the file holds no private key), the file's roots trusted,
 * its clock at the file's time. Every exchange must get the status, headers and body shape the
 * file gives.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { certificateToPem, createDemoPki, FixedClock, rateTable, TrustStore } from "@peage/protocol";
import {
  answerProblems,
  EXCHANGES_FORMAT,
  replayExchanges,
  shapeProblems,
  startRealServer,
  type ExchangeFile,
  type RealServer,
} from "../src/testing.js";

const FILE = fileURLToPath(new URL("../../../protocol/test-vectors/transport/payment-server.json", import.meta.url));
const file = JSON.parse(readFileSync(FILE, "utf8")) as ExchangeFile;

describe("transport vectors: wallet and operator to the payment server", () => {
  let server: RealServer;

  before(async () => {
    const at = new Date(file.at);
    const own = await createDemoPki({ now: new Date(at.getTime() - 86_400_000) });
    assert.equal(own.server.identity, file.setup.server);
    const trust = TrustStore.fromPem([...file.setup.trustAnchors, certificateToPem(own.root.certificate)]);
    const { base, date, rates } = file.setup.rates;
    server = await startRealServer(own, rateTable(base, date, { ...rates }), { clock: new FixedClock(at), trust });
  });
  after(() => server.close());

  it("is in the documented format and covers every answer of POST /v1/payments the text names", () => {
    assert.equal(file.format, EXCHANGES_FORMAT);
    assert.equal(file.party, "payment server");
    assert.equal(new Set(file.exchanges.map((e) => e.id)).size, file.exchanges.length, "unique ids");
    const statuses = new Set(file.exchanges.filter((e) => e.request.path === "/v1/payments").map((e) => e.response.status));
    for (const status of [200, 400, 402, 403, 409, 415, 422]) assert.ok(statuses.has(status), `no exchange answered ${status}`);
    const codes = new Set(file.exchanges.map((e) => (e.response.body as { code?: string } | undefined)?.code));
    for (const code of ["ERR_NONCE_REUSED", "ERR_INSUFFICIENT_FUNDS", "ERR_ACCOUNT_SUSPENDED", "ERR_RATE_UNAVAILABLE"])
      assert.ok(codes.has(code), code);
    assert.ok(!JSON.stringify(file).includes("PRIVATE KEY"));
  });

  it("every exchange, replayed in order, gets the answer the file gives", async () => {
    const problems = await replayExchanges(server.url, file, { "<operator-key>": server.operatorKey });
    assert.deepEqual(problems, []);
  });

  it("the answer check can fail: another status, a missing member, a JWS placeholder, another body", () => {
    const problemBody = { type: "urn:peage:problem:nonce-reused", code: "ERR_NONCE_REUSED", status: 409, retryable: false };
    const answer = { status: 409, headers: { "content-type": "application/problem+json; charset=utf-8" }, body: problemBody };
    assert.deepEqual(
      answerProblems(answer, { status: 409, headers: { "content-type": "application/problem+json" } }, new Map()),
      [],
    );
    assert.equal(answerProblems(answer, { status: 200 }, new Map()).length, 1);
    assert.equal(answerProblems(answer, { status: 409, headers: { "content-type": "application/json" } }, new Map()).length, 1);
    assert.equal(answerProblems(answer, { status: 409, body: { code: "ERR_CONFLICT" } }, new Map()).length, 1);
    assert.equal(answerProblems(answer, { status: 409, sameBodyAs: "x" }, new Map([["x", { other: 1 }]])).length, 1);
    assert.deepEqual(shapeProblems({ a: "x.y.z", n: 1 }, { a: "<jws>", n: "<number>" }), []);
    assert.equal(shapeProblems({ a: "x.y" }, { a: "<jws>" }).length, 1);
    assert.equal(shapeProblems({ list: [1, 2] }, { list: [1] }).length, 1);
    assert.equal(shapeProblems({}, { a: "<*>" }).length, 1);
  });
});
