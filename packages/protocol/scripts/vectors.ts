/**
 * The test-vector file format (docs/protocol.md, "Test vectors") and the reference way to run a
 * case with the real API: build a trust store from the anchors and the case's CRLs, fix the clock
 * at the case's `at`, call the verifier of the case's kind, compare the outcome.
 */
import { webcrypto } from "node:crypto";
import {
  decodeJws,
  FixedClock,
  importAgentKey,
  jwkThumbprint,
  verifyMandate,
  verifyMandatePayment,
  type Mandate,
  type MandateClaims,
  type RegisteredMandate,
  keyThumbprint,
  TrustStore,
  verifyAcknowledgment,
  verifyCatalog,
  verifyOffer,
  verifyPaymentRequest,
  type Offer,
  type PartyId,
  type RevocationPolicy,
  type Result,
  type Role,
  type SignatureAlgorithm,
  type JwsType,
  type UserKey,
  type VerificationCode,
  VerificationError,
} from "../src/index.js";

export const VECTOR_FORMAT = "peage-test-vectors/1";
export const VectorKinds = [
  "offer",
  "catalog",
  "payment-request",
  "acknowledgment",
  "chain",
  "mandate",
  "mandate-payment",
  "jws",
] as const;
export type VectorKind = (typeof VectorKinds)[number];

export interface VectorContext {
  /** The verifier's clock: RFC 3339 UTC with milliseconds. */
  readonly at: string;
  /** Names of entries of the file's `crls` to load into the trust store. */
  readonly crls?: readonly string[];
  /** The trust store's revocation policy; "best-effort" when absent. */
  readonly revocation?: RevocationPolicy;
  /** payment-request: the verifying server's identity. acknowledgment: the server the merchant expects, if any. */
  readonly server?: string;
  /** acknowledgment: the offer the merchant sent (message 1). */
  readonly offer?: Offer;
  /** chain: the role the chain is validated for. */
  readonly role?: Role;
  /** acknowledgment: false when the merchant refuses acknowledgments signed by cards; default true. */
  readonly acceptCards?: boolean;
  /** mandate-payment: the mandate the server registered (docs/protocol.md §16), as the user signed it. */
  readonly mandate?: Mandate;
  /** jws: the `typ` the token is decoded as (docs/protocol.md §4.3). */
  readonly typ?: JwsType;
}

export type VectorExpectation = { readonly valid: true } | { readonly valid: false; readonly code: VerificationCode };

export interface VectorCase {
  readonly id: string;
  readonly description: string;
  readonly kind: VectorKind;
  /** The algorithm of the demo PKI the case was built from. */
  readonly alg: SignatureAlgorithm;
  readonly input: unknown;
  readonly context: VectorContext;
  readonly expected: VectorExpectation;
}

export interface EnrolledKey {
  readonly user: string;
  /** RFC 7638 SHA-256 thumbprint of `jwk`. */
  readonly kid: string;
  /** The public key, RFC 7517 JWK (EC P-256 or OKP Ed25519). */
  readonly jwk: Record<string, unknown>;
}

export interface VectorFile {
  readonly format: typeof VECTOR_FORMAT;
  readonly description: string;
  /** The time the PKIs were made. */
  readonly generatedAt: string;
  /** Trusted roots, PEM (RFC 7468). */
  readonly trustAnchors: readonly string[];
  /** CRLs by name, PEM; a case loads the ones it names. */
  readonly crls: Readonly<Record<string, string>>;
  /** The user keys the payment server has enrolled. */
  readonly enrolledKeys: readonly EnrolledKey[];
  readonly cases: readonly VectorCase[];
}

/** Imports an enrolled public JWK as a verification key, checking its kid is its thumbprint. */
export async function importEnrolledKey(entry: EnrolledKey): Promise<UserKey> {
  const jwk = entry.jwk as JsonWebKey;
  const alg: SignatureAlgorithm = jwk.kty === "OKP" && jwk.crv === "Ed25519" ? "EdDSA" : "ES256";
  const params = alg === "ES256" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "Ed25519" };
  const publicKey = await webcrypto.subtle.importKey("jwk", jwk, params, true, ["verify"]);
  const kid = await keyThumbprint(publicKey);
  if (kid !== entry.kid) throw new Error(`enrolled key of ${entry.user}: kid ${entry.kid} is not its thumbprint ${kid}`);
  return { alg, publicKey };
}

export interface Runner {
  run(c: VectorCase): Promise<Result<unknown>>;
}

/** Prepares a file for running: parses anchors, imports enrolled keys. */
export async function runner(file: VectorFile): Promise<Runner> {
  const keys = await Promise.all(file.enrolledKeys.map(async (entry) => ({ entry, key: await importEnrolledKey(entry) })));
  const userKey = (user: PartyId<"user">, kid: string): UserKey | undefined =>
    keys.find(({ entry }) => entry.user === user && entry.kid === kid)?.key;
  return {
    async run(c) {
      const { context } = c;
      const crls = (context.crls ?? []).map((name) => {
        const pem = file.crls[name];
        if (pem === undefined) throw new Error(`case ${c.id} names the unknown CRL ${name}`);
        return pem;
      });
      const store = trustStore(file.trustAnchors, crls, context.revocation);
      if (!store.ok) return store;
      const trust = store.value;
      const now = new Date(context.at);
      const clock = new FixedClock(now);
      switch (c.kind) {
        case "offer":
          return verifyOffer(c.input, {
            trust,
            clock,
            ...(context.server !== undefined && { server: context.server as PartyId<"server"> }),
          });
        case "catalog":
          return verifyCatalog(c.input, trust, now);
        case "payment-request":
          if (context.server === undefined) throw new Error(`case ${c.id}: a payment-request case names the verifying server`);
          return verifyPaymentRequest(c.input, { trust, clock, server: context.server as PartyId<"server">, userKey });
        case "acknowledgment":
          if (context.offer === undefined) throw new Error(`case ${c.id}: an acknowledgment case carries the merchant's offer`);
          return verifyAcknowledgment(c.input, context.offer, {
            trust,
            clock,
            ...(context.server !== undefined && { server: context.server as PartyId<"server"> }),
            ...(context.acceptCards !== undefined && { acceptCards: context.acceptCards }),
          });
        case "chain":
          if (context.role === undefined) throw new Error(`case ${c.id}: a chain case names the role`);
          return trust.validate(c.input as string[], context.role, now);
        case "mandate":
          if (context.server === undefined) throw new Error(`case ${c.id}: a mandate case names the verifying server`);
          return verifyMandate(c.input, { clock, server: context.server as PartyId<"server">, userKey });
        case "jws":
          if (context.typ === undefined) throw new Error(`case ${c.id}: a jws case names the typ`);
          return decodeJws(c.input, context.typ);
        case "mandate-payment": {
          if (context.server === undefined || context.mandate === undefined)
            throw new Error(`case ${c.id}: a mandate-payment case names the server and the registered mandate`);
          const registered = await registeredMandate(context.mandate);
          return verifyMandatePayment(c.input, {
            trust,
            clock,
            server: context.server as PartyId<"server">,
            mandate: (id) => (registered.claims.mandateId === id ? registered : undefined),
          });
        }
      }
    },
  };
}

/**
 * The case's trust store. A CRL text that is not a PEM CRL (RFC 7468, canonical base64, one DER
 * CRL per block) fails the case with ERR_MALFORMED before anything is verified: the relying
 * party refuses to load it.
 */
function trustStore(anchors: readonly string[], crls: readonly string[], revocation?: RevocationPolicy): Result<TrustStore> {
  try {
    return { ok: true, value: TrustStore.fromPem(anchors, crls, revocation === undefined ? {} : { revocation }) };
  } catch (error) {
    if (error instanceof VerificationError) return { ok: false, error };
    throw error;
  }
}

/** A mandate as the server holds it once registered: its claims (verified then) and its agent's key. */
export async function registeredMandate(mandate: Mandate): Promise<RegisteredMandate> {
  const claims = JSON.parse(Buffer.from(mandate.mandate.split(".")[1]!, "base64url").toString("utf8")) as MandateClaims;
  const agentKey = await importAgentKey(claims.agent);
  if (!agentKey) throw new Error(`the registered mandate ${claims.mandateId} has no valid agent key`);
  return { claims, agentKey, agentKid: jwkThumbprint(agentKey.publicKey) };
}

/** The outcome of a result in the vectors' terms. */
export function outcomeOf(result: Result<unknown>): VectorExpectation {
  return result.ok ? { valid: true } : { valid: false, code: result.error.code };
}
