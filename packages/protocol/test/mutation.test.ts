/**
 * The vectors against the rules: every verification rule of the reference implementation is dropped
 * in turn (scripts/mutation.ts) and the vectors are run against the result. A rule is pinned when a
 * vector notices. The rules no vector can pin are listed below, each with the reason; the test fails
 * when a new rule is left unpinned (a rule added without a vector) and when a listed one becomes
 * pinned (the list must stay true).
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { test } from "node:test";
import { mutateLine, runMutation } from "../scripts/mutation.js";
import type { VectorFile } from "../scripts/vectors.js";

/**
 * Rules whose removal no vector can observe, keyed by file and failure message, with why. "Layered":
 * a later check refuses the same input with the same code, so an implementation without this one
 * still gives the specified outcome. "Unreachable": the message schema refuses the input first.
 */
const UNPINNED: Readonly<Record<string, string>> = {
  "src/jws.js a JWS must be a string": "unreachable: the schemas type every JWS field as a string",
  "src/jws.js JWS longer than": "unreachable: the schemas bound every JWS field at the same length",
  "src/jws.js JWS payload is not JSON": "layered: the claims schema then refuses the missing payload with ERR_MALFORMED",
  "src/jws.js JWS x5c must be a non-empty array":
    "layered: chain validation refuses an empty or non-array chain with ERR_MALFORMED",
  "src/jws.js the signer's key is not an": "layered: the header's alg is checked against the same key just before",
  "src/jws.js the JWS signature has the wrong length":
    "layered: a signature of the wrong length fails verification with ERR_BAD_SIGNATURE",
  "src/messages/acknowledgment.js the acknowledgment carries no certificate chain":
    "layered: chain validation then refuses the absent x5c as a chain that is not an array, ERR_MALFORMED",
  "src/messages/offer-signature.js the publisher's signature carries no certificate chain":
    "layered: chain validation then refuses the absent x5c as a chain that is not an array, ERR_MALFORMED",
  "src/pki/rules.js card certificate ${leaf.name} is not issued by a card issuer":
    "unreachable: a card leaf is never a trust anchor, so its path always has an issuer",
  "src/pki/revocation.js the key of": "unreachable: every issuer on a validated path has a key",
  "src/pki/signature.js is signed with ${alg} but the key of its issuer": "layered: the signature then fails verification",
  "src/pki/validate.js of the chain is not a string": "layered: decoding the entry then fails with ERR_MALFORMED",
};

const keyOf = (file: string, text: string): string | undefined =>
  Object.keys(UNPINNED).find((key) => key.startsWith(`${file} `) && text.includes(key.slice(file.length + 1)));

test("mutateLine drops a failure and keeps the line valid", () => {
  assert.equal(mutateLine('  if (x) return fail("ERR_MALFORMED", "m");'), '  if (x) void fail("ERR_MALFORMED", "m");');
  assert.equal(
    mutateLine('  return ok ? ok(1) : fail("ERR_BAD_SIGNATURE", "m");'),
    '  return ok ? ok(1) : ok(null) ?? fail("ERR_BAD_SIGNATURE", "m");',
  );
  assert.throws(() => mutateLine("  return ok(1);"), /not a rule site/);
});

test("every verification rule is pinned by a vector, or listed with its reason", { timeout: 30 * 60_000 }, async () => {
  const dist = fileURLToPath(new URL("..", import.meta.url));
  const vectors = JSON.parse(readFileSync(join(dist, "..", "test-vectors", "vectors.json"), "utf8")) as VectorFile;
  const outcomes = await runMutation(dist, vectors, join(dist, "..", ".mutants", "test"));
  assert.ok(outcomes.length >= 80, `only ${outcomes.length} rule sites found: the site finder is broken`);

  const holes = outcomes.filter((o) => o.caughtBy === undefined);
  const unexplained = holes.filter((o) => keyOf(o.site.file, o.site.text) === undefined);
  assert.deepEqual(
    unexplained.map((o) => `${o.site.file}:${o.site.line} ${o.site.text}`),
    [],
    "rules that no vector pins: add a vector to scripts/make-vectors.ts that fails without each",
  );
  const listedButPinned = outcomes.filter((o) => o.caughtBy !== undefined && keyOf(o.site.file, o.site.text) !== undefined);
  assert.deepEqual(
    listedButPinned.map((o) => `${o.site.file}:${o.site.line} pinned by ${o.caughtBy}`),
    [],
    "rules listed as unpinned are now pinned: remove them from UNPINNED",
  );
  const stale = Object.keys(UNPINNED).filter((key) => !holes.some((o) => keyOf(o.site.file, o.site.text) === key));
  assert.deepEqual(stale, [], "UNPINNED names rules that no longer exist");
});
