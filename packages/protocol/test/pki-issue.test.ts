/**
 * Issuance: what createRootCa and issueCertificate put in certificates (RFC 5280 §4.2 extensions
 * of the Péage profile), serial numbers, refusals, and issuing from a PKCS#10 request.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { generateKeyPair } from "../src/keys.js";
import { partyId } from "../src/identity.js";
import {
  TrustStore,
  createCsr,
  createDemoPki,
  createRootCa,
  issueCertificate,
  issueFromCsr,
  normalizeSerialNumber,
  randomSerialNumber,
  rolesOf,
  subjectAltNameUris,
  x509,
  type DemoPki,
} from "../src/pki/index.js";
import { DAY, HOUR, NOW, assertOk, at, chain, ext, rawCertificate } from "./helpers/pki.js";

describe("issuance", () => {
  let pki: DemoPki;
  before(async () => {
    pki = await createDemoPki({ now: NOW });
  });

  it("a root is self-signed with critical cA, pathLen, keyCertSign|cRLSign, SKI and AKI", async () => {
    const root = pki.root.certificate;
    assert.equal(root.subject, "CN=Péage Root CA, O=Péage");
    assert.equal(root.issuer, root.subject);
    assert.ok(await root.verify({ signatureOnly: true }));
    const basic = root.getExtension(x509.BasicConstraintsExtension)!;
    assert.deepEqual([basic.critical, basic.ca, basic.pathLength], [true, true, 2]);
    const usage = root.getExtension(x509.KeyUsagesExtension)!;
    assert.deepEqual([usage.critical, usage.usages], [true, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign]);
    const ski = root.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
    assert.equal(root.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, ski);
    assert.equal(rolesOf(root), undefined);
    // 10 years from an hour before "now".
    assert.equal(root.notBefore.getTime(), at(-HOUR).getTime());
    assert.equal(root.notAfter.getUTCFullYear(), NOW.getUTCFullYear() + 10);
  });

  it("intermediates list the roles they may certify and chain to the root by AKI", async () => {
    const publishers = pki.publishersCa.certificate;
    assert.equal(publishers.issuer, pki.root.certificate.subject);
    assert.equal(
      publishers.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId,
      pki.root.certificate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
    );
    assert.equal(publishers.getExtension(x509.BasicConstraintsExtension)!.pathLength, 0);
    assert.equal(pki.regulatorCa.certificate.getExtension(x509.BasicConstraintsExtension)!.pathLength, 1);
    assert.deepEqual(rolesOf(publishers), ["offer-signing"]);
    assert.deepEqual(rolesOf(pki.regulatorCa.certificate), ["acknowledgment-signing", "card-issuing"]);
    assert.ok(await publishers.verify({ publicKey: pki.root.keys.publicKey, signatureOnly: true }));
    assert.equal(publishers.notAfter.getUTCFullYear(), NOW.getUTCFullYear() + 5);
  });

  it("leaves: cA=false, digitalSignature only, their role as EKU, their identity as SAN URI", () => {
    const leaf = pki.publisher.certificate;
    const basic = leaf.getExtension(x509.BasicConstraintsExtension)!;
    assert.deepEqual([basic.critical, basic.ca], [true, false]);
    const usage = leaf.getExtension(x509.KeyUsagesExtension)!;
    assert.deepEqual([usage.critical, usage.usages], [true, x509.KeyUsageFlags.digitalSignature]);
    assert.equal(leaf.getExtension(x509.ExtendedKeyUsageExtension)!.critical, false);
    assert.deepEqual(rolesOf(leaf), ["offer-signing"]);
    assert.deepEqual(rolesOf(pki.server.certificate), ["acknowledgment-signing"]);
    assert.deepEqual(subjectAltNameUris(leaf), ["urn:peage:publisher:acme-games"]);
    assert.equal(leaf.notAfter.getUTCFullYear(), NOW.getUTCFullYear() + 1);
    assert.equal(pki.server.identity, "urn:peage:server:pay-eu");
  });

  it("names the publisher and server as asked", async () => {
    const named = await createDemoPki({ now: NOW, publisherName: "indie.studio", serverName: "pay-us", alg: "EdDSA" });
    assert.equal(named.publisher.identity, "urn:peage:publisher:indie.studio");
    assert.equal(named.server.identity, "urn:peage:server:pay-us");
    assertOk(await named.trustStore().validate(named.chainOf(named.server.certificate), "acknowledgment-signing", NOW));
    await assert.rejects(createDemoPki({ publisherName: "Not Valid" }), TypeError);
  });

  it("serial numbers are random, positive, 16 octets; given ones are kept and checked", async () => {
    const serials = new Set(Array.from({ length: 100 }, randomSerialNumber));
    assert.equal(serials.size, 100);
    for (const serial of serials) {
      assert.match(serial, /^[0-7][0-9a-f]{31}$/);
      assert.notEqual(serial.slice(0, 2), "00");
    }
    const keys = await generateKeyPair();
    const cert = await issueCertificate({
      issuer: pki.root,
      subject: "CN=Serial",
      publicKey: keys.publicKey,
      notBefore: NOW,
      notAfter: at(DAY),
      ca: {},
      serialNumber: "0DEAD",
    });
    assert.equal(cert.serialNumber, "dead");
    assert.throws(() => normalizeSerialNumber("0"), RangeError);
    assert.throws(() => normalizeSerialNumber("ff".repeat(20)), RangeError);
    assert.equal(normalizeSerialNumber("7f".repeat(20)), "7f".repeat(20));
    assert.throws(() => normalizeSerialNumber("xyz"), TypeError);
  });

  it("refuses inconsistent requests", async () => {
    const keys = await generateKeyPair();
    const base = { subject: "CN=x", publicKey: keys.publicKey, notBefore: NOW, notAfter: at(DAY) };
    // Signing with a key that is not the issuer certificate's.
    await assert.rejects(issueCertificate({ ...base, issuer: { certificate: pki.root.certificate, keys } }), TypeError);
    // A leaf as issuer.
    await assert.rejects(issueCertificate({ ...base, issuer: pki.publisher }), TypeError);
    // A CA with an identity.
    await assert.rejects(issueCertificate({ ...base, issuer: pki.root, ca: {}, identity: partyId("publisher", "p") }), TypeError);
    // Validity backwards, negative pathLen, empty role list.
    await assert.rejects(issueCertificate({ ...base, issuer: pki.root, notAfter: at(-DAY) }), RangeError);
    await assert.rejects(issueCertificate({ ...base, issuer: pki.root, ca: { pathLength: -1 } }), RangeError);
    await assert.rejects(issueCertificate({ ...base, issuer: pki.root, roles: [] }), RangeError);
    // A key outside the profile, and an identity that is not a Péage URN.
    const p384 = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    await assert.rejects(issueCertificate({ ...base, issuer: pki.root, publicKey: p384.publicKey, ca: {} }), /P-256 and Ed25519/);
    await assert.rejects(
      issueCertificate({ ...base, issuer: pki.root, roles: ["offer-signing"], identity: "https://acme.example" as never }),
      /not a Péage identity/,
    );
  });

  it("signs with the issuer's algorithm: an ES256 root can certify an Ed25519 CA and the reverse", async () => {
    for (const [issuerAlg, subjectAlg] of [
      ["ES256", "EdDSA"],
      ["EdDSA", "ES256"],
    ] as const) {
      const rootKeys = await generateKeyPair(issuerAlg);
      const root = {
        keys: rootKeys,
        certificate: await createRootCa({ subject: "CN=Mixed Root", keys: rootKeys, notBefore: at(-DAY), notAfter: at(DAY) }),
      };
      const caKeys = await generateKeyPair(subjectAlg);
      const ca = {
        keys: caKeys,
        certificate: await issueCertificate({
          issuer: root,
          subject: "CN=Mixed CA",
          publicKey: caKeys.publicKey,
          notBefore: at(-DAY),
          notAfter: at(DAY),
          ca: { roles: ["offer-signing"] },
        }),
      };
      assert.equal(ca.certificate.signatureAlgorithm.name, issuerAlg === "ES256" ? "ECDSA" : "Ed25519");
      const leafKeys = await generateKeyPair(issuerAlg);
      const leaf = await issueCertificate({
        issuer: ca,
        subject: "CN=Mixed leaf",
        publicKey: leafKeys.publicKey,
        notBefore: at(-DAY),
        notAfter: at(DAY),
        roles: ["offer-signing"],
        identity: partyId("publisher", "mixed"),
      });
      const store = new TrustStore({ roots: [root.certificate] });
      const validated = assertOk(await store.validate(chain(leaf, ca.certificate), "offer-signing", NOW));
      assert.equal(validated.alg, issuerAlg);
    }
  });
});

describe("issuing from a PKCS#10 request", () => {
  let pki: DemoPki;
  before(async () => {
    pki = await createDemoPki({ now: NOW });
  });

  for (const alg of ["ES256", "EdDSA"] as const) {
    it(`certifies the requested subject and key (${alg}), with the issuer's roles and identity`, async () => {
      const keys = await generateKeyPair(alg);
      const csrPem = await createCsr({ subject: "CN=newcomer,O=Indie", keys });
      const cert = await issueFromCsr({
        issuer: pki.publishersCa,
        csrPem,
        roles: ["offer-signing"],
        identity: partyId("publisher", "newcomer"),
        notBefore: at(-HOUR),
        notAfter: at(30 * DAY),
      });
      assert.equal(cert.subject, "CN=newcomer, O=Indie");
      const spki = new Uint8Array(await webcrypto.subtle.exportKey("spki", keys.publicKey));
      assert.deepEqual(new Uint8Array(cert.publicKey.rawData), spki);
      const validated = assertOk(
        await pki.trustStore().validate(chain(cert, pki.publishersCa.certificate), "offer-signing", NOW),
      );
      assert.equal(validated.identity, "urn:peage:publisher:newcomer");
    });
  }

  it("ignores extensions requested in the CSR: the issuer decides", async () => {
    const keys = await generateKeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=greedy",
      keys: { publicKey: keys.publicKey, privateKey: keys.privateKey },
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
      extensions: [ext.basicConstraints(true), ext.roles("acknowledgment-signing")],
    });
    const cert = await issueFromCsr({
      issuer: pki.publishersCa,
      csrPem: csr.toString("pem"),
      roles: ["offer-signing"],
      identity: partyId("publisher", "greedy"),
      notBefore: NOW,
      notAfter: at(DAY),
    });
    assert.equal(cert.getExtension(x509.BasicConstraintsExtension)!.ca, false);
    assert.deepEqual(rolesOf(cert), ["offer-signing"]);
  });

  it("rejects a request whose signature does not verify", async () => {
    const keys = await generateKeyPair();
    const other = await generateKeyPair();
    // The request of one key, with the public key of another spliced in.
    const csr = new x509.Pkcs10CertificateRequest(x509.PemConverter.decodeFirst(await createCsr({ subject: "CN=victim", keys })));
    const der = Buffer.from(csr.rawData);
    const original = Buffer.from(csr.publicKey.rawData);
    const replacement = Buffer.from(await webcrypto.subtle.exportKey("spki", other.publicKey));
    const spliced = Buffer.from(
      der.toString("latin1").replace(original.toString("latin1"), replacement.toString("latin1")),
      "latin1",
    );
    const pem = x509.PemConverter.encode(spliced, "CERTIFICATE REQUEST");
    await assert.rejects(
      issueFromCsr({ issuer: pki.publishersCa, csrPem: pem, roles: ["offer-signing"], notBefore: NOW, notAfter: at(DAY) }),
      /does not verify/,
    );
    await assert.rejects(
      issueFromCsr({ issuer: pki.publishersCa, csrPem: "garbage", roles: ["offer-signing"], notBefore: NOW, notAfter: at(DAY) }),
      /not a PEM certificate request/,
    );
  });

  it("rejects a request for a key that is neither P-256 nor Ed25519", async () => {
    const pair = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=p384",
      keys: pair,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
    });
    await assert.rejects(
      issueFromCsr({
        issuer: pki.publishersCa,
        csrPem: csr.toString("pem"),
        roles: ["offer-signing"],
        notBefore: NOW,
        notAfter: at(DAY),
      }),
      /neither a P-256 nor an Ed25519/,
    );
  });

  it("the raw helper can still build what issueCertificate refuses (sanity check of the test helper)", async () => {
    const keys = await generateKeyPair();
    const cert = await rawCertificate({ issuer: pki.publisher, subject: "CN=under a leaf", keys, extensions: [] });
    assert.equal(cert.issuer, pki.publisher.certificate.subject);
  });
});
