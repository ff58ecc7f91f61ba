import { test } from "node:test";
import assert from "node:assert/strict";
import { createCrl, createDemoPki } from "../src/pki/index.js";
import { signCatalogEntry } from "../src/messages/catalog.js";
import { verifyOfferSignature } from "../src/messages/offer-signature.js";
import { price } from "../src/money.js";
import { PROTOCOL_VERSION } from "../src/messages/schema.js";

async function fixture() {
  const pki = await createDemoPki();
  const entry = await signCatalogEntry(
    {
      v: PROTOCOL_VERSION,
      publisher: pki.publisher.identity,
      offerId: "launch",
      description: "One launch",
      price: price(150, "EUR"),
      grant: { kind: "launch" },
    },
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
  );
  return { pki, entry };
}

test("an offer signature verified once is still refused once its publisher is revoked", async () => {
  const { pki, entry } = await fixture();
  const trust = pki.trustStore();
  const now = new Date();
  assert.ok((await verifyOfferSignature(entry.signature, trust, now)).ok);
  assert.ok((await verifyOfferSignature(entry.signature, trust, now)).ok);
  trust.addCrl(
    await createCrl({
      issuer: pki.publishersCa,
      revoked: [{ serialNumber: pki.publisher.certificate.serialNumber, revocationDate: now }],
      thisUpdate: new Date(now.getTime() - 1000),
      nextUpdate: new Date(now.getTime() + 86_400_000),
      crlNumber: 1,
    }),
  );
  const after = await verifyOfferSignature(entry.signature, trust, now);
  assert.equal(after.ok ? "ok" : after.error.code, "ERR_REVOKED");
});

test("a verified signature does not vouch for the same token under another trust store's key", async () => {
  const { pki, entry } = await fixture();
  const other = await createDemoPki();
  assert.ok((await verifyOfferSignature(entry.signature, pki.trustStore(), new Date())).ok);
  const result = await verifyOfferSignature(entry.signature, other.trustStore(), new Date());
  assert.equal(result.ok ? "ok" : result.error.code, "ERR_UNKNOWN_ISSUER");
});

test("a token differing from a verified one only in its signature is still checked", async () => {
  const { pki, entry } = await fixture();
  const trust = pki.trustStore();
  assert.ok((await verifyOfferSignature(entry.signature, trust, new Date())).ok);
  const cut = entry.signature.lastIndexOf(".");
  const signature = Buffer.from(entry.signature.slice(cut + 1), "base64url");
  signature[10] = (signature[10] ?? 0) ^ 1;
  const forged = `${entry.signature.slice(0, cut)}.${signature.toString("base64url")}`;
  const result = await verifyOfferSignature(forged, trust, new Date());
  assert.equal(result.ok ? "ok" : result.error.code, "ERR_BAD_SIGNATURE");
});
