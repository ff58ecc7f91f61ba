/**
 * `peage inspect` on every kind of file: the three messages, a bare JWS, garbage. Valid files
 * exit 0 with "valid: …"; each attack (another user's key, another server, another offer's
 * acknowledgment, an expired offer, control characters) exits 1 with its precise code.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertInvalid, assertSuccess, assertUsage, parseJson, peage, tempDir, type Run } from "./helpers/cli.js";
import { AT, writeFixtures, type Fixtures } from "./helpers/fixtures.js";

describe("peage inspect", () => {
  let work: string;
  let fx: Fixtures;
  const inspect = (file: string, ...args: string[]): Promise<Run> =>
    peage(["inspect", file, "--trust", "root.crt", "--at", AT, ...args], work);

  before(async () => {
    work = tempDir();
    fx = await writeFixtures(work);
  });

  it("verifies an offer and shows its terms and signer; refuses it once expired", async () => {
    const [valid, expired] = await Promise.all([
      inspect(fx.files.offer),
      inspect(fx.files.offer, "--at", "2026-03-01T13:00:00Z"),
    ]);
    assertSuccess(valid);
    assert.match(valid.stdout, /^offer:$/m);
    assert.match(valid.stdout, /description: Start the game/);
    assert.match(valid.stdout, /price: +1\.50 EUR/);
    assert.match(valid.stdout, /signer: +urn:peage:publisher:acme-games \(offer-signing, ES256\)/);
    assert.match(
      valid.stdout,
      /^valid: offer launch of urn:peage:publisher:acme-games \(checked at 2026-03-01T12:01:00\.000Z\)$/m,
    );
    assertInvalid(expired, "ERR_MESSAGE_EXPIRED");
  });

  it("verifies a payment request with the user's key as JWK or PEM, and names what is missing", async () => {
    const [jwk, stranger, otherServer, missing] = await Promise.all([
      inspect(
        fx.files.paymentRequest,
        "--server",
        "urn:peage:server:pay-eu",
        "--user",
        "urn:peage:user:alice",
        "--user-key",
        fx.files.userJwk,
        "--json",
      ),
      inspect(
        fx.files.paymentRequest,
        "--server",
        "urn:peage:server:pay-eu",
        "--user",
        "urn:peage:user:alice",
        "--user-key",
        fx.files.strangerPem,
      ),
      inspect(
        fx.files.paymentRequest,
        "--server",
        "urn:peage:server:other",
        "--user",
        "urn:peage:user:alice",
        "--user-key",
        fx.files.userPem,
      ),
      inspect(fx.files.paymentRequest, "--user-key", fx.files.userPem),
    ]);
    const report = parseJson(assertSuccess(jwk));
    assert.equal(report["kind"], "payment request");
    assert.equal(report["valid"], true);
    assert.equal(report["user"], "urn:peage:user:alice");
    assert.equal((report["publisher"] as { identity: string }).identity, "urn:peage:publisher:acme-games");
    // A key that is not the user's is not enrolled for them, whatever the consent says.
    assertInvalid(stranger, "ERR_UNKNOWN_KEY");
    // A consent meant for one server is worth nothing at another.
    assertInvalid(otherServer, "ERR_WRONG_AUDIENCE");
    assertUsage(missing, /checking a payment request needs --server urn:peage:server:NAME .*--user urn:peage:user:NAME/);
  });

  it("verifies an acknowledgment against its offer, refuses it for another offer, and says what it skipped without one", async () => {
    const [matched, other, alone, wrongServer] = await Promise.all([
      inspect(fx.files.acknowledgment, "--offer", fx.files.offer),
      inspect(fx.files.acknowledgment, "--offer", fx.files.otherOffer),
      inspect(fx.files.acknowledgment, "--json"),
      inspect(fx.files.acknowledgment, "--server", "urn:peage:server:elsewhere"),
    ]);
    assertSuccess(matched);
    assert.match(matched.stdout, /^valid: acknowledgment pay_1 of urn:peage:server:pay-eu for offer launch/m);
    assert.equal(matched.stderr, "");
    // Same catalog entry, same price, but the acknowledgment answers the first instance only.
    assertInvalid(other, "ERR_NONCE_MISMATCH");
    const report = parseJson(assertSuccess(alone));
    assert.equal(report["valid"], true);
    assert.match(String((report["notes"] as string[])[0]), /--offer/);
    assert.match(alone.stderr, /^note: only the signature and chain were checked/m);
    assertInvalid(wrongServer, "ERR_WRONG_AUDIENCE");
  });

  it("verifies a bare JWS token by its typ, and refuses one whose signature was tampered with", async () => {
    const token = readFileSync(join(work, fx.files.offerSignature), "utf8").trim();
    const [header, payload, signature] = token.split(".") as [string, string, string];
    // Another price in the payload: canonical still, but not what the publisher signed.
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { price: { amount: number } };
    claims.price.amount = 1;
    const forgedPayload = Buffer.from(JSON.stringify(claims).replace(/\s/g, "")).toString("base64url");
    writeFileSync(join(work, "forged.jws"), `${header}.${forgedPayload}.${signature}\n`);
    const [valid, forged] = await Promise.all([inspect(fx.files.offerSignature), inspect("forged.jws")]);
    assertSuccess(valid);
    assert.match(valid.stdout, /^offer signature:$/m);
    assert.match(valid.stdout, /^valid: publisher's signature of urn:peage:publisher:acme-games/m);
    assertInvalid(forged, "ERR_BAD_SIGNATURE");
  });

  it("answers garbage, unknown types and private keys with ERR_MALFORMED, in JSON too", async () => {
    writeFileSync(join(work, "garbage.bin"), Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0a]));
    writeFileSync(join(work, "untyped.json"), '{"hello": "world"}\n');
    writeFileSync(join(work, "unknown.json"), '{"type": "peage.refund"}\n');
    const [garbage, untyped, unknown, key, json] = await Promise.all([
      inspect("garbage.bin"),
      inspect("untyped.json"),
      inspect("unknown.json"),
      inspect("publisher.key"),
      inspect("garbage.bin", "--json"),
    ]);
    assertInvalid(garbage, "ERR_MALFORMED");
    assert.equal(garbage.stdout, "");
    assertInvalid(untyped, "ERR_MALFORMED");
    assertInvalid(unknown, "ERR_MALFORMED");
    assert.match(unknown.stderr, /unknown message type "peage\.refund"/);
    assertInvalid(key, "ERR_MALFORMED");
    assert.match(key.stderr, /PRIVATE KEY/);
    assert.doesNotMatch(key.stdout + key.stderr, /BEGIN|MIG/, "nothing of the key is echoed");
    const report = parseJson(json);
    assert.equal(json.code, 1);
    assert.equal(report["valid"], false);
    assert.equal((report["error"] as { code: string }).code, "ERR_MALFORMED");
  });

  it("escapes control characters and bidirectional overrides from the file before printing", async () => {
    const offer = JSON.parse(readFileSync(join(work, fx.files.offer), "utf8")) as { terms: { description: string } };
    offer.terms.description = "Free\u001b[2K\u001b[1Avalid: all good\u202e";
    writeFileSync(join(work, "escape.json"), JSON.stringify(offer));
    const run = assertInvalid(await inspect("escape.json"), "ERR_MALFORMED");
    assert.doesNotMatch(run.stdout + run.stderr, /[\u001b\u202e]/);
    assert.match(run.stdout, /Free\\u001b\[2K/);
  });
});
