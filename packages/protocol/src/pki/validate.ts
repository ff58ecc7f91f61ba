/**
 * Certification path validation for the Péage profile (RFC 5280 §6.1, with the profile's own
 * rules on roles and identities), behind a cache so that a message costs about one signature check.
 *
 * A chain arrives as a JWS `x5c` header: base64 DER certificates, leaf first, each certified by
 * the next (RFC 7515 §4.1.6), with or without the root. The root must be one of the store's,
 * compared by exact DER: names are never enough to trust a key.
 */
import { createHash } from "node:crypto";
import { fail, ok, type Result } from "../errors.js";
import type { PartyId } from "../identity.js";
import type { SignatureAlgorithm } from "../keys.js";
import { ValidationCache, type CacheStats } from "./cache.js";
import { inspect, mayHaveIssued, type CertificateView } from "./inspect.js";
import { decodeX5c, parseCertificatesPem, parseCrlsPem } from "./pem.js";
import { MAX_CHAIN_LENGTH, isRole, type Role } from "./profile.js";
import { checkCaConstraints, checkLeafUsage, checkRole, checkValidity, importLeafKey, leafIdentity } from "./rules.js";
import { checkCrlAlone } from "./crl-check.js";
import { StoredCrl, checkRevocation, type CertificationPath, type IssuerNode, type RevocationPolicy } from "./revocation.js";
import { checkSignature, issuerKeyOf, type IssuerKey } from "./signature.js";
import { x509 } from "./x509.js";

export type { RevocationPolicy } from "./revocation.js";

export interface ValidatedChain {
  readonly leaf: x509.X509Certificate;
  /** The leaf's key, imported for verification (ECDSA P-256 or Ed25519). */
  readonly publicKey: CryptoKey;
  readonly alg: SignatureAlgorithm;
  /** The leaf's subjectAltName URI. */
  readonly identity: PartyId;
  readonly role: Role;
  /** Leaf first, trust anchor last. */
  readonly path: readonly x509.X509Certificate[];
  /** The intersection of the validity periods of the path. */
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface TrustStoreOptions {
  readonly roots: readonly x509.X509Certificate[];
  readonly crls?: readonly x509.X509Crl[];
  /** "best-effort" (default): check the CRLs the store has. "require": a certificate without a CRL from its issuer fails. */
  readonly revocation?: RevocationPolicy;
  /** Most validated chains kept (default 10 000); 0 disables the cache. */
  readonly cacheSize?: number;
}

export interface TrustStoreStats extends CacheStats {
  /** Incremented by every addCrl that changed the store; cached results of earlier generations are void. */
  readonly crlGeneration: number;
}

export const DEFAULT_CACHE_SIZE = 10_000;

/** A decoded certificate, and its key once imported for checking what it signed. */
interface Parsed {
  readonly view: CertificateView;
  key?: Promise<Result<IssuerKey>>;
}

/** Decoded certificates kept by x5c text: intermediates recur across chains, and decoding dominates a miss. */
const PARSED_CACHE_SIZE = 1024;

export class TrustStore {
  readonly revocation: RevocationPolicy;
  readonly #anchors = new Map<string, Parsed>();
  readonly #parsed = new Map<string, Parsed>();
  readonly #crls = new Map<string, StoredCrl>();
  /** Issuing certificates of chains that validated (intermediates and anchors, with their keys): who may have signed a CRL. */
  readonly #issuers = new Map<string, IssuerNode>();
  readonly #cache: ValidationCache<ValidatedChain>;
  #generation = 0;

  constructor(opts: TrustStoreOptions) {
    this.revocation = opts.revocation ?? "best-effort";
    if (this.revocation !== "best-effort" && this.revocation !== "require")
      throw new TypeError(`unknown revocation policy ${String(this.revocation)}`);
    this.#cache = new ValidationCache(opts.cacheSize ?? DEFAULT_CACHE_SIZE);
    for (const root of opts.roots) this.#addRoot(root);
    for (const crl of opts.crls ?? []) this.addCrl(crl);
  }

  /** A store from PEM texts: each roots text may be a bundle of several certificates, each CRL text several CRLs. */
  static fromPem(
    rootsPem: string | readonly string[],
    crlsPem: readonly string[] = [],
    opts: Omit<TrustStoreOptions, "roots" | "crls"> = {},
  ): TrustStore {
    const texts = typeof rootsPem === "string" ? [rootsPem] : rootsPem;
    return new TrustStore({ ...opts, roots: texts.flatMap(parseCertificatesPem), crls: crlsPem.flatMap(parseCrlsPem) });
  }

  get roots(): readonly x509.X509Certificate[] {
    return [...this.#anchors.values()].map((anchor) => anchor.view.cert);
  }

  get crls(): readonly x509.X509Crl[] {
    return [...this.#crls.values()].map((stored) => stored.crl);
  }

  /**
   * Adds a CRL, replacing an older one of the same issuer (name and authority key identifier);
   * an older or equal CRL is ignored. Its signature is checked when a chain needs it, against the
   * issuer certificate of that chain. Any change voids every cached validation.
   */
  addCrl(crl: x509.X509Crl): void {
    const stored = new StoredCrl(crl);
    const existing = this.#crls.get(stored.key);
    if (existing && !stored.supersedes(existing)) return;
    this.#crls.set(stored.key, stored);
    this.#generation++;
    this.#cache.clear();
  }

  /**
   * Checks a CRL before it is used on its own, outside a chain's validation (a card desk's list of
   * revoked certificates): usable, current at `at` (thisUpdate not after it, nextUpdate not before),
   * and signed by the key of a certificate allowed to sign CRLs (cRLSign) that is a trust anchor,
   * the issuer of a chain this store validated, or the first certificate of `issuerChain` (x5c,
   * issuer first) once that chain validates to an anchor. The same checks as in a chain's
   * validation (revocation.ts checkCrlOf); the outcome says which one failed.
   */
  async checkCrl(crl: x509.X509Crl, at: Date, issuerChain: readonly string[] = []): Promise<Result<void>> {
    if (issuerChain.length > 0) await this.addCrlIssuer(issuerChain, at);
    return checkCrlAlone(crl, at, [...(await this.#anchorIssuers()), ...this.#issuers.values()]);
  }

  /**
   * Makes the first certificate of `chain` (x5c, issuer first, a CA) known as the issuer of CRLs
   * that checkCrl may verify, once the chain validates to a trust anchor at `at`; a chain that
   * does not is refused, and nothing is remembered.
   */
  async addCrlIssuer(chain: readonly string[], at: Date): Promise<Result<void>> {
    const shape = checkShape(chain);
    if (!shape.ok) return shape;
    const views = this.#parseChain(chain);
    if (!views.ok) return views;
    const path = await this.#buildPath(views.value);
    if (!path.ok) return path;
    const broken = checkValidity(path.value, at) ?? checkCaConstraints(path.value);
    if (broken) return broken;
    const key = await keyOf(views.value[0]!);
    if (!key.ok) return key;
    this.#rememberIssuers([{ view: views.value[0]!.view, key: key.value }]);
    return ok(undefined);
  }

  /** The trust anchors with their keys. */
  async #anchorIssuers(): Promise<IssuerNode[]> {
    const nodes: IssuerNode[] = [];
    for (const anchor of this.#anchors.values()) {
      const key = await keyOf(anchor);
      if (key.ok) nodes.push({ view: anchor.view, key: key.value });
    }
    return nodes;
  }

  #rememberIssuers(nodes: readonly IssuerNode[]): void {
    for (const node of nodes) {
      if (this.#issuers.has(node.view.x5c)) continue;
      if (this.#issuers.size >= PARSED_CACHE_SIZE) this.#issuers.delete(this.#issuers.keys().next().value!);
      this.#issuers.set(node.view.x5c, node);
    }
  }

  stats(): TrustStoreStats {
    return { ...this.#cache.stats(), crlGeneration: this.#generation };
  }

  clearCache(): void {
    this.#cache.clear();
  }

  /**
   * Validates `chain` (x5c: base64 DER, leaf first) for `role` at time `at`. On success the leaf's
   * key, identity and the path; on failure the first rule broken, naming the certificate at fault.
   */
  async validate(chain: readonly string[], role: Role, at: Date): Promise<Result<ValidatedChain>> {
    if (!isRole(role)) throw new TypeError(`unknown role ${String(role)}`);
    if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError("`at` must be a valid Date");
    const shape = checkShape(chain);
    if (!shape.ok) return shape;
    const key = cacheKey(chain, role);
    const generation = this.#generation;
    const cached = this.#cache.get(key, at.getTime(), generation);
    if (cached) return ok(cached);
    const result = await this.#validate(chain, role, at, [...this.#crls.values()]);
    // A CRL added while this validation ran may revoke something in it: return, but do not keep.
    if (result.ok && generation === this.#generation) {
      this.#cache.set(key, result.value.chain, result.value.from, result.value.until, generation);
    }
    return result.ok ? ok(result.value.chain) : result;
  }

  async #validate(
    chain: readonly string[],
    role: Role,
    at: Date,
    crls: readonly StoredCrl[],
  ): Promise<Result<{ chain: ValidatedChain; from: number; until: number }>> {
    const views = this.#parseChain(chain);
    if (!views.ok) return views;
    const path = await this.#buildPath(views.value);
    if (!path.ok) return path;
    const checks =
      checkValidity(path.value, at) ??
      checkCaConstraints(path.value) ??
      checkLeafUsage(path.value[0]!.view) ??
      checkRole(path.value, role);
    if (checks) return checks;
    const identity = leafIdentity(path.value[0]!.view, role);
    if (!identity.ok) return identity;
    const leafKey = await importLeafKey(path.value[0]!.view);
    if (!leafKey.ok) return leafKey;
    const revocation = await checkRevocation(path.value, crls, this.revocation, at);
    if (!revocation.ok) return revocation;
    const [, ...issuers] = path.value;
    this.#rememberIssuers(issuers);
    const certs = Object.freeze(path.value.map((node) => node.view.cert));
    const notBefore = Math.max(...certs.map((cert) => cert.notBefore.getTime()));
    const notAfter = Math.min(...certs.map((cert) => cert.notAfter.getTime()));
    const validated: ValidatedChain = Object.freeze({
      leaf: certs[0]!,
      publicKey: leafKey.value.publicKey,
      alg: leafKey.value.alg,
      identity: identity.value,
      role,
      path: certs,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
    });
    return ok({ chain: validated, from: notBefore, until: Math.min(notAfter, revocation.value) });
  }

  /**
   * Follows the chain from the leaf, each certificate certified by the next, until a certificate
   * that is a trusted root, or whose issuer is one (§6.1: the path starts at a trust anchor).
   * Every link is a name/key-identifier match and a verified signature.
   */
  async #buildPath(chain: readonly Parsed[]): Promise<Result<CertificationPath>> {
    const path: [CertificationPath[0], ...IssuerNode[]] = [{ view: chain[0]!.view }];
    for (let index = 1; ; index++) {
      const current = path[path.length - 1]!.view;
      if (this.#anchors.has(current.x5c)) {
        if (index < chain.length) return fail("ERR_MALFORMED", `the chain goes on after the trusted root ${current.name}`);
        return ok(path);
      }
      if (current.selfIssued) {
        return fail("ERR_UNKNOWN_ISSUER", `${current.name} is self-signed but is not a trusted root`, {
          subject: current.cert.subject,
        });
      }
      const next = chain[index];
      const link = next ? await this.#linkTo(current, next) : await this.#linkToAnchor(current);
      if (!link.ok) return link;
      path.push(link.value);
      if (path.length > MAX_CHAIN_LENGTH)
        return fail("ERR_MALFORMED", `the certification path is longer than ${MAX_CHAIN_LENGTH} certificates`);
    }
  }

  /** The next certificate of the chain must be the current one's issuer (RFC 7515 §4.1.6). */
  async #linkTo(current: CertificateView, next: Parsed): Promise<Result<IssuerNode>> {
    if (!mayHaveIssued(next.view, current)) {
      return fail(
        "ERR_UNKNOWN_ISSUER",
        `${current.name} was issued by ${JSON.stringify(current.cert.issuer)}, not by ${next.view.name} which follows it in the chain`,
        {
          subject: current.cert.subject,
        },
      );
    }
    const issuer = this.#anchors.get(next.view.x5c) ?? next;
    const key = await keyOf(issuer);
    if (!key.ok) return key;
    const signature = await checkSignature(current.cert, `certificate ${current.name}`, issuer.view, key.value);
    return signature.ok ? ok({ view: issuer.view, key: key.value }) : signature;
  }

  /** At the end of the chain: the issuer must be a trusted root. */
  async #linkToAnchor(current: CertificateView): Promise<Result<IssuerNode>> {
    const candidates = [...this.#anchors.values()].filter((anchor) => mayHaveIssued(anchor.view, current));
    if (candidates.length === 0) {
      return fail(
        "ERR_UNKNOWN_ISSUER",
        `${current.name} was issued by ${JSON.stringify(current.cert.issuer)}, which is not a trusted root`,
        { subject: current.cert.subject },
      );
    }
    let failure: Result<never> | undefined;
    for (const anchor of candidates) {
      const key = await keyOf(anchor);
      if (!key.ok) {
        failure = key;
        continue;
      }
      const signature = await checkSignature(current.cert, `certificate ${current.name}`, anchor.view, key.value);
      if (signature.ok) return ok({ view: anchor.view, key: key.value });
      failure = signature;
    }
    return failure!;
  }

  #parseChain(chain: readonly string[]): Result<Parsed[]> {
    const parsed: Parsed[] = [];
    for (const [index, entry] of chain.entries()) {
      const item = this.#parse(entry, `certificate #${index + 1} of the chain`);
      if (!item.ok) return item;
      parsed.push(item.value);
    }
    return ok(parsed);
  }

  #parse(x5c: string, what: string): Result<Parsed> {
    const known = this.#anchors.get(x5c) ?? this.#parsed.get(x5c);
    if (known) return ok(known);
    const decoded = decodeX5c(x5c, what);
    if (!decoded.ok) return decoded;
    const view = inspect(decoded.value.cert, decoded.value.der);
    if (!view.ok) return view;
    const parsed: Parsed = { view: view.value };
    // Keyed by the canonical text only: decodeX5c accepts nothing else, so the key is the DER.
    this.#parsed.set(x5c, parsed);
    if (this.#parsed.size > PARSED_CACHE_SIZE) this.#parsed.delete(this.#parsed.keys().next().value!);
    return ok(parsed);
  }

  #addRoot(root: x509.X509Certificate): void {
    const der = new Uint8Array(root.rawData);
    const view = inspect(root, der);
    if (!view.ok) throw view.error;
    this.#anchors.set(view.value.x5c, { view: view.value });
  }
}

/**
 * Cheap checks done before the cache lookup: the hit path must not trust the input's shape either.
 * An entry that is not a string is refused where entries are decoded (pem.ts decodeX5c); it cannot
 * hit the cache, whose keys are the JSON texts of chains of strings that validated.
 */
function checkShape(chain: unknown): Result<void> {
  if (!Array.isArray(chain)) return fail("ERR_MALFORMED", "the certificate chain is not an array");
  if (chain.length === 0) return fail("ERR_MALFORMED", "the certificate chain is empty");
  if (chain.length > MAX_CHAIN_LENGTH)
    return fail("ERR_MALFORMED", `the certificate chain has ${chain.length} certificates, more than ${MAX_CHAIN_LENGTH}`);
  return ok(undefined);
}

/** SHA-256 of role and chain. JSON keeps the encoding injective (lone surrogates are escaped, element boundaries explicit). */
function cacheKey(chain: readonly string[], role: Role): string {
  // A frozen chain of strings (a decoded token's x5c, shared read-only by jws.ts) cannot change: its key is computed once per role.
  const frozen = Object.isFrozen(chain) && chain.every((entry) => typeof entry === "string");
  const known = frozen ? frozenChainKeys.get(chain)?.get(role) : undefined;
  if (known !== undefined) return known;
  const key = createHash("sha256")
    .update(JSON.stringify([role, ...chain]))
    .digest("base64");
  if (frozen) {
    const byRole = frozenChainKeys.get(chain) ?? new Map<Role, string>();
    byRole.set(role, key);
    frozenChainKeys.set(chain, byRole);
  }
  return key;
}

/** Cache keys of frozen chains, by role; an entry goes with its chain. */
const frozenChainKeys = new WeakMap<readonly string[], Map<Role, string>>();

/** The key of a certificate used as an issuer, imported once. */
function keyOf(parsed: Parsed): Promise<Result<IssuerKey>> {
  parsed.key ??= issuerKeyOf(parsed.view);
  return parsed.key;
}
