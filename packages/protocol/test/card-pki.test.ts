/**
 * The smart card's certificate chain (offline variant, claims 3-10): root → regulator → the
 * payment server's card-issuer CA → the card. A card's certificate is valid for the
 * card-acknowledgment role only under a CA that lists card-issuing and names the payment server
 * (rules.ts cardIssuerIdentity); everything else a forger could build is refused. The demo PKI
 * gains the card issuer only when asked, so every existing use of it is unchanged.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import {
  createDemoPki,
  generateKeyPair,
  issueCertificate,
  partyId,
  randomSerialNumber,
  roleOids,
  subjectAltNameUris,
  toX5c,
  x509,
  type CertifiedKeyPair,
  type DemoPki,
  type KeyPair,
  type Result,
  type Role,
  type VerificationCode,
} from "../src/index.js";
import { rolesOf } from "../src/pki/certificate.js";

const NOW = new Date("2026-05-04T08:00:00.000Z");
const HOUR = 3_600_000;
const CARD = partyId("card", "alice-1");
const SERVER = partyId("server", "pay-eu");

function code(result: Result<unknown>): VerificationCode | "valid" {
  return result.ok ? "valid" : result.error.code;
}

/** A CA certificate with exactly the given EKU roles and subjectAltName URIs (none when empty). */
async function rawCa(
  issuer: CertifiedKeyPair,
  subject: string,
  keys: KeyPair,
  roles: Role[] | undefined,
  uris: string[],
  pathLength = 0,
): Promise<x509.X509Certificate> {
  const issuerSki = issuer.certificate.getExtension(x509.SubjectKeyIdentifierExtension)!;
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject,
    issuer: issuer.certificate.subjectName,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore: new Date(NOW.getTime() - HOUR),
    notAfter: new Date(NOW.getTime() + 1000 * HOUR),
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ...(roles
        ? [
            new x509.ExtendedKeyUsageExtension(
              roles.map((role) => roleOids[role]),
              false,
            ),
          ]
        : []),
      ...(uris.length > 0
        ? [
            new x509.SubjectAlternativeNameExtension(
              uris.map((value) => ({ type: "url" as const, value })),
              false,
            ),
          ]
        : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId, false),
    ],
  });
}

async function cardUnder(
  issuer: CertifiedKeyPair,
  identity: string = CARD,
  roles: Role[] = ["card-acknowledgment"],
): Promise<CertifiedKeyPair> {
  const keys = await generateKeyPair("ES256");
  const certificate = await issueCertificate({
    issuer,
    subject: "CN=alice-1,O=Péage",
    publicKey: keys.publicKey,
    notBefore: new Date(NOW.getTime() - HOUR),
    notAfter: new Date(NOW.getTime() + 100 * HOUR),
    roles,
    identity: identity as never,
  });
  return { keys, certificate };
}

for (const alg of ["ES256", "EdDSA"] as const) {
  describe(`card certificates (${alg})`, () => {
    let pki: DemoPki;
    let plain: DemoPki;
    let card: CertifiedKeyPair;
    before(async () => {
      [pki, plain] = await Promise.all([createDemoPki({ alg, now: NOW, cardIssuer: true }), createDemoPki({ alg, now: NOW })]);
      card = await cardUnder(pki.cardIssuer!);
    });
    const chainOf = (leaf: x509.X509Certificate, ...cas: x509.X509Certificate[]): string[] => [leaf, ...cas].map(toX5c);

    it("the demo PKI is unchanged unless a card issuer is asked for", () => {
      assert.equal(plain.cardIssuer, undefined);
      assert.deepEqual(rolesOf(plain.regulatorCa.certificate), ["acknowledgment-signing", "card-issuing"]);
      assert.deepEqual(rolesOf(pki.regulatorCa.certificate), ["acknowledgment-signing", "card-issuing", "card-acknowledgment"]);
    });

    it("the card issuer is a CA with pathLen 0, the two card roles, and the server's identity", () => {
      const issuer = pki.cardIssuer!;
      assert.equal(issuer.identity, SERVER);
      const constraints = issuer.certificate.getExtension(x509.BasicConstraintsExtension)!;
      assert.deepEqual([constraints.ca, constraints.pathLength], [true, 0]);
      assert.deepEqual(rolesOf(issuer.certificate), ["card-issuing", "card-acknowledgment"]);
      assert.deepEqual(subjectAltNameUris(issuer.certificate), [SERVER]);
      assert.deepEqual(pki.chainOf(issuer.certificate), chainOf(issuer.certificate, pki.regulatorCa.certificate));
    });

    it("a card certified by the card issuer is valid for card-acknowledgment, and names the card", async () => {
      const chain = pki.chainOf(card.certificate);
      assert.deepEqual(chain, chainOf(card.certificate, pki.cardIssuer!.certificate, pki.regulatorCa.certificate));
      const result = await pki.trustStore().validate(chain, "card-acknowledgment", NOW);
      assert.ok(result.ok, result.ok ? "" : result.error.message);
      assert.equal(result.value.identity, CARD);
      assert.equal(result.value.path.length, 4);
    });

    it("a card certificate is no server's, a server's is no card's, the card issuer CA signs nothing", async () => {
      const trust = pki.trustStore();
      assert.equal(code(await trust.validate(pki.chainOf(card.certificate), "acknowledgment-signing", NOW)), "ERR_WRONG_ROLE");
      assert.equal(code(await trust.validate(pki.chainOf(pki.server.certificate), "card-acknowledgment", NOW)), "ERR_WRONG_ROLE");
      assert.equal(code(await trust.validate(pki.chainOf(pki.cardIssuer!.certificate), "card-issuing", NOW)), "ERR_KEY_USAGE");
    });

    it("a card certified directly by the regulator is refused: the regulator names no payment server", async () => {
      const direct = await cardUnder(pki.regulatorCa);
      const result = await pki
        .trustStore()
        .validate(chainOf(direct.certificate, pki.regulatorCa.certificate), "card-acknowledgment", NOW);
      assert.equal(code(result), "ERR_WRONG_ROLE");
      assert.match(result.ok ? "" : result.error.message, /subjectAltName/);
    });

    const rogueIssuers: Array<[string, Role[] | undefined, string[]]> = [
      ["without the card-issuing role", ["card-acknowledgment"], [SERVER]],
      ["without any role limit (an unrestricted CA is not a card issuer)", undefined, [SERVER]],
      ["naming no server", ["card-issuing", "card-acknowledgment"], []],
      ["naming a publisher", ["card-issuing", "card-acknowledgment"], ["urn:peage:publisher:acme-games"]],
      ["naming two servers", ["card-issuing", "card-acknowledgment"], [SERVER, "urn:peage:server:pay-us"]],
    ];
    for (const [what, roles, uris] of rogueIssuers) {
      it(`a card under an issuer CA ${what} is refused`, async () => {
        const keys = await generateKeyPair(alg);
        const issuer = { keys, certificate: await rawCa(pki.regulatorCa, "CN=odd issuer,O=Péage", keys, roles, uris) };
        const leaf = await cardUnder(issuer);
        const result = await pki
          .trustStore()
          .validate(chainOf(leaf.certificate, issuer.certificate, pki.regulatorCa.certificate), "card-acknowledgment", NOW);
        assert.equal(code(result), "ERR_WRONG_ROLE");
      });
    }

    it("under a regulator that may not certify card-acknowledgment (EKU chaining), a card issuer's cards are refused", async () => {
      const keys = await generateKeyPair(alg);
      const issuer = {
        keys,
        certificate: await rawCa(
          plain.regulatorCa,
          "CN=pay-eu card issuer,O=Péage",
          keys,
          ["card-issuing", "card-acknowledgment"],
          [SERVER],
        ),
      };
      const leaf = await cardUnder(issuer);
      const result = await plain
        .trustStore()
        .validate(chainOf(leaf.certificate, issuer.certificate, plain.regulatorCa.certificate), "card-acknowledgment", NOW);
      assert.equal(code(result), "ERR_WRONG_ROLE");
      assert.match(result.ok ? "" : result.error.message, /Payment Regulator/);
    });

    it("a card certificate naming a server, or a card issuer certifying a sub-CA, is refused", async () => {
      const trust = pki.trustStore();
      const serverNamed = await cardUnder(pki.cardIssuer!, SERVER);
      assert.equal(
        code(await trust.validate(pki.chainOf(serverNamed.certificate), "card-acknowledgment", NOW)),
        "ERR_WRONG_ROLE",
      );
      const subKeys = await generateKeyPair(alg);
      const sub = {
        keys: subKeys,
        certificate: await rawCa(
          pki.cardIssuer!,
          "CN=sub issuer,O=Péage",
          subKeys,
          ["card-issuing", "card-acknowledgment"],
          [SERVER],
        ),
      };
      const leaf = await cardUnder(sub);
      const result = await trust.validate(
        chainOf(leaf.certificate, sub.certificate, pki.cardIssuer!.certificate, pki.regulatorCa.certificate),
        "card-acknowledgment",
        NOW,
      );
      assert.equal(code(result), "ERR_PATH_LENGTH");
    });
  });
}
