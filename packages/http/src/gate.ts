/**
 * The resource server's side of a paid HTTP route: makes the offer for a request (a challenge),
 * and redeems a credential — the challenge carried back with the wallet's acknowledgment — by
 * checking that the challenge is the server's own, that it was made for this very request, and
 * that the acknowledgment verifies against its offer (docs/protocol.md §7.6, as the merchant SDK
 * does). Each acknowledgment serves one response: it is held while the response is produced,
 * spent when the response completes, and released when the response fails, so a client whose
 * response was lost after paying retries with the same credential and is served.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  createOffer,
  isPartyId,
  systemClock,
  TrustStore,
  verifyAcknowledgment,
  verifyCatalog,
  type CatalogEntry,
  type Clock,
  type PartyId,
  type Price,
} from "@peage/protocol";
import { boundNonce, newSalt, type RequestFacts } from "./binding.js";
import { makeChallenge, openChallenge, type Challenge } from "./challenge.js";

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
  | "ERR_ALREADY_SERVED";

/** The outcome of {@link PaymentGate.redeem}: a receipt to serve the response with, or why not. */
export type Redemption =
  | {
      readonly ok: true;
      readonly receipt: Receipt;
      /** The response completed: the acknowledgment is spent. */ spend(): void;
      /** The response failed: it may be presented again. */ release(): void;
    }
  | { readonly ok: false; readonly code: RefusalCode; readonly detail: string };

/** The credential a client sends back: the challenge it answered and message 3. */
export interface Credential {
  readonly challenge: unknown;
  readonly acknowledgment: unknown;
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
  /** Acknowledgments by nonce: "held" while a response is produced, "spent" after; forgotten after the offer expires. */
  readonly #nonces = new Map<string, { state: "held" | "spent"; forgetAt: number }>();

  private constructor(entries: ReadonlyMap<string, CatalogEntry>, trust: TrustStore, options: GateOptions) {
    this.#entries = entries;
    this.#trust = trust;
    this.#servers = new Set(options.servers);
    this.#secret = options.secret ?? randomBytes(32);
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = options.offerTtlMs ?? 5 * 60_000;
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
    const salt = newSalt();
    const offer = { ...createOffer(entry, this.#clock, this.#ttlMs), nonce: boundNonce(salt, request) };
    return makeChallenge(this.#secret, offer, salt);
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
    if (boundNonce(salt, request) !== offer.nonce) {
      return {
        ok: false,
        code: "ERR_OTHER_REQUEST",
        detail: "the acknowledgment pays for another request (method, target or body differ): ask again without a credential",
      };
    }
    const verified = await verifyAcknowledgment(credential.acknowledgment, offer, { trust: this.#trust, clock: this.#clock });
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
    const nonce = offer.nonce;
    if (this.#nonces.has(nonce))
      return {
        ok: false,
        code: "ERR_ALREADY_SERVED",
        detail: "this acknowledgment has already served a response: pay again for another",
      };
    this.#nonces.set(nonce, { state: "held", forgetAt: Date.parse(offer.expiresAt) + 10 * 60_000 });
    const { claims } = verified.value;
    const receipt: Receipt = {
      paymentId: claims.paymentId,
      publisher: claims.publisher,
      user: claims.user,
      server: claims.server as PartyId,
      price: claims.price,
      charged: claims.charged,
      serverTime: claims.serverTime,
      offerId,
      acknowledgment: credential.acknowledgment,
    };
    return {
      ok: true,
      receipt,
      spend: () => void this.#nonces.set(nonce, { state: "spent", forgetAt: this.#nonces.get(nonce)?.forgetAt ?? 0 }),
      release: () => {
        if (this.#nonces.get(nonce)?.state === "held") this.#nonces.delete(nonce);
      },
    };
  }

  #forgetExpired(): void {
    const now = this.#clock.now().getTime();
    for (const [nonce, entry] of this.#nonces) if (entry.forgetAt < now) this.#nonces.delete(nonce);
  }
}
