/**
 * docs/transport.md §3 as an outside merchant reads it: a program written without @peage/merchant
 * or @peage/protocol's signing and verifying code (node:crypto for hashes, X.509 and nonces, jose
 * for JWS, canonicalize for RFC 8785) signs an offer from docs/protocol.md §2-§4, finds the
 * reference wallet through its endpoint file, posts the offer with the bearer token, and checks
 * the acknowledgment itself as protocol.md §7.6 says, before it would go on. The wallet pays
 * through the reference payment server (the wallet of the transport vectors, scripts/transport-vectors.ts).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import canonicalize from "canonicalize";
import { CompactSign, compactVerify, importX509 } from "jose";
import { createDemoPki, type DemoPki } from "@peage/protocol";
import { startVectorWallet, type VectorWallet } from "../scripts/transport-vectors.js";

/** protocol.md §5.1: the acknowledgment-signing role, under the project's arc. */
const ACK_ROLE = "2.25.273969294525649124083163031482911854366.1.2";
const MINUTE = 60_000;

const jcs = (value: unknown): string => canonicalize(value)!;
const b64u = (bytes: Buffer | string) => Buffer.from(bytes).toString("base64url");
const segment = (token: string, index: number) =>
  JSON.parse(Buffer.from(token.split(".")[index]!, "base64url").toString("utf8")) as Record<string, unknown>;

interface Offer {
  type: "peage.offer";
  v: 1;
  terms: {
    v: 1;
    publisher: string;
    offerId: string;
    description: string;
    price: { amount: number; currency: string };
    grant: unknown;
  };
  offerHash: string;
  signature: string;
  nonce: string;
  date: string;
  expiresAt: string;
}

/** protocol.md §3.3-§3.6: the catalog entry signed at build time, then one fresh instance of it. */
async function makeOffer(pki: DemoPki, offerId: string, amount: number): Promise<Offer> {
  const terms = {
    v: 1 as const,
    publisher: pki.publisher.identity,
    offerId,
    description: `Unlock ${offerId}`,
    price: { amount, currency: "EUR" },
    grant: { kind: "launch" },
  };
  const offerHash = b64u(createHash("sha256").update(jcs(terms), "utf8").digest());
  const x5c = pki.chainOf(pki.publisher.certificate);
  const signature = await new CompactSign(Buffer.from(jcs({ v: 1, offerHash, price: terms.price }), "utf8"))
    .setProtectedHeader({ alg: "ES256", typ: "peage-offer+jws", x5c })
    .sign(pki.publisher.keys.privateKey);
  const now = Date.now();
  return {
    type: "peage.offer",
    v: 1,
    terms,
    offerHash,
    signature,
    nonce: b64u(randomBytes(16)),
    date: new Date(now).toISOString(),
    expiresAt: new Date(now + 10 * MINUTE).toISOString(),
  };
}

/**
 * protocol.md §7.6, step by step, against the offer this program made itself: throws with the
 * step that failed. `server` is the one payment server this merchant accepts.
 */
async function checkAcknowledgment(message: unknown, offer: Offer, root: X509Certificate, server: string) {
  const ack = message as Record<string, unknown>;
  assert.deepEqual(Object.keys(ack).sort(), ["acknowledgment", "type", "v"], "step 1: message 3 is closed");
  assert.equal(ack["type"], "peage.acknowledgment");
  assert.equal(ack["v"], 1);
  const token = ack["acknowledgment"];
  assert.equal(typeof token, "string");
  const header = segment(token as string, 0) as { alg: string; typ: string; x5c: string[] };
  assert.deepEqual(Object.keys(header).sort(), ["alg", "typ", "x5c"], "step 2: only alg, typ and x5c");
  assert.equal(header.typ, "peage-ack+jws");
  assert.ok(header.alg === "ES256" || header.alg === "EdDSA");
  assert.ok(Date.parse(offer.expiresAt) + 5 * MINUTE >= Date.now(), "step 3: within the offer's expiry and grace");

  // Step 4: the chain, leaf first, each link issued and signed by the next, the last by the trusted root.
  const chain = header.x5c.map((der) => new X509Certificate(Buffer.from(der, "base64")));
  assert.ok(chain.length >= 1 && chain.length <= 4);
  for (const [index, certificate] of chain.entries()) {
    const issuer = chain[index + 1] ?? root;
    assert.ok(certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey), `step 4: link ${index}`);
    assert.ok(issuer.ca, `step 4: the issuer of link ${index} is a CA`);
    assert.ok(Date.parse(certificate.validFrom) <= Date.now() && Date.now() <= Date.parse(certificate.validTo));
  }
  const leaf = chain[0]!;
  assert.equal(leaf.ca, false, "step 4: the signer is not a CA");
  assert.ok(leaf.keyUsage?.includes(ACK_ROLE), "step 4: the leaf holds the acknowledgment-signing role");
  const identities = (leaf.subjectAltName ?? "").split(", ").filter((name) => name.startsWith("URI:"));
  assert.equal(identities.length, 1, "step 4: exactly one identity");

  // Step 5: the signature, with the algorithm of the certified key.
  const { payload } = await compactVerify(token as string, await importX509(leaf.toString(), header.alg), {
    algorithms: [header.alg],
  });
  const text = new TextDecoder().decode(payload);
  const claims = JSON.parse(text) as Record<string, unknown>;
  assert.equal(jcs(claims), text, "step 6: the payload is RFC 8785 canonical");
  assert.equal(`URI:${String(claims["server"])}`, identities[0], "step 7: the server is the certificate's identity");
  assert.ok(!("debit" in claims), "step 8: a payment server never sets debit");
  assert.equal(claims["server"], server, "step 9: the one server this merchant accepts");
  assert.equal(claims["offerHash"], offer.offerHash, "step 10");
  assert.deepEqual(claims["price"], offer.terms.price, "step 11");
  assert.equal(claims["publisher"], offer.terms.publisher, "step 12");
  assert.equal(claims["nonce"], offer.nonce, "step 13");
  assert.equal(claims["date"], offer.date, "step 14");
  return claims;
}

describe("transport: an outside merchant is paid through the reference wallet (docs/transport.md §3)", () => {
  let pki: DemoPki;
  let wallet: VectorWallet;
  let root: X509Certificate;

  before(async () => {
    pki = await createDemoPki();
    root = new X509Certificate(pki.root.certificate.toString("pem"));
    // The wallet of the transport vectors: 10.00 EUR, the user says yes, the real server behind it.
    wallet = await startVectorWallet(pki, [], new Date());
  });
  after(() => wallet.close());

  /** §3.1-§3.2: the wallet found through its endpoint file, the offer posted with its token. */
  async function post(offer: unknown, headers: Record<string, string> = {}) {
    const endpoint = JSON.parse(await readFile(wallet.endpointFile, "utf8")) as { url: string; token: string };
    const response = await fetch(`${endpoint.url}/v1/offers`, {
      method: "POST",
      headers: { authorization: `Bearer ${endpoint.token}`, "content-type": "application/json", ...headers },
      body: JSON.stringify({ offer }),
    });
    return {
      status: response.status,
      type: response.headers.get("content-type")?.split(";")[0],
      authenticate: response.headers.get("www-authenticate"),
      body: (await response.json()) as Record<string, unknown>,
    };
  }

  it("an offer signed from the text alone is paid, and the acknowledgment checks out step by step", async () => {
    const offer = await makeOffer(pki, "chapter-2", 120);
    const answer = await post(offer);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.type, "application/json");
    assert.deepEqual(Object.keys(answer.body), ["acknowledgment"]);
    const claims = await checkAcknowledgment(answer.body["acknowledgment"], offer, root, pki.server.identity);
    assert.equal(claims["user"], wallet.user);
    assert.deepEqual(claims["charged"], { amount: 120, currency: "EUR" });
    assert.equal(await wallet.balance(), 1000 - 120);
  });

  it("the merchant's own check refuses an acknowledgment of another offer instance, or with a claim altered", async () => {
    const offer = await makeOffer(pki, "chapter-3", 80);
    const answer = await post(offer);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const message = answer.body["acknowledgment"] as { acknowledgment: string };
    const another = { ...offer, nonce: b64u(randomBytes(16)) };
    await assert.rejects(checkAcknowledgment(message, another, root, pki.server.identity), /step 13/);
    await assert.rejects(checkAcknowledgment(message, offer, root, "urn:peage:server:elsewhere"), /step 9/);
    const [head, , sig] = message.acknowledgment.split(".");
    const altered = { ...segment(message.acknowledgment, 1), price: { amount: 1, currency: "EUR" } };
    const forged = { ...message, acknowledgment: `${head}.${b64u(jcs(altered))}.${sig}` };
    await assert.rejects(checkAcknowledgment(forged, offer, root, pki.server.identity), /signature/);
  });

  it("the wallet refuses a missing token, a web page's request and a body that is not JSON, and pays nothing", async () => {
    const balance = await wallet.balance();
    const offer = await makeOffer(pki, "chapter-4", 60);
    const anonymous = await post(offer, { authorization: "" });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.type, "application/problem+json");
    assert.equal(anonymous.body["code"], "ERR_UNAUTHORIZED");
    assert.match(anonymous.authenticate ?? "", /^Bearer realm="peage-wallet"/);
    const page = await post(offer, { origin: "https://shop.example" });
    assert.equal(page.status, 403);
    assert.equal(page.body["code"], "ERR_FORBIDDEN");
    const text = await post(offer, { "content-type": "text/plain" });
    assert.equal(text.status, 415);
    assert.equal(text.body["code"], "ERR_BAD_REQUEST");
    const tampered = await post({ ...offer, terms: { ...offer.terms, price: { amount: 1, currency: "EUR" } } });
    assert.equal(tampered.status, 422);
    assert.equal(tampered.body["code"], "ERR_HASH_MISMATCH");
    assert.equal(await wallet.balance(), balance);
  });
});
