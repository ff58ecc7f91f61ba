/**
 * A complete demonstration PKI: one root, two intermediates that split the roles between them,
 * a publisher and a payment server. Used by the CLI's `demo`, the test vectors and the tests.
 *
 *   Péage Root CA (pathLen 2)
 *   ├── Publishers' Association (pathLen 0, may certify: offer-signing)
 *   │   └── publisher  urn:peage:publisher:acme-games  offer-signing
 *   └── Payment Regulator (pathLen 1, may certify: acknowledgment-signing, card-issuing)
 *       └── server     urn:peage:server:pay-eu         acknowledgment-signing
 *
 * With `cardIssuer: true` (the offline variant, patent claims 3-10), the payment server is also a
 * card issuer: the regulator may then certify card-acknowledgment too, and certifies the server's
 * card-issuer CA, which certifies the cards (docs/card.md):
 *
 *       ├── server     urn:peage:server:pay-eu         acknowledgment-signing
 *       └── card issuer (pathLen 0, may certify: card-issuing, card-acknowledgment; names urn:peage:server:pay-eu)
 *           └── cards  urn:peage:card:*                 card-acknowledgment
 */
import { partyId, type PartyId } from "../identity.js";
import { generateKeyPair, type KeyPair, type SignatureAlgorithm } from "../keys.js";
import { sameName } from "./certificate.js";
import { createRootCa, issueCertificate, normalizeSerialNumber, randomSerialNumber, type CertifiedKeyPair } from "./issue.js";
import { toX5c } from "./pem.js";
import { MAX_CHAIN_LENGTH, roleOids, type Role } from "./profile.js";
import { TrustStore, type TrustStoreOptions } from "./validate.js";
import { x509 } from "./x509.js";

export interface DemoParty<K extends "publisher" | "server"> extends CertifiedKeyPair {
  readonly identity: PartyId<K>;
}

export interface DemoPki {
  readonly alg: SignatureAlgorithm;
  readonly root: CertifiedKeyPair;
  readonly publishersCa: CertifiedKeyPair;
  readonly regulatorCa: CertifiedKeyPair;
  readonly publisher: DemoParty<"publisher">;
  readonly server: DemoParty<"server">;
  /** With `cardIssuer: true`: the server's card-issuer CA certificate (it names the server) and key. */
  readonly cardIssuer?: DemoParty<"server">;
  /** The x5c chain of a certificate of this PKI: it and its intermediates, without the root. */
  chainOf(leaf: x509.X509Certificate): string[];
  /** A trust store holding this PKI's root. */
  trustStore(opts?: Omit<TrustStoreOptions, "roots">): TrustStore;
}

export interface DemoPkiOptions {
  readonly alg?: SignatureAlgorithm;
  readonly now?: Date;
  readonly publisherName?: string;
  readonly serverName?: string;
  /** Also make the payment server a card issuer (offline variant); off by default. */
  readonly cardIssuer?: boolean;
}

export const DemoSubjects = {
  root: "CN=Péage Root CA,O=Péage",
  publishersCa: "CN=Publishers' Association,O=Péage",
  regulatorCa: "CN=Payment Regulator,O=Péage",
  cardIssuer: (serverName: string) => `CN=${serverName} card issuer,O=Péage`,
} as const;

const HOUR = 3_600_000;

export async function createDemoPki(opts: DemoPkiOptions = {}): Promise<DemoPki> {
  const alg = opts.alg ?? "ES256";
  // Backdated an hour so that clocks slightly behind the issuer's still accept the certificates.
  const start = new Date((opts.now ?? new Date()).getTime() - HOUR);
  const publisherId = partyId("publisher", opts.publisherName ?? "acme-games");
  const serverId = partyId("server", opts.serverName ?? "pay-eu");
  const [rootKeys, publishersKeys, regulatorKeys, publisherKeys, serverKeys, cardIssuerKeys] = (await Promise.all(
    Array.from({ length: opts.cardIssuer ? 6 : 5 }, () => generateKeyPair(alg)),
  )) as [KeyPair, KeyPair, KeyPair, KeyPair, KeyPair, KeyPair | undefined];

  // pathLen 2: below the root, the regulator and (later) a payment server certifying its cards.
  const root = {
    keys: rootKeys,
    certificate: await createRootCa({
      subject: DemoSubjects.root,
      keys: rootKeys,
      notBefore: start,
      notAfter: addYears(start, 10),
      pathLength: 2,
    }),
  };
  const intermediate = async (subject: string, keys: KeyPair, ca: { pathLength: number; roles: Role[] }) => ({
    keys,
    certificate: await issueCertificate({
      issuer: root,
      subject,
      publicKey: keys.publicKey,
      notBefore: start,
      notAfter: addYears(start, 5),
      ca,
    }),
  });
  const publishersCa = await intermediate(DemoSubjects.publishersCa, publishersKeys, { pathLength: 0, roles: ["offer-signing"] });
  // pathLen 1: a payment server that issues cards will be a CA below the regulator. EKU chaining
  // (rules.ts checkRole) means the regulator must also list card-acknowledgment for cards to chain.
  const regulatorRoles: Role[] = [
    "acknowledgment-signing",
    "card-issuing",
    ...(opts.cardIssuer ? (["card-acknowledgment"] as const) : []),
  ];
  const regulatorCa = await intermediate(DemoSubjects.regulatorCa, regulatorKeys, { pathLength: 1, roles: regulatorRoles });
  const leaf = async <K extends "publisher" | "server">(
    issuer: CertifiedKeyPair,
    keys: KeyPair,
    identity: PartyId<K>,
    role: Role,
  ) => ({
    keys,
    identity,
    certificate: await issueCertificate({
      issuer,
      subject: `CN=${identity.split(":")[3]},O=Péage`,
      publicKey: keys.publicKey,
      notBefore: start,
      notAfter: addYears(start, 1),
      roles: [role],
      identity,
    }),
  });
  const publisher = await leaf(publishersCa, publisherKeys, publisherId, "offer-signing");
  const server = await leaf(regulatorCa, serverKeys, serverId, "acknowledgment-signing");
  if (!cardIssuerKeys) return assembleDemoPki({ alg, root, publishersCa, regulatorCa, publisher, server });
  const cardIssuer = {
    keys: cardIssuerKeys,
    identity: serverId,
    certificate: await issueCardIssuerCa(
      regulatorCa,
      DemoSubjects.cardIssuer(serverId.split(":")[3]!),
      cardIssuerKeys.publicKey,
      serverId,
      start,
      addYears(start, 1),
    ),
  };
  return assembleDemoPki({ alg, root, publishersCa, regulatorCa, publisher, server, cardIssuer });
}

/**
 * A payment server's card-issuer CA certificate: cA with pathLen 0 (it certifies cards, never
 * another CA: RFC 5280 §4.2.1.9), keyCertSign and cRLSign (§4.2.1.3), the roles card-issuing and
 * card-acknowledgment as EKU (§4.2.1.12, EKU chaining), and the server's identity as subjectAltName
 * URI (§4.2.1.6), which rules.ts cardIssuerIdentity requires. issueCertificate gives a CA no
 * identity, so the extensions are assembled here.
 */
async function issueCardIssuerCa(
  issuer: CertifiedKeyPair,
  subject: string,
  publicKey: CryptoKey,
  server: PartyId<"server">,
  notBefore: Date,
  notAfter: Date,
): Promise<x509.X509Certificate> {
  const issuerSki = issuer.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!issuerSki) throw new TypeError("the issuer of a card issuer has no subjectKeyIdentifier");
  return x509.X509CertificateGenerator.create({
    serialNumber: normalizeSerialNumber(randomSerialNumber()),
    subject,
    issuer: issuer.certificate.subjectName,
    publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.ExtendedKeyUsageExtension([roleOids["card-issuing"], roleOids["card-acknowledgment"]], false),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: server }], false),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId, false),
    ],
  });
}

/** Adds the helpers to the parts of a demo PKI (also used when reading one back from disk). */
export function assembleDemoPki(parts: Omit<DemoPki, "chainOf" | "trustStore">): DemoPki {
  const intermediates = [
    parts.publishersCa.certificate,
    parts.regulatorCa.certificate,
    ...(parts.cardIssuer ? [parts.cardIssuer.certificate] : []),
  ];
  return {
    ...parts,
    chainOf: (leaf) => x5cChain(leaf, intermediates),
    trustStore: (opts = {}) => new TrustStore({ ...opts, roots: [parts.root.certificate] }),
  };
}

/** The x5c of `leaf` followed by the intermediates that issued it, found by name among `intermediates`. */
export function x5cChain(leaf: x509.X509Certificate, intermediates: readonly x509.X509Certificate[]): string[] {
  const chain = [leaf];
  for (let current = leaf; chain.length < MAX_CHAIN_LENGTH;) {
    const issuer = intermediates.find(
      (ca) => ca !== current && !chain.includes(ca) && sameName(ca.subjectName, current.issuerName),
    );
    if (!issuer) break;
    chain.push(issuer);
    current = issuer;
  }
  return chain.map(toX5c);
}

function addYears(date: Date, years: number): Date {
  const result = new Date(date.getTime());
  result.setUTCFullYear(result.getUTCFullYear() + years);
  return result;
}
