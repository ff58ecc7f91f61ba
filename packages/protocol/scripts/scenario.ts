/**
 * A complete, reproducible Péage scenario for the test vectors, the message tests and the
 * benchmark: a demo PKI per algorithm (plus a rogue one with the same names), extra certificates
 * for the chain rules, users with enrolled keys, a signed catalog, and the three messages of one
 * payment. It also holds the attacker's tools: raw JWS assembly (RFC 7515 §7.1) with any header,
 * payload text or signature, HS256 keyed with public data, and segment surgery.
 *
 * Everything is dated from an explicit `now`, never from the wall clock.
 */
import { createHmac, webcrypto } from "node:crypto";
import { exportJWK } from "jose";
import { AsnConvert } from "@peculiar/asn1-schema";
import { BaseCRLNumber, id_ce_deltaCRLIndicator } from "@peculiar/asn1-x509";
import {
  canonicalBytes,
  createCrl,
  createDemoPki,
  createPaymentRequest,
  createOffer,
  FixedClock,
  generateKeyPair,
  issueCertificate,
  JwsTypes,
  keyThumbprint,
  offerHash,
  partyId,
  price,
  randomSerialNumber,
  roleOids,
  signAcknowledgment,
  signCatalog,
  signCatalogEntry,
  signJws,
  timestamp,
  toX5c,
  TrustStore,
  x509,
  type Acknowledgment,
  type CardDebit,
  type Catalog,
  type CatalogEntry,
  type CertifiedKeyPair,
  type DemoPki,
  type JwsType,
  type KeyPair,
  type Offer,
  type OfferDraft,
  type OfferTerms,
  type PartyId,
  type PaymentRequest,
  type Price,
  type Role,
  type SignatureAlgorithm,
  type UserKey,
} from "../src/index.js";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export const at = (base: Date, offsetMs: number): Date => new Date(base.getTime() + offsetMs);

/** Base64url without padding (RFC 4648 §5), of UTF-8 text or of bytes. */
export function b64u(value: string | Uint8Array): string {
  return Buffer.from(typeof value === "string" ? Buffer.from(value, "utf8") : value).toString("base64url");
}

/** The three segments of a compact JWS. */
export function segments(token: string): [string, string, string] {
  const parts = token.split(".");
  if (parts.length !== 3) throw new TypeError("not a compact JWS");
  return parts as [string, string, string];
}

export function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segments(token)[0], "base64url").toString("utf8")) as Record<string, unknown>;
}

export function claimsOf<T = Record<string, unknown>>(token: string): T {
  return JSON.parse(Buffer.from(segments(token)[1], "base64url").toString("utf8")) as T;
}

/** Replaces one segment (0 header, 1 payload, 2 signature) of a token. */
export function withSegment(token: string, index: 0 | 1 | 2, segment: string): string {
  const parts = segments(token);
  parts[index] = segment;
  return parts.join(".");
}

/** Keeps the header and signature of `token` but carries other claims (canonical JSON): a forgery. */
export function withClaims(token: string, claims: unknown): string {
  return withSegment(token, 1, b64u(JSON.stringify(sortKeys(claims))));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, sortKeys(v)]),
  );
}

/** Flips one bit of the signature's first byte (every signature byte is significant, unlike the last base64url character). */
export function flipSignature(token: string): string {
  const [, , signature] = segments(token);
  const bytes = Buffer.from(signature, "base64url");
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  return withSegment(token, 2, bytes.toString("base64url"));
}

/**
 * The same signature bytes spelled differently: the last base64url character of a 64-byte
 * signature carries 4 unused bits (RFC 4648 §3.5), and this sets the lowest one.
 */
export function respellSignature(token: string): string {
  const [, , signature] = segments(token);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = alphabet.indexOf(signature.at(-1)!);
  return withSegment(token, 2, `${signature.slice(0, -1)}${alphabet[last ^ 1]}`);
}

/**
 * Signs an arbitrary header and payload TEXT with a Péage key, as RFC 7515 §5.1 defines the
 * signing input: ASCII(BASE64URL(header) || '.' || BASE64URL(payload)). Used for tokens the
 * library's own signer would never produce (non-canonical payloads, odd headers).
 */
export async function signRaw(header: Record<string, unknown>, payloadText: string, key: KeyPair): Promise<string> {
  return signRawText(JSON.stringify(header), payloadText, key);
}

/** Like signRaw, with the header as text too: for headers JSON.stringify cannot write (a member twice). */
export async function signRawText(headerText: string, payloadText: string, key: KeyPair): Promise<string> {
  const input = `${b64u(headerText)}.${b64u(payloadText)}`;
  const params = key.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
  const signature = new Uint8Array(await webcrypto.subtle.sign(params, key.privateKey, Buffer.from(input, "ascii")));
  return `${input}.${b64u(signature)}`;
}

/** The RFC 8785 text of `value`. */
export function canonicalJson(value: unknown): string {
  return Buffer.from(canonicalBytes(value)).toString("utf8");
}

/** A protected header naming `typ` twice, first `first` then `last`, with `rest` (members as JSON text) after. */
export function duplicateTyp(alg: string, first: string, last: string, rest: string): string {
  return `{"alg":${JSON.stringify(alg)},"typ":${JSON.stringify(first)},"typ":${JSON.stringify(last)},${rest}}`;
}

/** The canonical text of `claims` with `name` written twice: `first` first, then the claims' own value. */
export function duplicateMember(claims: Record<string, unknown>, name: string, first: unknown): string {
  const text = canonicalJson(claims);
  const member = `${JSON.stringify(name)}:`;
  const at = text.indexOf(member);
  if (at < 0) throw new Error(`the claims have no member ${name}`);
  return `${text.slice(0, at)}${member}${JSON.stringify(first)},${text.slice(at)}`;
}

/** A nonce no offer of the vectors uses. */
export const OTHER_NONCE = "b3RoZXItb2ZmZXItbm9uY2UtMDAwMDAwMDA";

/**
 * An HS256 token (RFC 7518 §3.2) keyed with public bytes, e.g. a certificate's DER: the
 * algorithm-confusion attack against verifiers that let the header pick the algorithm.
 */
export function signHs256(header: Record<string, unknown>, claims: unknown, secret: Uint8Array): string {
  const input = `${b64u(JSON.stringify({ ...header, alg: "HS256" }))}.${b64u(JSON.stringify(sortKeys(claims)))}`;
  return `${input}.${createHmac("sha256", secret).update(input, "ascii").digest("base64url")}`;
}

/** An unsecured token (RFC 7519 §6): alg "none", with an empty or a junk signature segment. */
export function unsecured(header: Record<string, unknown>, claims: unknown, signature = ""): string {
  return `${b64u(JSON.stringify({ ...header, alg: "none" }))}.${b64u(JSON.stringify(sortKeys(claims)))}.${signature}`;
}

export interface User {
  readonly id: PartyId<"user">;
  readonly key: KeyPair;
  readonly kid: string;
}

export async function makeUser(name: string, alg: SignatureAlgorithm): Promise<User> {
  const key = await generateKeyPair(alg);
  return { id: partyId("user", name), key, kid: await keyThumbprint(key.publicKey) };
}

/** The public JWK (RFC 7517) of a user key, without any private member. */
export async function publicJwk(key: KeyPair): Promise<Record<string, unknown>> {
  const { kty, crv, x, y } = await exportJWK(key.publicKey);
  return { kty, crv, x, ...(y !== undefined && { y }) };
}

/** The payment server's key lookup over a list of enrolled keys. */
export function enrolled(users: readonly User[]): (user: PartyId<"user">, kid: string) => UserKey | undefined {
  return (user, kid) => {
    const found = users.find((candidate) => candidate.id === user && candidate.kid === kid);
    return found && { alg: found.key.alg, publicKey: found.key.publicKey };
  };
}

/** A certificate built with exactly the given extensions, signed by `signer` (the issuer's key unless forging). */
export async function rawCertificate(opts: {
  readonly subject: string | x509.Name;
  readonly issuer: x509.X509Certificate | undefined;
  readonly signer: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly x509.Extension[];
  /** The signature algorithm, when not the library's default for the signer's key. */
  readonly signingAlgorithm?: EcdsaParams;
}): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    ...(opts.signingAlgorithm !== undefined && { signingAlgorithm: opts.signingAlgorithm }),
    serialNumber: randomSerialNumber(),
    subject: opts.subject,
    issuer: opts.issuer ? opts.issuer.subjectName : opts.subject,
    publicKey: opts.publicKey,
    signingKey: opts.signer,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    extensions: [...opts.extensions],
  });
}

export async function leafExtensions(
  issuer: x509.X509Certificate,
  key: CryptoKey,
  roles: readonly Role[],
  identity: string | undefined,
  usage = x509.KeyUsageFlags.digitalSignature,
): Promise<x509.Extension[]> {
  const issuerSki = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!issuerSki) throw new TypeError("issuer without subjectKeyIdentifier");
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension(
      roles.map((role) => roleOids[role]),
      false,
    ),
    ...(identity === undefined ? [] : [new x509.SubjectAlternativeNameExtension([{ type: "url", value: identity }], false)]),
    await x509.SubjectKeyIdentifierExtension.create(key),
    new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId, false),
  ];
}

export const PUBLISHER = partyId("publisher", "acme-games");
export const OTHER_PUBLISHER = partyId("publisher", "other-studio");
export const SERVER = partyId("server", "pay-eu");
export const OTHER_SERVER = partyId("server", "pay-us");

/** The offers of the demo catalog: a launch, a period of use, and an event inside the program. */
export const drafts: readonly OfferDraft[] = [
  { offerId: "launch", description: "Start one game of Acme Racer", price: price(50, "EUR"), grant: { kind: "launch" } },
  {
    offerId: "day-pass",
    description: "Play Acme Racer for 24 hours",
    price: price(199, "EUR"),
    grant: { kind: "period", seconds: 86_400 },
  },
  {
    offerId: "level-2",
    description: "Unlock level 2 — « Péage » track",
    price: price(120, "EUR"),
    grant: { kind: "event", event: "level-2" },
  },
];

/** Certificates beyond the demo PKI, one per chain rule the vectors and tests exercise. */
export interface ExtraCertificates {
  /** A second publisher under the publishers' association. */
  readonly otherPublisher: CertifiedKeyPair;
  /** Valid leaves whose private keys sign nothing: only their chains matter. */
  readonly selfSignedPublisher: CertifiedKeyPair;
  /** Names the publishers' association as issuer (name and AKI) but signed by another key. */
  readonly forgedLeaf: x509.X509Certificate;
  /** Issued by the publisher's leaf certificate, which is not a CA. */
  readonly leafUnderLeaf: x509.X509Certificate;
  /** A sub-CA below the publishers' association (pathLen 0), and a leaf below it. */
  readonly subCa: x509.X509Certificate;
  readonly leafUnderSubCa: x509.X509Certificate;
  /** A publisher leaf whose keyUsage is keyAgreement only. */
  readonly noDigitalSignature: x509.X509Certificate;
  /** A leaf with the offer-signing role but a server identity. */
  readonly serverIdentityOfferRole: x509.X509Certificate;
  /** A leaf with the acknowledgment role issued by the publishers' association, limited to offer-signing. */
  readonly ackRoleUnderPublishersCa: x509.X509Certificate;
  /** A publisher leaf without subjectAltName. */
  readonly noIdentity: x509.X509Certificate;
  /** A publisher leaf holding a P-384 key. */
  readonly p384Leaf: x509.X509Certificate;
  /** A publisher leaf (cA=false) whose keyUsage also asserts keyCertSign. */
  readonly leafWithKeyCertSign: x509.X509Certificate;
  /** A publisher leaf naming two Péage identities. */
  readonly twoIdentities: x509.X509Certificate;
  /** A publisher leaf whose one subjectAltName URI is not a Péage identity. */
  readonly foreignIdentity: x509.X509Certificate;
  /** A publisher leaf whose extendedKeyUsage lists no Péage role. */
  readonly noRole: x509.X509Certificate;
  /** A CA below the root whose keyUsage lacks keyCertSign, and a publisher leaf it issued. */
  readonly caWithoutKeyCertSign: x509.X509Certificate;
  readonly leafUnderCaWithoutKeyCertSign: x509.X509Certificate;
  /** A CA below the root whose keyUsage lacks cRLSign, a publisher leaf it issued, and its (empty) CRL. */
  readonly caWithoutCrlSign: CertifiedKeyPair;
  readonly leafUnderCaWithoutCrlSign: x509.X509Certificate;
}

export interface World {
  readonly alg: SignatureAlgorithm;
  /** The time the PKI was made; certificates are valid from an hour before. */
  readonly now: Date;
  readonly pki: DemoPki;
  /** Same names, other keys: a rogue hierarchy impersonating the real one. */
  readonly rogue: DemoPki;
  readonly extra: ExtraCertificates;
  readonly user: User;
  /** Not enrolled for `user`: an attacker's own key. */
  readonly mallory: User;
  readonly catalog: Catalog;
  /** The catalog entries by offer id. */
  readonly entries: Readonly<Record<string, CatalogEntry>>;
  readonly publisherChain: string[];
  readonly serverChain: string[];
  readonly trust: TrustStore;
  /** A smart card of the server's card issuer (offline variant), and certificates that break the card-issuer rules. */
  readonly card: Card;
  /** Chains for the path-building and signature-algorithm rules of chain validation. */
  readonly paths: PathChains;
}

/** Chains (x5c, leaf first, root left out) that break one rule of path building or of a link's signature each. */
export interface PathChains {
  /** A publisher below four intermediates: with the root, a path of six (at most five). */
  readonly sixLevels: string[];
  /** A publisher leaf whose basicConstraints say cA, with keyUsage digitalSignature only. */
  readonly caAsLeaf: string[];
  /** A publisher leaf issued by a CA below the root that holds a P-384 key. */
  readonly underP384Ca: string[];
  /**
   * A publisher leaf that is self-issued without being self-signed: its subject is the publishers'
   * association's own name, and the association issued and signed it.
   */
  readonly selfIssued: string[];
  /** ES256 only: a publisher leaf signed by its (P-256) issuer with ecdsa-with-SHA384. */
  readonly signedWithSha384?: string[];
}

export const CARD = partyId("card", "alice-1");

export interface Card {
  readonly keys: KeyPair;
  readonly chain: string[];
  /** A card leaf issued by a CA that may certify card-acknowledgment but is not a card issuer. */
  readonly chainUnderNonIssuer: string[];
  /** A card leaf issued by a card-issuing CA that names no payment server. */
  readonly chainUnderAnonymousIssuer: string[];
}

export async function makeWorld(alg: SignatureAlgorithm, now: Date, userAlg: SignatureAlgorithm = alg): Promise<World> {
  const [pki, rogue, user, mallory] = await Promise.all([
    createDemoPki({ alg, now, cardIssuer: true }),
    createDemoPki({ alg, now }),
    makeUser("alice", userAlg),
    makeUser("alice", userAlg),
  ]);
  const extra = await makeExtraCertificates(pki, now);
  const publisherChain = pki.chainOf(pki.publisher.certificate);
  const catalog = await signCatalog(PUBLISHER, drafts, pki.publisher.keys, publisherChain);
  const entries = Object.fromEntries(catalog.offers.map((entry) => [entry.terms.offerId, entry]));
  return {
    alg,
    now,
    pki,
    rogue,
    extra,
    user,
    mallory,
    catalog,
    entries,
    publisherChain,
    serverChain: pki.chainOf(pki.server.certificate),
    trust: pki.trustStore(),
    card: await makeCard(pki, now),
    paths: await makePathChains(pki, now),
  };
}

async function makePathChains(pki: DemoPki, now: Date): Promise<PathChains> {
  const notBefore = at(now, -HOUR);
  const notAfter = at(now, 365 * DAY);
  const usage = x509.KeyUsageFlags;
  const caUsage = usage.keyCertSign | usage.cRLSign;
  const publisherLeaf = async (
    issuer: CertifiedKeyPair,
    more: { ca?: boolean; signingAlgorithm?: EcdsaParams; subject?: x509.Name } = {},
  ) => {
    const keys = await generateKeyPair(pki.alg);
    const extensions = await leafExtensions(issuer.certificate, keys.publicKey, ["offer-signing"], PUBLISHER);
    return rawCertificate({
      subject: more.subject ?? "CN=acme-games,O=Péage",
      issuer: issuer.certificate,
      signer: issuer.keys.privateKey,
      publicKey: keys.publicKey,
      notBefore,
      notAfter,
      ...(more.signingAlgorithm !== undefined && { signingAlgorithm: more.signingAlgorithm }),
      extensions: more.ca
        ? extensions.map((e) =>
            e instanceof x509.BasicConstraintsExtension ? new x509.BasicConstraintsExtension(true, undefined, true) : e,
          )
        : extensions,
    });
  };
  // Four intermediates, none limiting the path below it: only the length rule refuses the path.
  let issuer: CertifiedKeyPair = pki.root;
  const intermediates: x509.X509Certificate[] = [];
  for (const level of [1, 2, 3, 4]) {
    issuer = await rawCa(pki, issuer, `Publishers Level ${level}`, caUsage, ["offer-signing"], undefined, undefined);
    intermediates.unshift(issuer.certificate);
  }
  const sixLevels = [await publisherLeaf(issuer), ...intermediates].map(toX5c);
  const caAsLeaf = [toX5c(await publisherLeaf(pki.publishersCa, { ca: true })), ...pki.chainOf(pki.publishersCa.certificate)];
  const p384 = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const p384Ca = await rawCertificate({
    subject: "CN=Publishers P-384,O=Péage",
    issuer: pki.root.certificate,
    signer: pki.root.keys.privateKey,
    publicKey: p384.publicKey,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(caUsage, true),
      await x509.SubjectKeyIdentifierExtension.create(p384.publicKey),
      new x509.AuthorityKeyIdentifierExtension(
        pki.root.certificate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
        false,
      ),
    ],
  });
  // The leaf below names the P-384 CA (name and key id) but is signed by a Péage key: a P-384
  // signature would be refused as malformed (its integers are longer than P-256's) before any key
  // is looked at, and the issuer's key is refused before the signature is checked anyway.
  const forger = await generateKeyPair(pki.alg);
  const p384Pair: CertifiedKeyPair = { keys: forger, certificate: p384Ca };
  const sha384 = { name: "ECDSA", hash: "SHA-384" };
  return {
    sixLevels,
    caAsLeaf,
    underP384Ca: [toX5c(await publisherLeaf(p384Pair)), toX5c(p384Ca)],
    selfIssued: [
      toX5c(await publisherLeaf(pki.publishersCa, { subject: pki.publishersCa.certificate.subjectName })),
      ...pki.chainOf(pki.publishersCa.certificate),
    ],
    ...(pki.alg === "ES256" && {
      signedWithSha384: [
        toX5c(await publisherLeaf(pki.publishersCa, { signingAlgorithm: sha384 })),
        ...pki.chainOf(pki.publishersCa.certificate),
      ],
    }),
  };
}

/** A CA below `issuer` with exactly the given key usage, roles and (optional) identity URI. */
async function rawCa(
  pki: DemoPki,
  issuer: CertifiedKeyPair,
  name: string,
  keyUsage: number,
  roles: readonly Role[],
  identity?: string,
  pathLength: number | undefined = 0,
): Promise<CertifiedKeyPair> {
  const keys = await generateKeyPair(pki.alg);
  const issuerSki = issuer.certificate.getExtension(x509.SubjectKeyIdentifierExtension)!;
  const certificate = await rawCertificate({
    subject: `CN=${name},O=Péage`,
    issuer: issuer.certificate,
    signer: issuer.keys.privateKey,
    publicKey: keys.publicKey,
    notBefore: issuer.certificate.notBefore,
    notAfter: issuer.certificate.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLength, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension(
        roles.map((role) => roleOids[role]),
        false,
      ),
      ...(identity === undefined ? [] : [new x509.SubjectAlternativeNameExtension([{ type: "url", value: identity }], false)]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId, false),
    ],
  });
  return { keys, certificate };
}

async function makeCard(pki: DemoPki, now: Date): Promise<Card> {
  const notBefore = at(now, -HOUR);
  const notAfter = at(now, 365 * DAY);
  const keys = await generateKeyPair("ES256");
  const cardLeaf = async (issuer: CertifiedKeyPair) =>
    rawCertificate({
      subject: "CN=alice-1,O=Péage",
      issuer: issuer.certificate,
      signer: issuer.keys.privateKey,
      publicKey: keys.publicKey,
      notBefore,
      notAfter,
      extensions: await leafExtensions(issuer.certificate, keys.publicKey, ["card-acknowledgment"], CARD),
    });
  const caUsage = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
  const nonIssuer = await rawCa(pki, pki.regulatorCa, "Cards Without Issuing", caUsage, ["card-acknowledgment"], SERVER);
  const anonymous = await rawCa(pki, pki.regulatorCa, "Anonymous Card Issuer", caUsage, ["card-issuing", "card-acknowledgment"]);
  const chainBelow = async (ca: CertifiedKeyPair) => [toX5c(await cardLeaf(ca)), ...pki.chainOf(ca.certificate)];
  return {
    keys,
    chain: await chainBelow(pki.cardIssuer!),
    chainUnderNonIssuer: await chainBelow(nonIssuer),
    chainUnderAnonymousIssuer: await chainBelow(anonymous),
  };
}

/** Message 3 signed by the world's card, with or without the proof of debit. */
export async function cardAckAt(
  world: World,
  request: PaymentRequest,
  date: Date,
  debit: CardDebit | undefined,
  chain = world.card.chain,
): Promise<Acknowledgment> {
  return signAcknowledgment({
    consent: claimsOf(request.consent),
    paymentId: "card_7",
    server: CARD,
    charged: claimsOf<{ price: Price }>(request.consent).price,
    ...(debit !== undefined && { debit }),
    key: world.card.keys,
    x5c: chain,
    clock: new FixedClock(date),
  });
}

async function makeExtraCertificates(pki: DemoPki, now: Date): Promise<ExtraCertificates> {
  const alg = pki.alg;
  const notBefore = at(now, -HOUR);
  const notAfter = at(now, 365 * DAY);
  const publishersCa = pki.publishersCa;
  const leafKey = async () => generateKeyPair(alg);
  const leaf = async (issuer: CertifiedKeyPair, subject: string, roles: Role[], identity: string | undefined, usage?: number) => {
    const keys = await leafKey();
    return rawCertificate({
      subject,
      issuer: issuer.certificate,
      signer: issuer.keys.privateKey,
      publicKey: keys.publicKey,
      notBefore,
      notAfter,
      extensions: await leafExtensions(issuer.certificate, keys.publicKey, roles, identity, usage),
    });
  };

  const otherKeys = await leafKey();
  const otherPublisher = {
    keys: otherKeys,
    certificate: await issueCertificate({
      issuer: publishersCa,
      subject: "CN=other-studio,O=Péage",
      publicKey: otherKeys.publicKey,
      notBefore,
      notAfter,
      roles: ["offer-signing"],
      identity: OTHER_PUBLISHER,
    }),
  };
  const selfKeys = await leafKey();
  const selfSignedPublisher = {
    keys: selfKeys,
    certificate: await rawCertificate({
      subject: "CN=acme-games,O=Péage",
      issuer: undefined,
      signer: selfKeys.privateKey,
      publicKey: selfKeys.publicKey,
      notBefore,
      notAfter,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([roleOids["offer-signing"]], false),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: PUBLISHER }], false),
      ],
    }),
  };
  const forgerKeys = await leafKey();
  const forgedKeys = await leafKey();
  const forgedLeaf = await rawCertificate({
    subject: "CN=acme-games,O=Péage",
    issuer: publishersCa.certificate,
    signer: forgerKeys.privateKey,
    publicKey: forgedKeys.publicKey,
    notBefore,
    notAfter,
    extensions: await leafExtensions(publishersCa.certificate, forgedKeys.publicKey, ["offer-signing"], PUBLISHER),
  });
  const leafUnderLeaf = await leaf(
    pki.publisher,
    "CN=sub-publisher,O=Péage",
    ["offer-signing"],
    partyId("publisher", "sub-publisher"),
  );
  const subCaKeys = await leafKey();
  const subCaPair = {
    keys: subCaKeys,
    certificate: await issueCertificate({
      issuer: publishersCa,
      subject: "CN=Regional Publishers,O=Péage",
      publicKey: subCaKeys.publicKey,
      notBefore,
      notAfter,
      ca: { pathLength: 0, roles: ["offer-signing"] },
    }),
  };
  const leafUnderSubCa = await leaf(
    subCaPair,
    "CN=regional-games,O=Péage",
    ["offer-signing"],
    partyId("publisher", "regional-games"),
  );
  const noDigitalSignature = await leaf(
    publishersCa,
    "CN=acme-games,O=Péage",
    ["offer-signing"],
    PUBLISHER,
    x509.KeyUsageFlags.keyAgreement,
  );
  const serverIdentityOfferRole = await leaf(publishersCa, "CN=pay-eu,O=Péage", ["offer-signing"], SERVER);
  const ackRoleUnderPublishersCa = await leaf(publishersCa, "CN=pay-eu,O=Péage", ["acknowledgment-signing"], SERVER);
  const noIdentity = await leaf(publishersCa, "CN=acme-games,O=Péage", ["offer-signing"], undefined);
  const p384 = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const p384Leaf = await rawCertificate({
    subject: "CN=acme-games,O=Péage",
    issuer: publishersCa.certificate,
    signer: publishersCa.keys.privateKey,
    publicKey: p384.publicKey,
    notBefore,
    notAfter,
    extensions: await leafExtensions(publishersCa.certificate, p384.publicKey, ["offer-signing"], PUBLISHER),
  });
  const odd = await oddCertificates(pki, notBefore, notAfter, leaf);
  return {
    ...odd,
    otherPublisher,
    selfSignedPublisher,
    forgedLeaf,
    leafUnderLeaf,
    subCa: subCaPair.certificate,
    leafUnderSubCa,
    noDigitalSignature,
    serverIdentityOfferRole,
    ackRoleUnderPublishersCa,
    noIdentity,
    p384Leaf,
  };
}

type LeafMaker = (
  issuer: CertifiedKeyPair,
  subject: string,
  roles: Role[],
  identity: string | undefined,
  usage?: number,
) => Promise<x509.X509Certificate>;

/** The certificates that break one profile rule each (keyUsage, identities, roles, CA key usages). */
async function oddCertificates(pki: DemoPki, notBefore: Date, notAfter: Date, leaf: LeafMaker) {
  const publishersCa = pki.publishersCa;
  const usage = x509.KeyUsageFlags;
  const subject = "CN=acme-games,O=Péage";
  const leafWithKeyCertSign = await leaf(
    publishersCa,
    subject,
    ["offer-signing"],
    PUBLISHER,
    usage.digitalSignature | usage.keyCertSign,
  );
  const twoKeys = await generateKeyPair(pki.alg);
  const twoIdentities = await rawCertificate({
    subject,
    issuer: publishersCa.certificate,
    signer: publishersCa.keys.privateKey,
    publicKey: twoKeys.publicKey,
    notBefore,
    notAfter,
    extensions: [
      ...(await leafExtensions(publishersCa.certificate, twoKeys.publicKey, ["offer-signing"], undefined)),
      new x509.SubjectAlternativeNameExtension(
        [
          { type: "url", value: PUBLISHER },
          { type: "url", value: OTHER_PUBLISHER },
        ],
        false,
      ),
    ],
  });
  const foreignIdentity = await leaf(publishersCa, subject, ["offer-signing"], "https://acme-games.example/");
  const noRoleKeys = await generateKeyPair(pki.alg);
  const noRole = await rawCertificate({
    subject,
    issuer: publishersCa.certificate,
    signer: publishersCa.keys.privateKey,
    publicKey: noRoleKeys.publicKey,
    notBefore,
    notAfter,
    extensions: [
      ...(await leafExtensions(publishersCa.certificate, noRoleKeys.publicKey, [], PUBLISHER)).filter(
        (e) => !(e instanceof x509.ExtendedKeyUsageExtension),
      ),
      // id-kp-serverAuth (RFC 5280 §4.2.1.12): an extendedKeyUsage, but no Péage role in it.
      new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.1"], false),
    ],
  });
  const ca = async (name: string, keyUsage: number): Promise<CertifiedKeyPair> => {
    const keys = await generateKeyPair(pki.alg);
    const rootSki = pki.root.certificate.getExtension(x509.SubjectKeyIdentifierExtension)!;
    const certificate = await rawCertificate({
      subject: `CN=${name},O=Péage`,
      issuer: pki.root.certificate,
      signer: pki.root.keys.privateKey,
      publicKey: keys.publicKey,
      notBefore,
      notAfter,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(keyUsage, true),
        new x509.ExtendedKeyUsageExtension([roleOids["offer-signing"]], false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        new x509.AuthorityKeyIdentifierExtension(rootSki.keyId, false),
      ],
    });
    return { keys, certificate };
  };
  const noCertSign = await ca("Publishers Without keyCertSign", usage.cRLSign | usage.digitalSignature);
  const noCrlSign = await ca("Publishers Without cRLSign", usage.keyCertSign | usage.digitalSignature);
  return {
    leafWithKeyCertSign,
    twoIdentities,
    foreignIdentity,
    noRole,
    caWithoutKeyCertSign: noCertSign.certificate,
    leafUnderCaWithoutKeyCertSign: await leaf(noCertSign, subject, ["offer-signing"], PUBLISHER),
    caWithoutCrlSign: noCrlSign,
    leafUnderCaWithoutCrlSign: await leaf(noCrlSign, subject, ["offer-signing"], PUBLISHER),
  };
}

/** Message 1 for a catalog entry, dated `date`. */
export function offerAt(entry: CatalogEntry, date: Date, ttlMs = 10 * MINUTE): Offer {
  return createOffer(entry, new FixedClock(date), ttlMs);
}

/** Message 2: `user` consents to `offer` at `date`, for `server`. */
export function requestAt(
  offer: Offer,
  user: User,
  date: Date,
  server: PartyId<"server"> = SERVER,
  ttlMs?: number,
): Promise<PaymentRequest> {
  return createPaymentRequest({
    offer,
    user: user.id,
    server,
    userKey: user.key,
    clock: new FixedClock(date),
    ...(ttlMs !== undefined && { ttlMs }),
  });
}

/** Message 3 for a payment request, signed by the world's payment server at `date`. */
export async function ackAt(
  world: World,
  request: PaymentRequest,
  date: Date,
  opts: { charged?: Price; rate?: string; paymentId?: string } = {},
): Promise<Acknowledgment> {
  return signAcknowledgment({
    consent: claimsOf(request.consent),
    paymentId: opts.paymentId ?? "pay_demo",
    server: SERVER,
    charged: opts.charged ?? claimsOf<{ price: Price }>(request.consent).price,
    ...(opts.rate !== undefined && { rate: opts.rate }),
    key: world.pki.server.keys,
    x5c: world.serverChain,
    clock: new FixedClock(date),
  });
}

/** A catalog entry for `terms` signed by `key` with chain `x5c`, whatever the terms say. */
export function entryFor(terms: OfferTerms, key: KeyPair, x5c: readonly string[]): Promise<CatalogEntry> {
  return signCatalogEntry(terms, key, x5c);
}

/** Signs claims with the library's own signer (canonical payload) and any signer header. */
export function sign(
  typ: JwsType,
  claims: unknown,
  key: KeyPair,
  signer: { x5c: readonly string[] } | { kid: string },
): Promise<string> {
  return signJws(typ, claims, key, signer);
}

/** A CRL of `issuer` (RFC 5280 §5) listing `revoked`, valid from `thisUpdate` to `nextUpdate`. */
export function crlOf(
  issuer: CertifiedKeyPair,
  revoked: readonly x509.X509Certificate[],
  thisUpdate: Date,
  nextUpdate: Date,
): Promise<x509.X509Crl> {
  return createCrl({
    issuer,
    revoked: revoked.map((cert) => ({
      serialNumber: cert.serialNumber,
      revocationDate: thisUpdate,
      reason: "keyCompromise" as const,
    })),
    thisUpdate,
    nextUpdate,
    crlNumber: 1,
  });
}

/**
 * An empty CRL signed by `issuer` without the product's checks (createCrl refuses a CA that may
 * not sign CRLs, and writes only what a usable CRL holds), for the vectors that show a verifier
 * refusing such a CRL: `nextUpdate` may be left out and `extensions` added.
 */
export async function rawEmptyCrlOf(
  issuer: CertifiedKeyPair,
  thisUpdate: Date,
  nextUpdate: Date | undefined,
  extensions: readonly x509.Extension[] = [],
): Promise<x509.X509Crl> {
  const ski = issuer.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new TypeError("CRL issuer without subjectKeyIdentifier");
  return x509.X509CrlGenerator.create({
    issuer: issuer.certificate.subjectName,
    thisUpdate,
    ...(nextUpdate !== undefined && { nextUpdate }),
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: issuer.keys.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" },
    extensions: [new x509.AuthorityKeyIdentifierExtension(ski.keyId, false), ...extensions],
    entries: [],
  });
}

/**
 * A critical deltaCRLIndicator (RFC 5280 §5.2.4): the CRL is a delta against base CRL `base`, not
 * a complete CRL, and a checker that handles complete CRLs only must not rely on it.
 */
export function deltaCrlIndicator(base: number): x509.Extension {
  return new x509.Extension(id_ce_deltaCRLIndicator, true, AsnConvert.serialize(new BaseCRLNumber(base)));
}

export { JwsTypes, offerHash, timestamp };
