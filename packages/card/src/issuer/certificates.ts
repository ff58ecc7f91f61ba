/**
 * The card's certificate chain (docs/card.md, "Certificates"), from the payment server's side:
 *
 *   root → regulator (may certify acknowledgment-signing, card-issuing, card-acknowledgment)
 *        → the server's card-issuer CA (cA, pathLen 0, EKU card-issuing + card-acknowledgment,
 *          subjectAltName = the server's identity)
 *        → the card (EKU card-acknowledgment, subjectAltName urn:peage:card:<name>)
 *
 * packages/protocol/src/pki/rules.ts (checkRole, cardIssuerIdentity) is what enforces it.
 */
import { createPublicKey, webcrypto } from "node:crypto";
import {
  algorithmOfKey,
  fail,
  issueCertificate,
  normalizeSerialNumber,
  ok,
  randomSerialNumber,
  roleOids,
  subjectAltNameUris,
  toX5c,
  webCryptoAlgorithm,
  x509,
  type CertifiedKeyPair,
  type DemoPki,
  type KeyPair,
  type PartyId,
  type Result,
  type TrustStore,
} from "@peage/protocol";
import type { VerificationKey } from "../signed.js";

/** A payment server acting as card issuer. */
export interface CardIssuer {
  /** The server's identity, as its card-issuer CA certificate names it. */
  readonly identity: PartyId<"server">;
  /** The card-issuer CA certificate and its key pair. */
  readonly ca: CertifiedKeyPair;
  /** x5c of the CA certificate and of the intermediates above it, root excluded. */
  readonly chain: readonly string[];
  /** Signs reload and sync commands; the CA's key pair when absent. Cards store its public key. */
  readonly commandKey?: KeyPair;
}

/** The card issuer of a demo PKI made with `createDemoPki({ cardIssuer: true })`. */
export function cardIssuerFromDemo(pki: DemoPki): CardIssuer {
  if (!pki.cardIssuer) throw new TypeError("this demo PKI has no card issuer: create it with { cardIssuer: true }");
  return { identity: pki.cardIssuer.identity, ca: pki.cardIssuer, chain: pki.chainOf(pki.cardIssuer.certificate) };
}

export function commandKeyOf(issuer: CardIssuer): KeyPair {
  return issuer.commandKey ?? issuer.ca.keys;
}

export interface CardIssuerCertificateOptions {
  /** The CA that certifies payment servers as card issuers (the regulator). */
  readonly regulator: CertifiedKeyPair;
  readonly server: PartyId<"server">;
  readonly publicKey: CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject?: string;
}

/**
 * A payment server's card-issuer CA certificate, signed by the regulator: cA with pathLen 0
 * (RFC 5280 §4.2.1.9: it certifies cards, never a CA), keyCertSign and cRLSign (§4.2.1.3), EKU
 * card-issuing and card-acknowledgment (§4.2.1.12, EKU chaining), the server's identity as its
 * one subjectAltName URI (§4.2.1.6).
 */
export async function issueCardIssuerCertificate(opts: CardIssuerCertificateOptions): Promise<x509.X509Certificate> {
  const regulatorSki = opts.regulator.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!regulatorSki) throw new TypeError("the regulator's certificate has no subjectKeyIdentifier");
  if (!(opts.notBefore.getTime() < opts.notAfter.getTime())) throw new RangeError("notBefore must precede notAfter");
  return x509.X509CertificateGenerator.create({
    serialNumber: normalizeSerialNumber(randomSerialNumber()),
    subject: opts.subject ?? `CN=${opts.server.split(":")[3]} card issuer,O=Péage`,
    issuer: opts.regulator.certificate.subjectName,
    publicKey: opts.publicKey,
    signingKey: opts.regulator.keys.privateKey,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.ExtendedKeyUsageExtension([roleOids["card-issuing"], roleOids["card-acknowledgment"]], false),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: opts.server }], false),
      await x509.SubjectKeyIdentifierExtension.create(opts.publicKey),
      new x509.AuthorityKeyIdentifierExtension(regulatorSki.keyId, false),
    ],
  });
}

export interface CardCertificateOptions {
  readonly issuer: CardIssuer;
  readonly card: PartyId<"card">;
  /** The key the card made; the issuer only ever sees its public half. */
  readonly publicKey: CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Certificate policies, e.g. a PC store's assurance level. */
  readonly policies?: readonly string[];
}

/** The card's certificate: a leaf with the card-acknowledgment role, under the issuer's CA. */
export async function issueCardCertificate(
  opts: CardCertificateOptions,
): Promise<{ certificate: x509.X509Certificate; chain: string[] }> {
  const certificate = await issueCertificate({
    issuer: opts.issuer.ca,
    subject: `CN=${opts.card.split(":")[3]},O=Péage`,
    publicKey: opts.publicKey,
    // A card outliving its issuer's certificate would stop verifying before it expires.
    notBefore: opts.notBefore,
    notAfter: new Date(Math.min(opts.notAfter.getTime(), opts.issuer.ca.certificate.notAfter.getTime())),
    roles: ["card-acknowledgment"],
    identity: opts.card,
    ...(opts.policies && { policies: opts.policies }),
  });
  return { certificate, chain: [toX5c(certificate), ...opts.issuer.chain] };
}

/** The card's verification key and the server that issued it, from its validated chain. */
export interface CardKey extends VerificationKey {
  readonly card: PartyId<"card">;
  readonly issuer: PartyId<"server">;
}

/**
 * Validates a card's chain (GET DATA DF02, or the x5c of its acknowledgments) for the
 * card-acknowledgment role at `at`, and returns its key, identity and issuing server.
 */
export async function cardKeyFromChain(chain: readonly string[], trust: TrustStore, at: Date): Promise<Result<CardKey>> {
  const validated = await trust.validate(chain, "card-acknowledgment", at);
  if (!validated.ok) return validated;
  const issuer = subjectAltNameUris(validated.value.path[1]!)[0];
  if (issuer === undefined) return fail("ERR_WRONG_ROLE", "the card's issuer names no payment server");
  return ok({
    card: validated.value.identity as PartyId<"card">,
    issuer: issuer as PartyId<"server">,
    alg: validated.value.alg,
    publicKey: validated.value.publicKey,
  });
}

/** The key certified by a certificate the server issued itself (its own records are its trust). */
export async function cardKeyFromCertificate(certificate: x509.X509Certificate): Promise<VerificationKey> {
  const object = createPublicKey({ key: Buffer.from(certificate.publicKey.rawData), format: "der", type: "spki" });
  const alg = algorithmOfKey(object);
  if (!alg) throw new TypeError("the card's certificate holds neither a P-256 nor an Ed25519 key");
  const spki = object.export({ type: "spki", format: "der" });
  return {
    alg,
    publicKey: await webcrypto.subtle.importKey("spki", spki, webCryptoAlgorithm(alg) as EcKeyImportParams, true, ["verify"]),
  };
}
