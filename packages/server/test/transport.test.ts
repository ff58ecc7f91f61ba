/**
 * docs/transport.md §2 as an outside wallet reads it: a wallet written without @peage/protocol's
 * signing or verifying code (jose for JWS, canonicalize for RFC 8785, fetch for HTTP, node:crypto
 * for X.509) enrols its key, pays through the reference server, retries, reads its own payments
 * with a signed request, and checks the acknowledgment as docs/protocol.md §7.6 says.
 */
import assert from "node:assert/strict";
import { randomBytes, X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import canonicalize from "canonicalize";
import { calculateJwkThumbprint, CompactSign, compactVerify, exportJWK, generateKeyPair, importX509, type CryptoKey } from "jose";
import { createOffer, type Offer } from "@peage/protocol";
import { admin, http, NOW, startFixture, topUp, type Fixture } from "./helpers/fixture.js";

const USER = "urn:peage:user:outsider";
const jcs = (value: unknown): string => canonicalize(value)!;
const b64u = (text: string) => Buffer.from(text, "utf8").toString("base64url");
const iso = (ms: number) => new Date(ms).toISOString();

/** A compact JWS whose payload is the RFC 8785 form of `claims` (protocol.md §4.1). */
async function sign(typ: string, claims: unknown, key: CryptoKey, kid: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(jcs(claims))).setProtectedHeader({ alg: "ES256", typ, kid }).sign(key);
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("transport: an outside wallet pays through the reference server (docs/transport.md §2)", () => {
  let fx: Fixture;
  let privateKey: CryptoKey;
  let kid: string;

  before(async () => {
    fx = await startFixture();
    const pair = await generateKeyPair("ES256", { extractable: true });
    privateKey = pair.privateKey;
    const jwk = await exportJWK(pair.publicKey);
    kid = await calculateJwkThumbprint(jwk, "sha256");
    // §2.2: the operator enrols the public JWK; the server names it by its RFC 7638 thumbprint.
    const enrolled = await admin(fx, "POST", "/v1/admin/users", {
      user: USER,
      publicKey: jwk,
      mode: "prepaid",
      homeCurrency: "EUR",
    });
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    assert.equal((enrolled.body as { kid: string }).kid, kid);
    await topUp(fx, USER, 1000);
  });
  after(() => fx.close());

  /** Message 2 for `offer`, built from protocol.md §3.7-§3.8 alone. */
  async function paymentRequest(offer: Offer): Promise<Record<string, unknown>> {
    const consent = {
      v: 1,
      offerHash: offer.offerHash,
      price: offer.terms.price,
      date: offer.date,
      nonce: offer.nonce,
      publisher: offer.terms.publisher,
      user: USER,
      server: fx.pki.server.identity,
      consentedAt: iso(NOW.getTime()),
      expiresAt: iso(NOW.getTime() + 5 * 60_000),
    };
    return {
      type: "peage.payment-request",
      v: 1,
      signature: offer.signature,
      consent: await sign("peage-consent+jws", consent, privateKey, kid),
    };
  }

  /** protocol.md §7.6 with jose and node:crypto: chain to the root, signature, then every claim against the offer. */
  async function checkAcknowledgment(message: Record<string, unknown>, offer: Offer): Promise<Record<string, unknown>> {
    assert.equal(message["type"], "peage.acknowledgment");
    const token = message["acknowledgment"] as string;
    const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8")) as {
      alg: string;
      typ: string;
      x5c: string[];
    };
    assert.equal(header.typ, "peage-ack+jws");
    const chain = header.x5c.map((der) => new X509Certificate(Buffer.from(der, "base64")));
    const root = new X509Certificate(fx.pki.root.certificate.toString("pem"));
    for (const [index, certificate] of chain.entries()) {
      const issuer = chain[index + 1] ?? root;
      assert.ok(certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey), `link ${index} of the server's chain`);
    }
    assert.ok(chain[0]!.subjectAltName?.includes(`URI:${fx.pki.server.identity}`), "the leaf names the server");
    const key = await importX509(chain[0]!.toString(), header.alg);
    const { payload } = await compactVerify(token, key);
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    assert.equal(claims["server"], fx.pki.server.identity);
    assert.equal(claims["offerHash"], offer.offerHash);
    assert.deepEqual(claims["price"], offer.terms.price);
    assert.equal(claims["publisher"], offer.terms.publisher);
    assert.equal(claims["nonce"], offer.nonce);
    assert.equal(claims["date"], offer.date);
    assert.equal(claims["user"], USER);
    return claims;
  }

  it("POST /v1/payments answers message 3, which checks out; the identical request again returns it and charges nothing", async () => {
    const offer = createOffer(fx.entry("launch"), fx.clock);
    const request = await paymentRequest(offer);
    const first = await http(fx, "POST", "/v1/payments", { body: request });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.contentType.split(";")[0], "application/json");
    const claims = await checkAcknowledgment(first.body as Record<string, unknown>, offer);
    assert.deepEqual(claims["charged"], offer.terms.price);

    const again = await http(fx, "POST", "/v1/payments", { body: request });
    assert.equal(again.status, 200);
    assert.deepEqual(
      payloadOf((again.body as { acknowledgment: string }).acknowledgment),
      payloadOf((first.body as { acknowledgment: string }).acknowledgment),
    );
    const me = await signedGet("/v1/me");
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.deepEqual((me.body as { balance: unknown }).balance, { amount: 1000 - offer.terms.price.amount, currency: "EUR" });
  });

  it("another request with the same nonce is 409 ERR_NONCE_REUSED, as a problem document", async () => {
    const offer = createOffer(fx.entry("launch"), fx.clock);
    assert.equal((await http(fx, "POST", "/v1/payments", { body: await paymentRequest(offer) })).status, 200);
    const second = await http(fx, "POST", "/v1/payments", { body: await paymentRequest(offer) });
    assert.equal(second.status, 409);
    assert.equal(second.contentType.split(";")[0], "application/problem+json");
    assert.equal((second.body as { code: string }).code, "ERR_NONCE_REUSED");
    assert.equal((second.body as { retryable: boolean }).retryable, false);
  });

  async function signedGet(path: string, claims: Partial<Record<string, unknown>> = {}) {
    const token = await sign(
      "peage-user-request+jws",
      { v: 1, user: USER, method: "GET", path, iat: iso(NOW.getTime()), nonce: randomBytes(16).toString("base64url"), ...claims },
      privateKey,
      kid,
    );
    return http(fx, "GET", path, { headers: { authorization: `Peage-Signature ${token}` } });
  }

  it("GET /v1/me/payments with a signed request lists the payments; a token is good once, for one target", async () => {
    const page = await signedGet("/v1/me/payments?limit=10");
    assert.equal(page.status, 200, JSON.stringify(page.body));
    assert.ok((page.body as { payments: unknown[] }).payments.length >= 2);

    const nonce = randomBytes(16).toString("base64url");
    assert.equal((await signedGet("/v1/me", { nonce })).status, 200);
    assert.equal((await signedGet("/v1/me", { nonce })).status, 401, "a replayed token");
    assert.equal((await signedGet("/v1/me", { path: "/v1/me/payments" })).status, 401, "a token for another target");
    assert.equal(
      (await signedGet("/v1/me", { iat: iso(NOW.getTime() - 6 * 60_000) })).status,
      401,
      "outside the ±5 minute window",
    );
    const unsigned = await http(fx, "GET", "/v1/me", { headers: { authorization: `Peage-Signature ${b64u("{}")}.e30.c2ln` } });
    assert.equal(unsigned.status, 401);
  });
});
