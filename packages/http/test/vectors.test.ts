/**
 * The metering and request-binding vectors (test-vectors/metering.json, docs/http.md §9): the
 * library derives exactly the published values from the published inputs, and so does a second
 * derivation written here from the text of the specification alone, with node:crypto.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { isChainWord, payWordChain, sessionNonce, settlementCommitment, uptoNonce } from "@peage/protocol";
import { boundNonce, contentDigest } from "../src/index.js";

interface Vectors {
  request: { method: string; target: string; body: string; salt: string; contentDigest: string; boundNonce: string };
  upto: { key: string; commitment: string; inner: string; offerNonce: string };
  session: { seed: string; length: number; words: string[]; root: string; consentNonce: string };
}
const vectors = JSON.parse(readFileSync(new URL("../../test-vectors/metering.json", import.meta.url), "utf8")) as Vectors;

/** The spec's framing: label, then each part, each followed by a zero byte; SHA-256; base64url. */
const framed = (...parts: string[]) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(Buffer.from(part, "utf8")).update(Buffer.of(0));
  return hash.digest("base64url");
};
const sha = (bytes: Buffer) => createHash("sha256").update(bytes).digest();

test("the request binding and the upto nonce, from the published inputs", () => {
  const { request, upto } = vectors;
  const body = Buffer.from(request.body, "utf8");
  assert.equal(contentDigest(body), request.contentDigest);
  assert.equal(`sha-256=:${sha(body).toString("base64")}:`, request.contentDigest);
  const bound = framed("peage-http/1", request.salt, request.method, request.target, request.contentDigest);
  assert.equal(bound, request.boundNonce);
  assert.equal(boundNonce(request.salt, { method: request.method, target: request.target, body }), request.boundNonce);
  assert.equal(sha(Buffer.from(upto.key, "base64url")).toString("base64url"), upto.commitment);
  assert.equal(settlementCommitment(upto.key), upto.commitment);
  assert.equal(framed("peage-upto/1", upto.commitment, upto.inner), upto.offerNonce);
  assert.equal(uptoNonce(upto.commitment, upto.inner), upto.offerNonce);
});

test("the session's chain and consent nonce, from the published seed", () => {
  const { session, upto } = vectors;
  const words = [Buffer.from(session.seed, "base64url")];
  for (let i = 0; i < session.length; i++) words.unshift(sha(words[0]!));
  assert.deepEqual(
    words.map((w) => w.toString("base64url")),
    session.words,
  );
  assert.deepEqual(payWordChain(session.length, Buffer.from(session.seed, "base64url")), session.words);
  assert.equal(session.root, session.words[0]);
  assert.equal(framed("peage-session/1", upto.offerNonce, session.root, String(session.length)), session.consentNonce);
  assert.equal(sessionNonce(upto.offerNonce, session.root, session.length), session.consentNonce);
  assert.ok(isChainWord(session.words[3]!, session.words[1]!, 2), "tick 3 after tick 1: two hashes");
  assert.ok(!isChainWord(session.words[3]!, session.words[1]!, 1), "not one hash");
  assert.ok(!isChainWord(session.words[1]!, session.words[3]!, 2), "not backwards");
});
