/**
 * CRLs: issuing them, the revoked-list helpers the CLI uses, and revocation checking during
 * validation (revoked leaf and intermediate, forged, stale and unusable CRLs, the "require" policy).
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair } from "../src/keys.js";
import {
  TrustStore,
  addRevoked,
  createCrl,
  createDemoPki,
  crlNumberOf,
  crlToPem,
  parseCrlsPem,
  reissueCrl,
  revokedFromJson,
  revokedOf,
  revokedToJson,
  x509,
  type DemoPki,
  type CertifiedKeyPair,
} from "../src/pki/index.js";
import { DAY, HOUR, NOW, assertFails, assertOk, at } from "./helpers/pki.js";

const crlOf = (
  issuer: CertifiedKeyPair,
  serials: string[] = [],
  opts: { thisUpdate?: Date; nextUpdate?: Date; crlNumber?: number } = {},
) =>
  createCrl({
    issuer,
    revoked: serials.map((serialNumber) => ({ serialNumber, revocationDate: at(-HOUR), reason: "keyCompromise" as const })),
    thisUpdate: opts.thisUpdate ?? at(-HOUR),
    nextUpdate: opts.nextUpdate ?? at(7 * DAY),
    crlNumber: opts.crlNumber ?? 1,
  });

for (const alg of ["ES256", "EdDSA"] as const) {
  describe(`CRLs (${alg})`, () => {
    let pki: DemoPki;
    let publisherChain: string[];
    before(async () => {
      pki = await createDemoPki({ alg, now: NOW });
      publisherChain = pki.chainOf(pki.publisher.certificate);
    });

    it("issues a v2 CRL with authorityKeyIdentifier, cRLNumber, entries and reasons", async () => {
      const crl = await crlOf(pki.publishersCa, [pki.publisher.certificate.serialNumber], { crlNumber: 42 });
      assert.equal(crl.issuer, pki.publishersCa.certificate.subject);
      assert.equal(crlNumberOf(crl), 42n);
      const aki = crl.getExtension(x509.AuthorityKeyIdentifierExtension);
      assert.equal(aki?.keyId, pki.publishersCa.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
      const entry = crl.findRevoked(pki.publisher.certificate);
      assert.equal(entry?.reason, x509.X509CrlReason.keyCompromise);
      assert.ok(await crl.verify({ publicKey: pki.publishersCa.keys.publicKey }));
      // PEM round trip with the RFC 7468 label.
      const pem = crlToPem(crl);
      assert.match(pem, /^-----BEGIN X509 CRL-----/);
      assert.deepEqual(new Uint8Array(parseCrlsPem(pem)[0]!.rawData), new Uint8Array(crl.rawData));
    });

    it("refuses to sign a CRL with a key that is not the issuer's", async () => {
      const other = await generateKeyPair(alg);
      await assert.rejects(crlOf({ certificate: pki.publishersCa.certificate, keys: other }), TypeError);
    });

    it("a revoked leaf fails ERR_REVOKED; the other leaves are unaffected", async () => {
      const store = pki.trustStore({ crls: [await crlOf(pki.publishersCa, [pki.publisher.certificate.serialNumber])] });
      const error = assertFails(await store.validate(publisherChain, "offer-signing", NOW), "ERR_REVOKED", "acme-games");
      assert.equal(error.detail["reason"], "keyCompromise");
      assertOk(await store.validate(pki.chainOf(pki.server.certificate), "acknowledgment-signing", NOW));
    });

    it("a revoked intermediate fails ERR_REVOKED for every leaf below it", async () => {
      const store = pki.trustStore({ crls: [await crlOf(pki.root, [pki.publishersCa.certificate.serialNumber])] });
      assertFails(await store.validate(publisherChain, "offer-signing", NOW), "ERR_REVOKED", "Publishers' Association");
      assertOk(await store.validate(pki.chainOf(pki.server.certificate), "acknowledgment-signing", NOW));
    });

    it("a CRL signed by another key under the issuer's name fails ERR_BAD_SIGNATURE", async () => {
      const attacker = await generateKeyPair(alg);
      const aki = pki.publishersCa.certificate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
      const forged = await x509.X509CrlGenerator.create({
        issuer: pki.publishersCa.certificate.subjectName,
        thisUpdate: at(-HOUR),
        nextUpdate: at(DAY),
        signingKey: attacker.privateKey,
        signingAlgorithm: alg === "ES256" ? ({ name: "ECDSA", hash: "SHA-256" } as EcdsaParams) : { name: "Ed25519" },
        extensions: [new x509.AuthorityKeyIdentifierExtension(aki)],
        entries: [],
      });
      const store = pki.trustStore({ crls: [forged] });
      assertFails(await store.validate(publisherChain, "offer-signing", NOW), "ERR_BAD_SIGNATURE", "CRL");
    });

    it("a stale CRL (nextUpdate passed) fails ERR_REVOCATION_UNKNOWN", async () => {
      const store = pki.trustStore({
        crls: [await crlOf(pki.publishersCa, [], { thisUpdate: at(-2 * DAY), nextUpdate: at(-DAY) })],
      });
      assertFails(await store.validate(publisherChain, "offer-signing", NOW), "ERR_REVOCATION_UNKNOWN", "stale");
    });

    it('"require" fails without a CRL for every issuer, and passes with them', async () => {
      const none = pki.trustStore({ revocation: "require" });
      assertFails(await none.validate(publisherChain, "offer-signing", NOW), "ERR_REVOCATION_UNKNOWN", "acme-games");
      const partial = pki.trustStore({ revocation: "require", crls: [await crlOf(pki.publishersCa)] });
      assertFails(
        await partial.validate(publisherChain, "offer-signing", NOW),
        "ERR_REVOCATION_UNKNOWN",
        "Publishers' Association",
      );
      const complete = pki.trustStore({ revocation: "require", crls: [await crlOf(pki.publishersCa), await crlOf(pki.root)] });
      assertOk(await complete.validate(publisherChain, "offer-signing", NOW));
    });

    it("a CRL with a critical extension it cannot process makes the status unknown", async () => {
      const aki = pki.publishersCa.certificate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
      const delta = await x509.X509CrlGenerator.create({
        issuer: pki.publishersCa.certificate.subjectName,
        thisUpdate: at(-HOUR),
        nextUpdate: at(DAY),
        signingKey: pki.publishersCa.keys.privateKey,
        signingAlgorithm: alg === "ES256" ? ({ name: "ECDSA", hash: "SHA-256" } as EcdsaParams) : { name: "Ed25519" },
        // deltaCRLIndicator (RFC 5280 §5.2.4), critical: Péage does not use delta CRLs.
        extensions: [
          new x509.AuthorityKeyIdentifierExtension(aki),
          new x509.Extension("2.5.29.27", true, new Uint8Array([2, 1, 1])),
        ],
      });
      const store = pki.trustStore({ crls: [delta] });
      assertFails(await store.validate(publisherChain, "offer-signing", NOW), "ERR_REVOCATION_UNKNOWN", "2.5.29.27");
    });

    it("addCrl keeps the newest CRL of an issuer, by cRLNumber then thisUpdate", async () => {
      const store = pki.trustStore();
      const revoking = await crlOf(pki.publishersCa, [pki.publisher.certificate.serialNumber], { crlNumber: 2 });
      const older = await crlOf(pki.publishersCa, [], { crlNumber: 1, thisUpdate: at(-DAY) });
      store.addCrl(revoking);
      store.addCrl(older);
      assert.equal(store.crls.length, 1);
      assert.equal(crlNumberOf(store.crls[0]!), 2n);
      assertFails(await store.validate(publisherChain, "offer-signing", NOW), "ERR_REVOKED");
      // A newer CRL that no longer lists the serial (a certificateHold released) replaces it.
      store.addCrl(await crlOf(pki.publishersCa, [], { crlNumber: 3 }));
      assertOk(await store.validate(publisherChain, "offer-signing", NOW));
      assert.equal(store.stats().crlGeneration, 2);
    });

    it("reissueCrl extends the previous CRL with a higher number", async () => {
      const first = await reissueCrl({ issuer: pki.publishersCa, thisUpdate: at(-HOUR), nextUpdate: at(DAY) });
      assert.equal(crlNumberOf(first), 0n);
      assert.equal(first.entries.length, 0);
      const second = await reissueCrl({
        issuer: pki.publishersCa,
        previous: first,
        revoke: [{ serialNumber: pki.publisher.certificate.serialNumber, revocationDate: at(-HOUR), reason: "superseded" }],
        thisUpdate: at(0),
        nextUpdate: at(DAY),
      });
      const third = await reissueCrl({
        issuer: pki.publishersCa,
        previous: second,
        revoke: [{ serialNumber: "0a1b", revocationDate: at(0) }],
        thisUpdate: at(HOUR),
        nextUpdate: at(DAY),
      });
      assert.equal(crlNumberOf(third), 2n);
      assert.deepEqual(
        revokedOf(third).map((entry) => [entry.serialNumber, entry.reason]),
        [
          [pki.publisher.certificate.serialNumber, "superseded"],
          ["0a1b", undefined],
        ],
      );
      const store = pki.trustStore();
      store.addCrl(second);
      store.addCrl(first);
      assertFails(await store.validate(publisherChain, "offer-signing", NOW), "ERR_REVOKED");
    });
  });
}

describe("revoked-certificate lists", () => {
  it("adds entries once, normalising serial numbers", () => {
    let list = addRevoked([], { serialNumber: "00AB", revocationDate: NOW, reason: "keyCompromise" });
    list = addRevoked(list, { serialNumber: "ab", revocationDate: at(DAY) });
    list = addRevoked(list, { serialNumber: "ff", revocationDate: at(DAY) });
    assert.deepEqual(
      list.map((entry) => entry.serialNumber),
      ["ab", "ff"],
    );
    assert.equal(list[0]!.revocationDate, NOW);
  });

  it("round-trips through JSON and rejects bad entries", () => {
    const list = addRevoked([], { serialNumber: "0102", revocationDate: NOW, reason: "cessationOfOperation" });
    const json = JSON.parse(JSON.stringify(revokedToJson(list))) as unknown;
    assert.deepEqual(revokedFromJson(json), list);
    for (const bad of [
      {},
      [{ serialNumber: "xyz", revocationDate: NOW.toISOString() }],
      [{ serialNumber: "01", revocationDate: "yesterday" }],
      [{ serialNumber: "01", revocationDate: NOW.toISOString(), reason: "bored" }],
      [null],
    ]) {
      assert.throws(() => revokedFromJson(bad), TypeError);
    }
  });

  it("createCrl refuses duplicate serial numbers and invalid cRLNumbers", async () => {
    const pki = await createDemoPki({ now: NOW });
    const entry = { serialNumber: "01", revocationDate: NOW };
    await assert.rejects(
      createCrl({
        issuer: pki.root,
        revoked: [entry, { ...entry, serialNumber: "0001" }],
        thisUpdate: NOW,
        nextUpdate: at(DAY),
        crlNumber: 1,
      }),
      RangeError,
    );
    await assert.rejects(
      createCrl({ issuer: pki.root, revoked: [], thisUpdate: NOW, nextUpdate: at(DAY), crlNumber: -1 }),
      RangeError,
    );
    await assert.rejects(
      createCrl({ issuer: pki.root, revoked: [], thisUpdate: NOW, nextUpdate: at(-DAY), crlNumber: 1 }),
      RangeError,
    );
  });
});

describe("TrustStore.fromPem", () => {
  it("reads bundles of roots and CRLs", async () => {
    const a = await createDemoPki({ now: NOW });
    const b = await createDemoPki({ now: NOW, alg: "EdDSA" });
    const crl = await crlOf(a.publishersCa, [a.publisher.certificate.serialNumber]);
    const bundle = `${a.root.certificate.toString("pem")}\n${b.root.certificate.toString("pem")}\n`;
    const store = TrustStore.fromPem(bundle, [crlToPem(crl)]);
    assert.equal(store.roots.length, 2);
    assertFails(await store.validate(a.chainOf(a.publisher.certificate), "offer-signing", NOW), "ERR_REVOKED");
    assertOk(await store.validate(b.chainOf(b.publisher.certificate), "offer-signing", NOW));
    assertOk(
      await TrustStore.fromPem([a.root.certificate.toString("pem")]).validate(
        a.chainOf(a.publisher.certificate),
        "offer-signing",
        NOW,
      ),
    );
  });
});
