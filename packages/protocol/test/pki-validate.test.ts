/**
 * Chain validation: a valid chain for each algorithm, then one test per rule, each building the
 * broken case and expecting its specific code and a message naming the certificate at fault.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair, type KeyPair, type SignatureAlgorithm } from "../src/keys.js";
import { webcrypto } from "node:crypto";
import {
  MAX_CHAIN_LENGTH,
  TrustStore,
  createDemoPki,
  createRootCa,
  issueCertificate,
  toX5c,
  x509,
  type CertifiedKeyPair,
  type DemoPki,
} from "../src/pki/index.js";
import {
  DAY,
  HOUR,
  NOW,
  assertFails,
  assertOk,
  at,
  caExtensions,
  chain,
  ext,
  identity,
  leafExtensions,
  rawCertificate,
  rawParty,
} from "./helpers/pki.js";

const PUBLISHERS = "Publishers' Association";

for (const alg of ["ES256", "EdDSA"] as const) {
  describe(`chain validation (${alg})`, () => {
    let pki: DemoPki;
    let store: TrustStore;
    before(async () => {
      pki = await createDemoPki({ alg, now: NOW });
      store = pki.trustStore();
    });

    it("accepts the publisher's chain for offer-signing and returns its key, identity and path", async () => {
      const validated = assertOk(await store.validate(pki.chainOf(pki.publisher.certificate), "offer-signing", NOW));
      assert.equal(validated.identity, "urn:peage:publisher:acme-games");
      assert.equal(validated.role, "offer-signing");
      assert.equal(validated.alg, alg);
      assert.deepEqual(
        validated.path.map((cert) => cert.subject),
        [pki.publisher.certificate.subject, pki.publishersCa.certificate.subject, pki.root.certificate.subject],
      );
      assert.equal(validated.leaf, validated.path[0]);
      // The key verifies what the publisher's private key signs.
      const data = new TextEncoder().encode("offer");
      const params = alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
      const signature = await webcrypto.subtle.sign(params, pki.publisher.keys.privateKey, data);
      assert.ok(await webcrypto.subtle.verify(params, validated.publicKey, signature, data));
      // The intersection of the validity periods is the leaf's (the shortest), to the second.
      assert.equal(validated.notBefore.getTime(), pki.publisher.certificate.notBefore.getTime());
      assert.equal(validated.notAfter.getTime(), pki.publisher.certificate.notAfter.getTime());
    });

    it("accepts the server's chain for acknowledgment-signing", async () => {
      const validated = assertOk(await store.validate(pki.chainOf(pki.server.certificate), "acknowledgment-signing", NOW));
      assert.equal(validated.identity, "urn:peage:server:pay-eu");
    });

    it("accepts a chain that includes the trusted root", async () => {
      const x5c = [...pki.chainOf(pki.publisher.certificate), toX5c(pki.root.certificate)];
      assertOk(await store.validate(x5c, "offer-signing", NOW));
    });

    it("rejects a chain that goes on after the trusted root", async () => {
      const x5c = [...pki.chainOf(pki.publisher.certificate), toX5c(pki.root.certificate), toX5c(pki.regulatorCa.certificate)];
      assertFails(await store.validate(x5c, "offer-signing", NOW), "ERR_MALFORMED", "Péage Root CA");
    });

    it("rejects an unknown root, even with the same name as a trusted one", async () => {
      const other = await createDemoPki({ alg, now: NOW });
      assertFails(
        await other.trustStore().validate(pki.chainOf(pki.publisher.certificate), "offer-signing", NOW),
        "ERR_UNKNOWN_ISSUER",
        PUBLISHERS,
      );
      // Presenting the untrusted root in the chain does not help.
      const x5c = [...pki.chainOf(pki.publisher.certificate), toX5c(pki.root.certificate)];
      assertFails(await other.trustStore().validate(x5c, "offer-signing", NOW), "ERR_UNKNOWN_ISSUER", "Péage Root CA");
    });

    it("trusts a root only by its exact DER: a re-issued root with the same key and name is not the same anchor", async () => {
      const reissued = await createRootCa({
        subject: "CN=Péage Root CA,O=Péage",
        keys: pki.root.keys,
        notBefore: at(-HOUR),
        notAfter: at(DAY),
      });
      const x5c = [...pki.chainOf(pki.publisher.certificate), toX5c(reissued)];
      assertFails(await store.validate(x5c, "offer-signing", NOW), "ERR_UNKNOWN_ISSUER", "Péage Root CA");
    });

    it("rejects a chain whose certificates are out of order", async () => {
      const x5c = [toX5c(pki.publisher.certificate), toX5c(pki.root.certificate), toX5c(pki.publishersCa.certificate)];
      assertFails(await store.validate(x5c, "offer-signing", NOW), "ERR_UNKNOWN_ISSUER", "acme-games");
    });

    it("rejects a leaf signed by another key under the real issuer's name and key identifier", async () => {
      const attacker = await generateKeyPair(alg);
      const forged = await rawParty(alg, async (keys) =>
        rawCertificate({
          issuer: pki.publishersCa,
          signingKey: attacker.privateKey,
          subject: "CN=evil,O=Péage",
          keys,
          extensions: await leafExtensions(pki.publishersCa, keys.publicKey, ["offer-signing"], "urn:peage:publisher:evil"),
        }),
      );
      const x5c = chain(forged.certificate, pki.publishersCa.certificate);
      assertFails(await store.validate(x5c, "offer-signing", NOW), "ERR_BAD_SIGNATURE", "CN=evil");
    });

    it("rejects an intermediate that claims the root as issuer but is signed by another key", async () => {
      const attacker = await generateKeyPair(alg);
      const forgedCa = await rawParty(alg, async (keys) =>
        rawCertificate({
          issuer: pki.root,
          signingKey: attacker.privateKey,
          subject: "CN=Publishers' Association,O=Péage",
          keys,
          extensions: await caExtensions(pki.root, keys.publicKey, 0),
        }),
      );
      const leaf = await issueLeaf(forgedCa, alg, "offer-signing", "urn:peage:publisher:evil");
      assertFails(
        await store.validate(chain(leaf.certificate, forgedCa.certificate), "offer-signing", NOW),
        "ERR_BAD_SIGNATURE",
        PUBLISHERS,
      );
    });

    it("rejects a certificate altered after signing", async () => {
      const der = new Uint8Array(pki.publisher.certificate.rawData);
      const text = Buffer.from(der).toString("latin1");
      const altered = Buffer.from(text.replace("acme-games", "acme-gamez"), "latin1");
      assert.notDeepEqual(new Uint8Array(altered), der);
      const x5c = [altered.toString("base64"), toX5c(pki.publishersCa.certificate)];
      assertFails(await store.validate(x5c, "offer-signing", NOW), "ERR_BAD_SIGNATURE", "acme-gamez");
    });

    it("rejects an expired or not yet valid leaf", async () => {
      const x5c = pki.chainOf(pki.publisher.certificate);
      assertFails(await store.validate(x5c, "offer-signing", at(400 * DAY)), "ERR_CERT_EXPIRED", "acme-games");
      assertFails(await store.validate(x5c, "offer-signing", at(-2 * HOUR)), "ERR_CERT_NOT_YET_VALID", "acme-games");
    });

    it("rejects a chain through an expired or not yet valid intermediate", async () => {
      for (const [notBefore, notAfter, code] of [
        [at(-10 * DAY), at(-DAY), "ERR_CERT_EXPIRED"],
        [at(DAY), at(10 * DAY), "ERR_CERT_NOT_YET_VALID"],
      ] as const) {
        const caKeys = await generateKeyPair(alg);
        const ca = {
          keys: caKeys,
          certificate: await issueCertificate({
            issuer: pki.root,
            subject: "CN=Short-lived CA",
            publicKey: caKeys.publicKey,
            notBefore,
            notAfter,
            ca: { pathLength: 0 },
          }),
        };
        const leaf = await issueLeaf(ca, alg, "offer-signing", "urn:peage:publisher:p");
        assertFails(await store.validate(chain(leaf.certificate, ca.certificate), "offer-signing", NOW), code, "Short-lived CA");
      }
    });

    it("rejects a chain to an expired or not yet valid root", async () => {
      for (const [notBefore, notAfter, code] of [
        [at(-10 * DAY), at(-DAY), "ERR_CERT_EXPIRED"],
        [at(DAY), at(10 * DAY), "ERR_CERT_NOT_YET_VALID"],
      ] as const) {
        const rootKeys = await generateKeyPair(alg);
        const root = {
          keys: rootKeys,
          certificate: await createRootCa({ subject: "CN=Timed Root", keys: rootKeys, notBefore, notAfter }),
        };
        const leaf = await issueLeaf(root, alg, "offer-signing", "urn:peage:publisher:p");
        const timed = new TrustStore({ roots: [root.certificate] });
        assertFails(await timed.validate(chain(leaf.certificate), "offer-signing", NOW), code, "Timed Root");
      }
    });

    it("rejects an intermediate that is not a CA", async () => {
      for (const constraints of [[ext.basicConstraints(false)], []]) {
        const notCa = await rawParty(alg, async (keys) =>
          rawCertificate({
            issuer: pki.root,
            subject: "CN=Not a CA",
            keys,
            extensions: [...constraints, ext.caKeyUsage(), await ext.ski(keys.publicKey), ext.akiOf(pki.root.certificate)],
          }),
        );
        const leaf = await rawLeaf(notCa, alg);
        assertFails(
          await store.validate(chain(leaf.certificate, notCa.certificate), "offer-signing", NOW),
          "ERR_NOT_A_CA",
          "Not a CA",
        );
      }
    });

    it("rejects a CA whose key usage lacks keyCertSign", async () => {
      const ca = await rawParty(alg, async (keys) =>
        rawCertificate({
          issuer: pki.root,
          subject: "CN=No keyCertSign",
          keys,
          extensions: [
            ext.basicConstraints(true),
            ext.keyUsage(x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature),
            await ext.ski(keys.publicKey),
            ext.akiOf(pki.root.certificate),
          ],
        }),
      );
      const leaf = await rawLeaf(ca, alg);
      assertFails(
        await store.validate(chain(leaf.certificate, ca.certificate), "offer-signing", NOW),
        "ERR_KEY_USAGE",
        "No keyCertSign",
      );
    });

    it("enforces pathLenConstraint at the intermediate and at the root", async () => {
      // The Publishers' Association has pathLen 0: it cannot certify another CA.
      const subCa = await rawParty(alg, async (keys) =>
        rawCertificate({
          issuer: pki.publishersCa,
          subject: "CN=Sub CA",
          keys,
          extensions: await caExtensions(pki.publishersCa, keys.publicKey),
        }),
      );
      const leaf = await issueLeaf(subCa, alg, "offer-signing", "urn:peage:publisher:p");
      assertFails(
        await store.validate(chain(leaf.certificate, subCa.certificate, pki.publishersCa.certificate), "offer-signing", NOW),
        "ERR_PATH_LENGTH",
        PUBLISHERS,
      );

      // A root with pathLen 0 can certify leaves only.
      const rootKeys = await generateKeyPair(alg);
      const root = {
        keys: rootKeys,
        certificate: await createRootCa({
          subject: "CN=Flat Root",
          keys: rootKeys,
          notBefore: at(-DAY),
          notAfter: at(DAY),
          pathLength: 0,
        }),
      };
      const direct = await issueLeaf(root, alg, "offer-signing", "urn:peage:publisher:p");
      const flat = new TrustStore({ roots: [root.certificate] });
      assertOk(await flat.validate(chain(direct.certificate), "offer-signing", NOW));
      const caKeys = await generateKeyPair(alg);
      const ca = {
        keys: caKeys,
        certificate: await issueCertificate({
          issuer: root,
          subject: "CN=Below Flat",
          publicKey: caKeys.publicKey,
          notBefore: at(-DAY),
          notAfter: at(DAY),
          ca: {},
        }),
      };
      const below = await issueLeaf(ca, alg, "offer-signing", "urn:peage:publisher:p");
      assertFails(
        await flat.validate(chain(below.certificate, ca.certificate), "offer-signing", NOW),
        "ERR_PATH_LENGTH",
        "Flat Root",
      );
    });

    it("rejects a CA certificate used as a leaf", async () => {
      const caLeaf = await rawParty(alg, async (keys) =>
        rawCertificate({
          issuer: pki.publishersCa,
          subject: "CN=CA as leaf",
          keys,
          extensions: [
            ext.basicConstraints(true),
            ext.keyUsage(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign),
            ext.roles("offer-signing"),
            ext.uris("urn:peage:publisher:p"),
            await ext.ski(keys.publicKey),
            ext.akiOf(pki.publishersCa.certificate),
          ],
        }),
      );
      assertFails(
        await store.validate(chain(caLeaf.certificate, pki.publishersCa.certificate), "offer-signing", NOW),
        "ERR_KEY_USAGE",
        "CA as leaf",
      );
    });

    it("rejects a leaf without digitalSignature", async () => {
      const leaf = await rawParty(alg, async (keys) =>
        rawCertificate({
          issuer: pki.publishersCa,
          subject: "CN=No signing",
          keys,
          extensions: [
            ext.basicConstraints(false),
            ext.keyUsage(x509.KeyUsageFlags.keyAgreement),
            ext.roles("offer-signing"),
            ext.uris("urn:peage:publisher:p"),
            await ext.ski(keys.publicKey),
            ext.akiOf(pki.publishersCa.certificate),
          ],
        }),
      );
      assertFails(
        await store.validate(chain(leaf.certificate, pki.publishersCa.certificate), "offer-signing", NOW),
        "ERR_KEY_USAGE",
        "No signing",
      );
    });

    it("a publisher's certificate can never pass as a server's", async () => {
      const x5c = pki.chainOf(pki.publisher.certificate);
      assertFails(await store.validate(x5c, "acknowledgment-signing", NOW), "ERR_WRONG_ROLE", "acme-games");
      assertFails(await store.validate(x5c, "card-issuing", NOW), "ERR_WRONG_ROLE", "acme-games");
      assertFails(await store.validate(pki.chainOf(pki.server.certificate), "offer-signing", NOW), "ERR_WRONG_ROLE", "pay-eu");
    });

    it("an intermediate limited to offer-signing cannot certify a server, whatever the leaf claims", async () => {
      const leaf = await issueLeaf(pki.publishersCa, alg, "acknowledgment-signing", "urn:peage:server:rogue");
      assertFails(
        await store.validate(chain(leaf.certificate, pki.publishersCa.certificate), "acknowledgment-signing", NOW),
        "ERR_WRONG_ROLE",
        PUBLISHERS,
      );
    });

    it("rejects a leaf whose identity is not of the kind that holds the role", async () => {
      const leaf = await issueLeaf(pki.publishersCa, alg, "offer-signing", "urn:peage:server:pretender");
      assertFails(
        await store.validate(chain(leaf.certificate, pki.publishersCa.certificate), "offer-signing", NOW),
        "ERR_WRONG_ROLE",
        "urn:peage:server:pretender",
      );
    });

    it("rejects a leaf with no, two, or a non-Péage subjectAltName URI", async () => {
      for (const uris of [
        [],
        ["urn:peage:publisher:a", "urn:peage:publisher:b"],
        ["https://acme.example"],
        ["urn:peage:publisher:UPPER"],
      ]) {
        const leaf = await rawParty(alg, async (keys) =>
          rawCertificate({
            issuer: pki.publishersCa,
            subject: "CN=Odd SAN",
            keys,
            extensions: [
              ext.basicConstraints(false),
              ext.leafKeyUsage(),
              ext.roles("offer-signing"),
              ...(uris.length ? [ext.uris(...uris)] : []),
              await ext.ski(keys.publicKey),
              ext.akiOf(pki.publishersCa.certificate),
            ],
          }),
        );
        assertFails(
          await store.validate(chain(leaf.certificate, pki.publishersCa.certificate), "offer-signing", NOW),
          "ERR_MALFORMED",
          "Odd SAN",
        );
      }
    });

    it("rejects a certificate with an unknown critical extension", async () => {
      const leaf = await rawParty(alg, async (keys) =>
        rawCertificate({
          issuer: pki.publishersCa,
          subject: "CN=Critical",
          keys,
          extensions: [
            ...(await leafExtensions(pki.publishersCa, keys.publicKey, ["offer-signing"], "urn:peage:publisher:p")),
            new x509.Extension("1.3.6.1.4.1.99999.1", true, new Uint8Array([0x05, 0x00])),
          ],
        }),
      );
      assertFails(
        await store.validate(chain(leaf.certificate, pki.publishersCa.certificate), "offer-signing", NOW),
        "ERR_MALFORMED",
        "Critical",
      );
      // The same extension, non-critical, is ignored (RFC 5280 §4.2).
      const tolerated = await rawParty(alg, async (keys) =>
        rawCertificate({
          issuer: pki.publishersCa,
          subject: "CN=Not critical",
          keys,
          extensions: [
            ...(await leafExtensions(pki.publishersCa, keys.publicKey, ["offer-signing"], "urn:peage:publisher:p")),
            new x509.Extension("1.3.6.1.4.1.99999.1", false, new Uint8Array([0x05, 0x00])),
          ],
        }),
      );
      assertOk(await store.validate(chain(tolerated.certificate, pki.publishersCa.certificate), "offer-signing", NOW));
    });

    it("rejects a leaf key that is neither P-256 nor Ed25519", async () => {
      const others = [
        (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"])) as CryptoKeyPair,
        (await webcrypto.subtle.generateKey(
          { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
          true,
          ["sign", "verify"],
        )) as CryptoKeyPair,
      ];
      for (const pair of others) {
        const leaf = await rawCertificate({
          issuer: pki.publishersCa,
          subject: "CN=Other key",
          keys: { publicKey: pair.publicKey },
          extensions: await leafExtensions(pki.publishersCa, pair.publicKey, ["offer-signing"], "urn:peage:publisher:p"),
        });
        assertFails(
          await store.validate(chain(leaf, pki.publishersCa.certificate), "offer-signing", NOW),
          "ERR_UNSUPPORTED_ALGORITHM",
          "Other key",
        );
      }
    });
  });
}

describe("chain validation: malformed input", () => {
  let pki: DemoPki;
  let store: TrustStore;
  let good: string[];
  before(async () => {
    pki = await createDemoPki({ now: NOW });
    store = pki.trustStore();
    good = pki.chainOf(pki.publisher.certificate);
  });

  it("rejects an empty chain, a chain too long, and entries that are not strings", async () => {
    assertFails(await store.validate([], "offer-signing", NOW), "ERR_MALFORMED");
    const tooLong = Array.from({ length: MAX_CHAIN_LENGTH + 1 }, () => good[0]!);
    assertFails(await store.validate(tooLong, "offer-signing", NOW), "ERR_MALFORMED", `${MAX_CHAIN_LENGTH}`);
    assertFails(await store.validate([good[0], 42] as unknown as string[], "offer-signing", NOW), "ERR_MALFORMED", "#2");
    assertFails(await store.validate("MIIB" as unknown as string[], "offer-signing", NOW), "ERR_MALFORMED");
  });

  it("rejects garbage, base64url, non-canonical base64, truncated DER and trailing bytes", async () => {
    const der = Buffer.from(good[0]!, "base64");
    const cases = [
      "not base64 at all!",
      good[0]!.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
      ` ${good[0]}`,
      der.subarray(0, der.length - 10).toString("base64"),
      Buffer.concat([der, Buffer.from([0, 0])]).toString("base64"),
      Buffer.from("hello world").toString("base64"),
      "",
    ];
    for (const bad of cases) {
      assertFails(await store.validate([bad, good[1]!], "offer-signing", NOW), "ERR_MALFORMED", "#1");
    }
  });

  it("rejects a certificate larger than 16 KiB", async () => {
    const huge = Buffer.alloc(17 * 1024, 0x41).toString("base64");
    assertFails(await store.validate([huge], "offer-signing", NOW), "ERR_MALFORMED", "16384");
  });

  it("rejects a path longer than the maximum even when each link is valid", async () => {
    // Root (pathLen unlimited) and five CAs below it: six certificates in the path.
    const rootKeys = await generateKeyPair();
    let issuer: CertifiedKeyPair = {
      keys: rootKeys,
      certificate: await createRootCa({ subject: "CN=Deep Root", keys: rootKeys, notBefore: at(-DAY), notAfter: at(DAY) }),
    };
    const deep = new TrustStore({ roots: [issuer.certificate] });
    const cas: x509.X509Certificate[] = [];
    for (let i = 0; i < MAX_CHAIN_LENGTH - 1; i++) {
      const keys = await generateKeyPair();
      issuer = {
        keys,
        certificate: await issueCertificate({
          issuer,
          subject: `CN=Level ${i}`,
          publicKey: keys.publicKey,
          notBefore: at(-DAY),
          notAfter: at(DAY),
          ca: {},
        }),
      };
      cas.unshift(issuer.certificate);
    }
    const leaf = await issueLeaf(issuer, "ES256", "offer-signing", "urn:peage:publisher:deep");
    assertFails(
      await deep.validate(chain(leaf.certificate, ...cas), "offer-signing", NOW),
      "ERR_MALFORMED",
      `${MAX_CHAIN_LENGTH}`,
    );
  });

  it("rejects a certificate whose two signature algorithm fields differ", async () => {
    // An ES256 leaf whose outer signatureAlgorithm is rewritten to Ed25519 (RFC 5280 §4.1.1.2).
    const der = Buffer.from(good[0]!, "base64");
    const ecdsaWithSha256 = Buffer.from("300a06082a8648ce3d040302", "hex");
    const ed25519 = Buffer.from("300506032b6570", "hex");
    const last = der.lastIndexOf(ecdsaWithSha256);
    assert.ok(last > der.indexOf(ecdsaWithSha256));
    const body = Buffer.concat([der.subarray(0, last), ed25519, der.subarray(last + ecdsaWithSha256.length)]);
    // Fix the outer SEQUENCE length (two-octet form: 30 82 hi lo).
    const length = body.length - 4;
    body.writeUInt16BE(length, 2);
    assertFails(await store.validate([body.toString("base64"), good[1]!], "offer-signing", NOW), "ERR_MALFORMED", "4.1.1.2");
  });

  it("throws on programming errors: an unknown role or an invalid date", async () => {
    await assert.rejects(store.validate(good, "root-signing" as never, NOW), TypeError);
    await assert.rejects(store.validate(good, "offer-signing", new Date(Number.NaN)), TypeError);
  });
});

async function issueLeaf(
  issuer: CertifiedKeyPair,
  alg: SignatureAlgorithm,
  role: "offer-signing" | "acknowledgment-signing",
  id: string,
): Promise<CertifiedKeyPair> {
  const keys: KeyPair = await generateKeyPair(alg);
  const certificate = await issueCertificate({
    issuer,
    subject: `CN=${id.split(":")[3]}`,
    publicKey: keys.publicKey,
    notBefore: at(-DAY),
    notAfter: at(30 * DAY),
    roles: [role],
    identity: identity(id.split(":")[2] as "publisher" | "server", id.split(":")[3]!),
  });
  return { keys, certificate };
}

/** A well-formed publisher leaf under any issuer, built without issueCertificate's checks on the issuer. */
async function rawLeaf(issuer: CertifiedKeyPair, alg: SignatureAlgorithm): Promise<CertifiedKeyPair> {
  return rawParty(alg, async (keys) =>
    rawCertificate({
      issuer,
      subject: "CN=leaf",
      keys,
      extensions: await leafExtensions(issuer, keys.publicKey, ["offer-signing"], "urn:peage:publisher:p"),
    }),
  );
}
