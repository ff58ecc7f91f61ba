/**
 * The resource server's side of a paid HTTP route: makes the offer for a request (a challenge),
 * and redeems a credential — the challenge carried back with the wallet's acknowledgment — by
 * checking that the challenge is the server's own, that it was made for this very request, and
 * that the acknowledgment verifies against its offer (docs/protocol.md §7.6, as the merchant SDK
 * does). Each acknowledgment serves one response: it is held while the response is produced,
 * spent when the response completes, and released when the response fails, so a client whose
 * response was lost after paying retries with the same credential and is served.
 */
import { createHmac, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  createOffer,
  isPartyId,
  isChainWord,
  sessionNonce,
  settlementCommitment,
  uptoNonce,
  systemClock,
  TrustStore,
  verifyAcknowledgment,
  verifyCatalog,
  type AcknowledgmentClaims,
  type CatalogEntry,
  type Clock,
  type PartyId,
  type MinorUnits,
  type OfferTerms,
  type Price,
} from "@peage/protocol";
import { boundNonce, newSalt, type RequestFacts } from "./binding.js";
import { makeChallenge, openChallenge, type Challenge } from "./challenge.js";
import { settleAtServer, type UsageSettlement } from "@peage/merchant";
import { chainProof, SessionBook, type OpenSession, type TickProof } from "./sessions.js";

export interface GateOptions {
  /** The publisher's signed catalog, as parsed JSON or the path of its file. */
  readonly catalog: unknown;
  /** Trusted roots: PEM text or the path of a PEM file. */
  readonly trustRoots: string;
  /** The payment servers whose acknowledgments are accepted (urn:peage:server:…); required, so a payment is only ever proven by a server the publisher chose. */
  readonly servers: readonly string[];
  /** Key of the challenges' seal; default: 32 random bytes, so challenges of a previous run are refused. */
  readonly secret?: Uint8Array;
  readonly clock?: Clock;
  /** How long a challenge's offer stays open (default 5 minutes). */
  readonly offerTtlMs?: number;
  /** The payment server's URL, where upto payments are settled for the amount used (required for upto offers). */
  readonly settleAt?: string;
  /** The fetch settlements are sent with (default: the global fetch). */
  readonly fetch?: typeof fetch;
}

/** What a paid response carries: who paid what, and the acknowledgment that proves it. */
export interface Receipt {
  readonly paymentId: string;
  readonly publisher: string;
  readonly user: string;
  readonly server: string;
  readonly price: Price;
  readonly charged: Price;
  readonly serverTime: string;
  readonly offerId: string;
  /** Message 3 as received. */
  readonly acknowledgment: unknown;
}

/** Why a credential does not pay for the request it came with (answered 402 again, with a fresh challenge). */
export type RefusalCode =
  | "ERR_MALFORMED_CREDENTIAL"
  | "ERR_NOT_OUR_CHALLENGE"
  | "ERR_OTHER_REQUEST"
  | "ERR_INVALID_ACKNOWLEDGMENT"
  | "ERR_ALREADY_SERVED"
  | "ERR_UNKNOWN_SESSION"
  | "ERR_NOT_ON_CHAIN";

/** The outcome of {@link PaymentGate.redeem}: a receipt to serve the response with, or why not. */
export type Redemption =
  | {
      readonly ok: true;
      readonly receipt: Receipt;
      /**
       * An upto offer: settles the payment for the amount used (minor units of the price's
       * currency), never above the maximum the user consented to; once. Undefined for a fixed price.
       */
      readonly settle?: (used: number) => Promise<UsageSettlement>;
      /** A metered session this request opened or paid a tick of. */
      readonly session?: OpenSession;
      /** The response completed: the acknowledgment is spent. */ spend(): void;
      /** The response failed: it may be presented again. */ release(): void;
    }
  | { readonly ok: false; readonly code: RefusalCode; readonly detail: string };

/** The credential a client sends back: the challenge it answered and message 3. */
export interface Credential {
  readonly challenge: unknown;
  readonly acknowledgment: unknown;
  /** A metered session's opening: the chain's root and length and the word of tick 1 (sessions.ts). */
  readonly session?: unknown;
}

function receiptOf(claims: AcknowledgmentClaims, offerId: string, acknowledgment: unknown): Receipt {
  return {
    paymentId: claims.paymentId,
    publisher: claims.publisher,
    user: claims.user,
    server: claims.server as PartyId,
    price: claims.price,
    charged: claims.charged,
    serverTime: claims.serverTime,
    offerId,
    acknowledgment,
  };
}

/**
 * The resource server's side of Péage over HTTP: it issues challenges (a fresh offer of the
 * publisher's signed catalog, sealed by this server and bound to the request) and redeems the
 * credentials clients send back, each acknowledgment once. `create` throws a TypeError naming what
 * to fix when the catalog, the roots or the payment servers are wrong; a credential that does not
 * pay is a {@link Redemption} with a {@link RefusalCode}, never an exception.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { PaymentGate, paidRoute } from "@peage/http";
 *
 * const gate = await PaymentGate.create({
 *   catalog: "catalog.json",
 *   trustRoots: "root.pem",
 *   servers: ["urn:peage:server:pay-eu"],
 * });
 * createServer(paidRoute(gate, { offerId: "forecast" }, (req, res) => res.end("sunny"))).listen(8080);
 * ```
 */
export class PaymentGate {
  readonly #entries: ReadonlyMap<string, CatalogEntry>;
  readonly #trust: TrustStore;
  readonly #servers: ReadonlySet<string>;
  readonly #secret: Uint8Array;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #settleAt: string | undefined;
  readonly #sessions = new SessionBook();
  readonly #fetch: typeof fetch;
  /** Acknowledgments by nonce: "held" while a response is produced, "spent" after; forgotten after the offer expires. */
  readonly #nonces = new Map<string, { state: "held" | "spent"; forgetAt: number }>();

  private constructor(entries: ReadonlyMap<string, CatalogEntry>, trust: TrustStore, options: GateOptions) {
    this.#entries = entries;
    this.#trust = trust;
    this.#servers = new Set(options.servers);
    this.#secret = options.secret ?? randomBytes(32);
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = options.offerTtlMs ?? 5 * 60_000;
    this.#settleAt = options.settleAt;
    this.#fetch = options.fetch ?? fetch;
  }

  /** Verifies the catalog against the roots once; throws with what to fix. */
  static async create(options: GateOptions): Promise<PaymentGate> {
    if (options.servers.length === 0 || !options.servers.every((server) => isPartyId(server, "server"))) {
      throw new TypeError(
        "servers must name at least one payment server (urn:peage:server:<name>) whose acknowledgments prove payment",
      );
    }
    const catalog = typeof options.catalog === "string" ? JSON.parse(await readFile(options.catalog, "utf8")) : options.catalog;
    const roots = options.trustRoots.includes("-----BEGIN") ? options.trustRoots : await readFile(options.trustRoots, "utf8");
    const trust = TrustStore.fromPem(roots, []);
    const verified = await verifyCatalog(catalog, trust, (options.clock ?? systemClock).now());
    if (!verified.ok) throw new TypeError(`the catalog does not verify (${verified.error.code}): ${verified.error.message}`);
    return new PaymentGate(verified.value.byOfferId, trust, options);
  }

  /** A new challenge for `offerId`, bound to this request. */
  challenge(offerId: string, request: RequestFacts): Challenge {
    const entry = this.#entries.get(offerId);
    if (!entry) throw new RangeError(`the catalog has no offer "${offerId}": use one of ${[...this.#entries.keys()].join(", ")}`);
    if (entry.terms.upto && this.#settleAt === undefined)
      throw new TypeError(`the offer "${offerId}" is charged by use: give the gate settleAt, the payment server's URL`);
    const salt = newSalt();
    const { nonce, commitment } = this.#nonceFor(entry.terms, salt, request);
    const offer = { ...createOffer(entry, this.#clock, this.#ttlMs), nonce };
    return makeChallenge(this.#secret, offer, salt, commitment);
  }

  /** The settlement key of an upto challenge: derived from the salt, so the gate keeps no table of keys. */
  #settlementKey(salt: string): string {
    return createHmac("sha256", this.#secret).update("peage-settlement-key\0").update(salt).digest("base64url");
  }

  /** The nonce bound to the request; for an upto offer, also committing to the settlement key (docs/http.md §2). */
  #nonceFor(terms: OfferTerms, salt: string, request: RequestFacts): { nonce: string; commitment?: string; key?: string } {
    const bound = boundNonce(salt, request);
    if (!terms.upto) return { nonce: bound };
    const key = this.#settlementKey(salt);
    const commitment = settlementCommitment(key);
    return { nonce: uptoNonce(commitment, bound), commitment, key };
  }

  /** Checks a credential presented with `request` for `offerId`. */
  async redeem(offerId: string, request: RequestFacts, credential: Credential): Promise<Redemption> {
    const opened = openChallenge(this.#secret, credential.challenge);
    if (!opened.ok) return { ok: false, code: "ERR_NOT_OUR_CHALLENGE", detail: opened.error };
    const { offer, salt } = opened.value;
    if (offer.terms.offerId !== offerId)
      return {
        ok: false,
        code: "ERR_OTHER_REQUEST",
        detail: `the challenge is for the offer ${offer.terms.offerId}, this route asks for ${offerId}`,
      };
    const expected = this.#nonceFor(offer.terms, salt, request);
    if (expected.nonce !== offer.nonce) {
      return {
        ok: false,
        code: "ERR_OTHER_REQUEST",
        detail: "the acknowledgment pays for another request (method, target or body differ): ask again without a credential",
      };
    }
    const chain = offer.terms.tick === undefined ? undefined : chainProof(credential.session);
    if (offer.terms.tick !== undefined && !this.#chainFits(offer.terms, chain))
      return {
        ok: false,
        code: "ERR_NOT_ON_CHAIN",
        detail: "a session's credential carries the chain's root, length and the word of tick 1",
      };
    const paid = chain ? { ...offer, nonce: sessionNonce(offer.nonce, chain.root, chain.length) } : offer;
    const verified = await verifyAcknowledgment(credential.acknowledgment, paid, { trust: this.#trust, clock: this.#clock });
    if (!verified.ok)
      return { ok: false, code: "ERR_INVALID_ACKNOWLEDGMENT", detail: `${verified.error.code}: ${verified.error.message}` };
    const accountable = verified.value.card?.issuer ?? verified.value.claims.server;
    if (!this.#servers.has(accountable)) {
      return {
        ok: false,
        code: "ERR_INVALID_ACKNOWLEDGMENT",
        detail: `ERR_WRONG_AUDIENCE: acknowledged by ${accountable}, not by ${[...this.#servers].join(" or ")}`,
      };
    }
    this.#forgetExpired();
    const nonce = paid.nonce;
    if (this.#nonces.has(nonce))
      return {
        ok: false,
        code: "ERR_ALREADY_SERVED",
        detail: "this acknowledgment has already served a response: pay again for another",
      };
    this.#nonces.set(nonce, { state: "held", forgetAt: Date.parse(offer.expiresAt) + 10 * 60_000 });
    const { claims } = verified.value;
    const receipt = receiptOf(claims, offerId, credential.acknowledgment);
    const settleAt = this.#settleAt;
    const settle =
      expected.key === undefined || settleAt === undefined
        ? undefined
        : this.#settleOnce(settleAt, offer.terms, expected.key, boundNonce(salt, request), claims.paymentId);
    let session: OpenSession | undefined;
    if (chain && expected.key !== undefined) {
      const opening = { id: nonce, offerId, root: chain.root, length: chain.length, terms: offer.terms, receipt };
      this.#sessions.open({
        ...opening,
        key: expected.key,
        inner: boundNonce(salt, request),
        ticks: chain.ticks,
        word: chain.word,
      });
      session = this.#sessions.get(nonce);
    }
    return {
      ok: true,
      receipt,
      ...(settle && !chain ? { settle } : {}),
      ...(session ? { session } : {}),
      spend: () => void this.#nonces.set(nonce, { state: "spent", forgetAt: this.#nonces.get(nonce)?.forgetAt ?? 0 }),
      release: () => {
        if (this.#nonces.get(nonce)?.state === "held") this.#nonces.delete(nonce);
      },
    };
  }

  /** Whether a session's opening chain is as long as the cap holds ticks, and its word is tick 1 … length of it. */
  #chainFits(terms: OfferTerms, chain: ReturnType<typeof chainProof>): chain is NonNullable<typeof chain> {
    if (!chain || terms.tick === undefined) return false;
    if (chain.length !== Math.floor(terms.price.amount / terms.tick.amount) || chain.ticks > chain.length) return false;
    return isChainWord(chain.word, chain.root, chain.ticks);
  }

  /** A later tick of a session this gate opened on route `offerId`: checked offline, one SHA-256 per tick. */
  tick(offerId: string, proof: TickProof): Redemption {
    const outcome = this.#sessions.tick(offerId, proof);
    if (!outcome.ok) return outcome;
    const noop = () => undefined;
    return { ok: true, receipt: outcome.session.receipt, session: outcome.session, spend: noop, release: noop };
  }

  /** The sessions opened here and not yet settled. */
  openSessions(): readonly OpenSession[] {
    return this.#sessions.all().filter((session) => session.settled === undefined);
  }

  /** Settles session `id` at the payment server for its highest tick, once (later calls get the same answer). */
  settleSession(id: string): Promise<UsageSettlement> {
    const settleAt = this.#settleAt;
    if (settleAt === undefined) return Promise.reject(new TypeError("give the gate settleAt, the payment server's URL"));
    return this.#sessions.settle(id, (session) =>
      settleAtServer(this.#fetch, settleAt, session.receipt.paymentId, {
        terms: session.terms,
        key: session.key,
        inner: session.inner,
        chain: { root: session.root, length: session.length, ticks: session.ticks, word: session.word },
      }),
    );
  }

  /** The settle function of one paid request: the first call settles, later calls get its answer. */
  #settleOnce(settleAt: string, terms: OfferTerms, key: string, inner: string, paymentId: string) {
    let settled: Promise<UsageSettlement> | undefined;
    return (used: number): Promise<UsageSettlement> => {
      settled ??= settleAtServer(this.#fetch, settleAt, paymentId, {
        terms,
        key,
        inner,
        used: { amount: used as MinorUnits, currency: terms.price.currency },
      });
      return settled;
    };
  }

  #forgetExpired(): void {
    const now = this.#clock.now().getTime();
    for (const [nonce, entry] of this.#nonces) if (entry.forgetAt < now) this.#nonces.delete(nonce);
  }
}
