/**
 * The validation cache: hits cost no signature check, and nothing cached outlives what it was
 * based on: the validity window of the path, the CRLs' nextUpdate, or a CRL added since.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { TrustStore, createCrl, createDemoPki, toX5c, type DemoPki } from "../src/pki/index.js";
import { DAY, HOUR, NOW, assertFails, assertOk, at } from "./helpers/pki.js";

describe("validation cache", () => {
  let pki: DemoPki;
  let x5c: string[];
  before(async () => {
    pki = await createDemoPki({ now: NOW });
    x5c = pki.chainOf(pki.publisher.certificate);
  });

  const revokePublisher = (nextUpdate = at(7 * DAY)) =>
    createCrl({
      issuer: pki.publishersCa,
      revoked: [{ serialNumber: pki.publisher.certificate.serialNumber, revocationDate: NOW, reason: "keyCompromise" }],
      thisUpdate: NOW,
      nextUpdate,
      crlNumber: 7,
    });

  it("the second validation of a chain is a cache hit returning the same result", async () => {
    const store = pki.trustStore();
    const first = assertOk(await store.validate(x5c, "offer-signing", NOW));
    assert.deepEqual(store.stats(), { hits: 0, misses: 1, entries: 1, crlGeneration: 0 });
    const second = assertOk(await store.validate(x5c, "offer-signing", at(HOUR)));
    assert.equal(second, first);
    assert.equal(store.stats().hits, 1);
  });

  it("keys the cache by role as well as chain", async () => {
    const store = pki.trustStore();
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    assertFails(await store.validate(x5c, "acknowledgment-signing", NOW), "ERR_WRONG_ROLE");
    assert.equal(store.stats().hits, 0);
  });

  it("a CRL added after a success revokes on the next validation", async () => {
    const store = pki.trustStore();
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    store.addCrl(await revokePublisher());
    assertFails(await store.validate(x5c, "offer-signing", NOW), "ERR_REVOKED", "acme-games");
    assert.equal(store.stats().hits, 0);
  });

  it("outside the cached window the chain is validated again: expired", async () => {
    const store = pki.trustStore();
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    assertFails(await store.validate(x5c, "offer-signing", at(2 * 365 * DAY)), "ERR_CERT_EXPIRED", "acme-games");
    assertFails(await store.validate(x5c, "offer-signing", at(-2 * HOUR)), "ERR_CERT_NOT_YET_VALID", "acme-games");
    assert.equal(store.stats().hits, 0);
  });

  it("the window ends at the earliest nextUpdate of the CRLs used", async () => {
    const store = pki.trustStore({
      crls: [await createCrl({ issuer: pki.publishersCa, revoked: [], thisUpdate: NOW, nextUpdate: at(DAY), crlNumber: 1 })],
    });
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    assertOk(await store.validate(x5c, "offer-signing", at(DAY)));
    assert.equal(store.stats().hits, 1);
    assertFails(await store.validate(x5c, "offer-signing", at(DAY + 1)), "ERR_REVOCATION_UNKNOWN", "stale");
  });

  it("a failure is not cached: a CRL added later turns it into a success", async () => {
    const store = pki.trustStore({ revocation: "require" });
    assertFails(await store.validate(x5c, "offer-signing", NOW), "ERR_REVOCATION_UNKNOWN");
    assert.equal(store.stats().entries, 0);
    store.addCrl(await createCrl({ issuer: pki.publishersCa, revoked: [], thisUpdate: NOW, nextUpdate: at(DAY), crlNumber: 1 }));
    store.addCrl(await createCrl({ issuer: pki.root, revoked: [], thisUpdate: NOW, nextUpdate: at(DAY), crlNumber: 1 }));
    assertOk(await store.validate(x5c, "offer-signing", NOW));
  });

  it("a validation that overlaps addCrl is returned but not cached", async () => {
    const store = pki.trustStore();
    const crl = await revokePublisher();
    const pending = store.validate(x5c, "offer-signing", NOW);
    store.addCrl(crl);
    await pending;
    assert.equal(store.stats().entries, 0);
    assertFails(await store.validate(x5c, "offer-signing", NOW), "ERR_REVOKED");
  });

  it("a different spelling of the same chain is a different entry, never a wrong hit", async () => {
    const store = pki.trustStore();
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    // Same certificates plus the root: validated on its own.
    assertOk(await store.validate([...x5c, toX5c(pki.root.certificate)], "offer-signing", NOW));
    assert.equal(store.stats().entries, 2);
    // The two strings run together: malformed, not a hit on the first entry.
    assertFails(await store.validate([x5c.join("")], "offer-signing", NOW), "ERR_MALFORMED");
  });

  it("holds at most cacheSize entries, evicting the least recently used", async () => {
    const store = pki.trustStore({ cacheSize: 2 });
    const server = pki.chainOf(pki.server.certificate);
    const withRoot = [...x5c, toX5c(pki.root.certificate)];
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    assertOk(await store.validate(server, "acknowledgment-signing", NOW));
    assertOk(await store.validate(x5c, "offer-signing", NOW)); // hit: x5c is now the most recent
    assertOk(await store.validate(withRoot, "offer-signing", NOW)); // evicts server
    assert.equal(store.stats().entries, 2);
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    assertOk(await store.validate(server, "acknowledgment-signing", NOW));
    assert.deepEqual({ hits: store.stats().hits, misses: store.stats().misses }, { hits: 2, misses: 4 });
  });

  it("cacheSize 0 disables caching", async () => {
    const store = new TrustStore({ roots: [pki.root.certificate], cacheSize: 0 });
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    assertOk(await store.validate(x5c, "offer-signing", NOW));
    assert.equal(store.stats().hits, 0);
  });

  it("a hit is much cheaper than a validation", async (t) => {
    const store = pki.trustStore();
    const time = async (n: number, fresh: boolean) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        if (fresh) store.clearCache();
        assertOk(await store.validate(x5c, "offer-signing", NOW));
      }
      return Number(process.hrtime.bigint() - start) / n / 1000;
    };
    const miss = await time(50, true);
    const hit = await time(2000, false);
    t.diagnostic(`validation ${miss.toFixed(1)} µs, cache hit ${hit.toFixed(1)} µs`);
    assert.ok(hit * 5 < miss, `a hit (${hit} µs) should cost far less than a validation (${miss} µs)`);
  });
});
