/**
 * The merchant SDK: what a publisher's program calls to be paid. It holds the publisher's signed
 * catalog (verified once), makes a fresh offer (message 1: catalog entry + nonce + date) for each
 * payment, hands it to the user's wallet, and unlocks only on an acknowledgment (message 3) that
 * verifies against exactly the offer it sent: a payment-server chain with the acknowledgment role,
 * the offer's hash, price, nonce and date. Each offer is consumed by its first valid
 * acknowledgment, so a replayed or second acknowledgment unlocks nothing; an acknowledgment that
 * does not verify leaves the offer open, so a forged one presented first cannot block the genuine one.
 *
 * When the wallet does not answer in time (or cannot be reached), the offer stays open too, and the
 * next pay() of the same catalog offer presents that same offer again rather than a new one: if
 * the user had paid meanwhile, the wallet hands back the acknowledgment of that payment (from its
 * history, or from the payment server by the offer's nonce) and nothing is charged twice.
 */
import { readFile } from "node:fs/promises";
import {
  createOffer,
  decodeJws,
  DEFAULT_OFFER_TTL_MS,
  isPartyId,
  isPlainObject,
  parseStrictJson,
  JwsTypes,
  systemClock,
  toDate,
  TrustStore,
  verifyAcknowledgment,
  verifyCatalog,
  DEFAULT_CLOCK_SKEW_MS,
  type Acknowledgment,
  type Catalog,
  type CatalogEntry,
  type Clock,
  type Grant,
  type Offer,
  type PartyId,
  type Price,
} from "@peage/protocol";
import { MerchantError } from "./errors.js";
import { systemMonotonic, systemScheduler, type MonotonicClock, type Scheduler } from "./monotonic.js";
import { MeteredPeriods } from "./metered.js";
import { PeriodicPayment, type PeriodicController, type PeriodicHandlers } from "./periodic.js";
import { HttpWalletTransport, type WalletTransport } from "./wallet-transport.js";

/** What a verified payment unlocks, with the proof. */
export interface Authorization {
  readonly offerId: string;
  readonly grant: Grant;
  readonly paymentId: string;
  /** The payment server's time of the payment: periods are counted from it, not from this machine's clock. */
  readonly serverTime: Date;
  /** For a period grant: serverTime + grant.seconds. */
  readonly validUntil?: Date;
  readonly price: Price;
  /** What the user was charged, in their home currency. */
  readonly charged: Price;
  readonly nonce: string;
  /** Message 3 as received: keep it as the proof of payment. */
  readonly acknowledgment: Acknowledgment;
}

/** What {@link Merchant.create} needs: the signed catalog, the roots it trusts, and where the wallet is. */
export interface MerchantOptions {
  /** The signed catalog (as parsed JSON), or the path of its JSON file. */
  readonly catalog: unknown;
  /** Trusted roots: PEM text, or the path of a PEM file. */
  readonly trustRoots: string;
  /** CRLs: PEM texts or paths. */
  readonly crls?: readonly string[];
  /** Where the wallet is: its endpoint file (default $PEAGE_WALLET_FILE or ~/.peage/wallet.json), or a transport of your own. */
  readonly wallet?: { readonly endpointFile?: string } | WalletTransport;
  /**
   * Accept acknowledgments only from this payment server (urn:peage:server:...). Needed only for
   * a catalog signed without the list of its payment servers (`servers` in each offer's terms),
   * which is otherwise refused: it would take acknowledgments from any certified payment server.
   */
  readonly server?: string;
  /** The wall clock offers are dated with (default the system's); tests pass a FixedClock. */
  readonly clock?: Clock;
  /** The clock periods are measured with (default performance.now()), immune to wall-clock changes. */
  readonly monotonic?: MonotonicClock;
  /** Timers of periodic payments and of how long pay() waits (default setTimeout). */
  readonly scheduler?: Scheduler;
  /** How long an offer stays open (default 10 minutes). */
  readonly offerTtlMs?: number;
  /** How long pay() waits for the wallet by default (default 3 minutes: the user may be reading). */
  readonly timeoutMs?: number;
  /**
   * The payment server's URL, where metered sessions are settled: with it, a period offer with a
   * tick price is paid by one session and a hash-chain word per period (metered.ts).
   */
  readonly settleAt?: string;
}

/** Per-payment options of {@link Merchant.pay}. */
export interface PayOptions {
  /** How long to wait for the wallet (and the user) this time; ERR_TIMEOUT after it. */
  readonly timeoutMs?: number;
  /** Aborts the wait (the offer stays open for the next pay of the same offer). */
  readonly signal?: AbortSignal;
}

interface OpenOffer {
  readonly offer: Offer;
  readonly entry: CatalogEntry;
  /** Sent to the wallet, whose answer did not come (a timeout, a lost connection): presented again by the next pay(). */
  unanswered: boolean;
}

/**
 * The SDK a publisher's program calls to be paid: it verifies the signed catalog once, makes a
 * fresh offer for each payment, has the user's wallet pay it, and resolves only with an
 * acknowledgment that verifies against exactly that offer. Every failure rejects with a
 * {@link MerchantError} (ERR_DECLINED, ERR_INSUFFICIENT_FUNDS, ERR_WALLET_UNAVAILABLE, ERR_TIMEOUT,
 * ERR_INVALID_ACKNOWLEDGMENT, ERR_UNKNOWN_OFFER, ERR_INVALID_CATALOG, ERR_PAYMENT_FAILED), and then
 * nothing may be unlocked.
 *
 * @example
 * ```ts
 * import { Merchant, MerchantError } from "@peage/merchant";
 *
 * const merchant = await Merchant.create({ catalog: "catalog.json", trustRoots: "root.pem" });
 * try {
 *   const paid = await merchant.pay("level-2");
 *   unlockLevel2(paid.paymentId);
 * } catch (error) {
 *   if (error instanceof MerchantError && error.retryable) scheduleRetry();
 *   else throw error;
 * }
 * ```
 */
export class Merchant {
  readonly catalog: Catalog;
  readonly publisher: PartyId;
  readonly #entries: ReadonlyMap<string, CatalogEntry>;
  readonly #trust: TrustStore;
  readonly #transport: WalletTransport;
  readonly #settleAt: string | undefined;
  readonly #server: PartyId<"server"> | undefined;
  readonly #clock: Clock;
  readonly #monotonic: MonotonicClock;
  readonly #scheduler: Scheduler;
  readonly #offerTtlMs: number;
  readonly #timeoutMs: number;
  /** Offers sent and not yet answered, by nonce. */
  readonly #open = new Map<string, OpenOffer>();

  private constructor(parts: {
    catalog: Catalog;
    entries: ReadonlyMap<string, CatalogEntry>;
    trust: TrustStore;
    transport: WalletTransport;
    server: PartyId<"server"> | undefined;
    options: MerchantOptions;
  }) {
    this.catalog = parts.catalog;
    this.publisher = parts.catalog.publisher;
    this.#entries = parts.entries;
    this.#trust = parts.trust;
    this.#transport = parts.transport;
    this.#settleAt = parts.options.settleAt;
    this.#server = parts.server;
    this.#clock = parts.options.clock ?? systemClock;
    this.#monotonic = parts.options.monotonic ?? systemMonotonic;
    this.#scheduler = parts.options.scheduler ?? systemScheduler;
    this.#offerTtlMs = parts.options.offerTtlMs ?? DEFAULT_OFFER_TTL_MS;
    this.#timeoutMs = parts.options.timeoutMs ?? 180_000;
  }

  /** Loads and verifies the catalog against the trusted roots, once; rejects with ERR_INVALID_CATALOG. */
  static async create(options: MerchantOptions): Promise<Merchant> {
    const invalid = (message: string, extra: { verificationCode?: MerchantError["verificationCode"]; cause?: unknown } = {}) =>
      new MerchantError("ERR_INVALID_CATALOG", message, {
        retryable: false,
        ...(extra.verificationCode ? { verificationCode: extra.verificationCode } : {}),
        ...(extra.cause ? { cause: extra.cause } : {}),
      });
    if (options.server !== undefined && !isPartyId(options.server, "server"))
      throw invalid(`server must be urn:peage:server:<name>, got ${JSON.stringify(options.server)}`);
    const catalogValue =
      typeof options.catalog === "string" ? await readJson(options.catalog, "catalog", invalid) : options.catalog;
    const roots = await pemOrPath(options.trustRoots, "trusted roots", invalid);
    const crls = await Promise.all((options.crls ?? []).map((crl) => pemOrPath(crl, "CRL", invalid)));
    let trust: TrustStore;
    try {
      trust = TrustStore.fromPem(roots, crls);
    } catch (cause) {
      throw invalid(`the trusted roots or CRLs are not valid PEM: ${(cause as Error).message}`, { cause });
    }
    const clock = options.clock ?? systemClock;
    const verified = await verifyCatalog(catalogValue, trust, clock.now());
    if (!verified.ok) {
      throw invalid(
        `the catalog does not verify (${verified.error.code}): ${verified.error.message}; sign it again with a valid publisher certificate`,
        {
          verificationCode: verified.error.code,
        },
      );
    }
    const unbound = serverProblem(verified.value.catalog.offers, options.server);
    if (unbound) throw invalid(unbound);
    const wallet = options.wallet;
    const transport =
      wallet && "submit" in wallet
        ? wallet
        : new HttpWalletTransport(wallet?.endpointFile ? { endpointFile: wallet.endpointFile } : {});
    return new Merchant({
      catalog: verified.value.catalog,
      entries: verified.value.byOfferId,
      trust,
      transport,
      server: options.server as PartyId<"server"> | undefined,
      options,
    });
  }

  /** The catalog's offers, as the program may present them. */
  offers(): ReadonlyArray<{ offerId: string; description: string; price: Price; grant: Grant }> {
    return [...this.#entries.values()].map(({ terms }) => ({
      offerId: terms.offerId,
      description: terms.description,
      price: terms.price,
      grant: terms.grant,
    }));
  }

  /** Gets one offer paid through the wallet and returns what it unlocks; rejects with a MerchantError. */
  async pay(offerId: string, options: PayOptions = {}): Promise<Authorization> {
    const offer = this.#unansweredOffer(offerId) ?? this.openOffer(offerId);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const { signal, release } = withTimeout(options.signal, timeoutMs, this.#scheduler);
    let answer: unknown;
    try {
      answer = await this.#transport.submit(offer, { signal });
    } catch (error) {
      release();
      const failure =
        error instanceof MerchantError
          ? error
          : signal.aborted
            ? new MerchantError("ERR_TIMEOUT", "no answer from the wallet in the time allowed: offer to try again", {
                retryable: true,
                cause: error,
              })
            : new MerchantError("ERR_WALLET_UNAVAILABLE", `the wallet could not be asked: ${(error as Error).message}`, {
                retryable: true,
                cause: error,
              });
      // The user may have paid although the answer did not come: the same offer is asked again.
      const open = this.#open.get(offer.nonce);
      if (failure.retryable && open) open.unanswered = true;
      else this.#open.delete(offer.nonce);
      throw failure;
    }
    release();
    return this.#settle(answer, offer);
  }

  /** An open offer for `offerId` whose answer never came, taken for presenting again; undefined if none. */
  #unansweredOffer(offerId: string): Offer | undefined {
    this.#pruneExpired();
    for (const open of this.#open.values()) {
      if (
        open.unanswered &&
        open.offer.terms.offerId === offerId &&
        toDate(open.offer.expiresAt).getTime() > this.#clock.now().getTime()
      ) {
        open.unanswered = false;
        return open.offer;
      }
    }
    return undefined;
  }

  /**
   * Makes and opens a fresh offer (message 1) for programs that carry it to the wallet themselves;
   * hand the answer to {@link acceptAcknowledgment}.
   */
  openOffer(offerId: string): Offer {
    const entry = this.#entries.get(offerId);
    if (!entry) {
      throw new MerchantError(
        "ERR_UNKNOWN_OFFER",
        `the catalog of ${this.publisher} has no offer "${offerId}": use one of ${[...this.#entries.keys()].join(", ")}`,
        {
          retryable: false,
        },
      );
    }
    this.#pruneExpired();
    const offer = createOffer(entry, this.#clock, this.#offerTtlMs);
    this.#open.set(offer.nonce, { offer, entry, unanswered: false });
    return offer;
  }

  /**
   * Verifies an acknowledgment against the open offer its nonce names, and closes that offer once
   * one verifies; one that does not verify is refused and leaves the offer open for the genuine one.
   */
  async acceptAcknowledgment(answer: unknown): Promise<Authorization> {
    const nonce = nonceOf(answer);
    const open = nonce === undefined ? undefined : this.#open.get(nonce);
    if (!open) throw notOpen();
    return this.#settle(answer, open.offer);
  }

  /** Pays the catalog's launch offer (`offerId`, or the only launch offer). */
  atLaunch(offerId?: string, options: PayOptions = {}): Promise<Authorization> {
    const id = offerId ?? this.#onlyOfferOf("launch");
    this.#expectGrant(id, "launch");
    return this.pay(id, options);
  }

  /** Pays the catalog offer whose grant is {kind: "event", event: name}. */
  onEvent(name: string, options: PayOptions = {}): Promise<Authorization> {
    const entry = [...this.#entries.values()].find(({ terms }) => terms.grant.kind === "event" && terms.grant.event === name);
    if (!entry)
      throw new MerchantError(
        "ERR_UNKNOWN_OFFER",
        `the catalog has no offer for the event "${name}": add one and sign the catalog again`,
        { retryable: false },
      );
    return this.pay(entry.terms.offerId, options);
  }

  /**
   * Pays a period offer now and again each time the paid period ends (measured on the monotonic
   * clock from the acknowledgment's arrival); when a payment fails, calls onPause until resume() pays.
   */
  periodic(offerId: string, handlers: PeriodicHandlers): PeriodicController {
    const grant = this.#expectGrant(offerId, "period");
    if (grant.kind !== "period") throw new Error("unreachable");
    const metered = this.#metered(offerId);
    return new PeriodicPayment({
      pay: metered ? (options) => metered.pay(options) : (options) => this.pay(offerId, options),
      ...(metered ? { onStop: () => metered.settle() } : {}),
      seconds: grant.seconds,
      monotonic: this.#monotonic,
      scheduler: this.#scheduler,
      handlers,
    });
  }

  /** The metered payer of a period offer that allows sessions, when the wallet and the options allow them too. */
  #metered(offerId: string): MeteredPeriods | undefined {
    const entry = this.#entries.get(offerId)!;
    const { openSession, tick } = this.#transport;
    const settleAt = this.#settleAt;
    if (entry.terms.tick === undefined || settleAt === undefined || !openSession || !tick) return undefined;
    return new MeteredPeriods({
      entry,
      transport: { openSession: openSession.bind(this.#transport), tick: tick.bind(this.#transport) },
      offer: (nonce) => ({ ...createOffer(entry, this.#clock, this.#offerTtlMs), nonce }),
      accept: (answer, offer) => {
        this.#open.set(offer.nonce, { offer, entry, unanswered: false });
        return this.#settle(answer, offer);
      },
      settleAt,
      timeoutMs: this.#timeoutMs,
    });
  }

  /** How many offers await an answer (for diagnostics). */
  get openOfferCount(): number {
    return this.#open.size;
  }

  async #settle(answer: unknown, offer: Offer): Promise<Authorization> {
    if (!this.#open.has(offer.nonce)) throw notOpen();
    const verified = await verifyAcknowledgment(answer, offer, {
      trust: this.#trust,
      clock: this.#clock,
      ...(this.#server ? { server: this.#server } : {}),
    });
    if (!verified.ok) {
      // The offer stays open: anyone may present a forged acknowledgment naming its nonce, and
      // closing the offer on it would turn away the genuine one (the user paid and got nothing).
      const { code, message } = verified.error;
      throw new MerchantError(
        "ERR_INVALID_ACKNOWLEDGMENT",
        `the acknowledgment does not prove payment of this offer (${code}: ${message}); nothing may be unlocked`,
        {
          retryable: false,
          verificationCode: code,
          reason: code,
        },
      );
    }
    // Consumed by the first valid acknowledgment: a concurrent or later one for it finds it closed.
    if (!this.#open.delete(offer.nonce)) throw notOpen();
    const { claims, serverTime } = verified.value;
    const grant = offer.terms.grant;
    return {
      offerId: offer.terms.offerId,
      grant,
      paymentId: claims.paymentId,
      serverTime,
      ...(grant.kind === "period" ? { validUntil: new Date(serverTime.getTime() + grant.seconds * 1000) } : {}),
      price: claims.price,
      charged: claims.charged,
      nonce: claims.nonce,
      acknowledgment: answer as Acknowledgment,
    };
  }

  #pruneExpired(): void {
    const now = this.#clock.now().getTime();
    for (const [nonce, { offer }] of this.#open) {
      if (toDate(offer.expiresAt).getTime() + DEFAULT_CLOCK_SKEW_MS < now) this.#open.delete(nonce);
    }
  }

  #onlyOfferOf(kind: Grant["kind"]): string {
    const ids = [...this.#entries.values()].filter(({ terms }) => terms.grant.kind === kind).map(({ terms }) => terms.offerId);
    if (ids.length !== 1) {
      throw new MerchantError("ERR_UNKNOWN_OFFER", `the catalog has ${ids.length} ${kind} offers: name the one to use`, {
        retryable: false,
      });
    }
    return ids[0]!;
  }

  #expectGrant(offerId: string, kind: Grant["kind"]): Grant {
    const entry = this.#entries.get(offerId);
    if (!entry)
      throw new MerchantError("ERR_UNKNOWN_OFFER", `the catalog of ${this.publisher} has no offer "${offerId}"`, {
        retryable: false,
      });
    if (entry.terms.grant.kind !== kind) {
      throw new MerchantError(
        "ERR_UNKNOWN_OFFER",
        `offer "${offerId}" grants ${entry.terms.grant.kind}, not ${kind}: use the trigger that matches its grant`,
        { retryable: false },
      );
    }
    return entry.terms.grant;
  }
}

/**
 * Why the catalog and the `server` option leave acknowledgments unbound (any certified payment
 * server's would do) or unacceptable (the option names a server an offer does not accept).
 */
function serverProblem(entries: readonly CatalogEntry[], server: string | undefined): string | undefined {
  const unnamed = entries.filter(({ terms }) => terms.servers === undefined).map(({ terms }) => terms.offerId);
  if (server === undefined && unnamed.length > 0) {
    return (
      `the catalog's offers ${unnamed.join(", ")} name no payment server, so an acknowledgment from any certified payment server would unlock them: ` +
      "sign the catalog again naming its servers (peage catalog sign --server urn:peage:server:NAME), or pass the server option"
    );
  }
  const excluded = entries.filter(
    ({ terms }) => server !== undefined && terms.servers !== undefined && !terms.servers.includes(server as PartyId<"server">),
  );
  if (excluded.length > 0) {
    return `the server option ${server} is not among the payment servers the catalog's offer ${excluded[0]!.terms.offerId} accepts (${excluded[0]!.terms.servers!.join(", ")}): drop the option or sign the catalog again`;
  }
  return undefined;
}

/** The nonce an acknowledgment claims, read without trusting it (only to find the offer to check it against). */
function nonceOf(answer: unknown): string | undefined {
  if (!isPlainObject(answer)) return undefined;
  const decoded = decodeJws(answer["acknowledgment"], JwsTypes.acknowledgment);
  if (!decoded.ok || !isPlainObject(decoded.value.payload)) return undefined;
  const nonce = decoded.value.payload["nonce"];
  return typeof nonce === "string" ? nonce : undefined;
}

/**
 * The caller's signal, also aborted after `timeoutMs` on the merchant's timers (injectable, so a
 * test decides when the time is up). release() stops the timer and detaches from the caller's
 * signal, which may live long.
 */
function withTimeout(
  outer: AbortSignal | undefined,
  timeoutMs: number,
  scheduler: Scheduler,
): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const timer = scheduler.setTimeout(abort, timeoutMs);
  if (outer?.aborted) abort();
  outer?.addEventListener("abort", abort, { once: true });
  return {
    signal: controller.signal,
    release: () => {
      scheduler.clearTimeout(timer);
      outer?.removeEventListener("abort", abort);
    },
  };
}

function notOpen(): MerchantError {
  return new MerchantError(
    "ERR_INVALID_ACKNOWLEDGMENT",
    "the acknowledgment answers no open offer of this program (ERR_NONCE_MISMATCH): it is replayed, already used, or meant for another program; nothing may be unlocked",
    { retryable: false, verificationCode: "ERR_NONCE_MISMATCH", reason: "ERR_NONCE_MISMATCH" },
  );
}

async function readJson(
  path: string,
  what: string,
  invalid: (message: string, extra?: { cause?: unknown }) => MerchantError,
): Promise<unknown> {
  try {
    return parseStrictJson(await readFile(path, "utf8"));
  } catch (cause) {
    throw invalid(`cannot read the ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
}

async function pemOrPath(
  value: string,
  what: string,
  invalid: (message: string, extra?: { cause?: unknown }) => MerchantError,
): Promise<string> {
  if (value.includes("-----BEGIN")) return value;
  try {
    return await readFile(value, "utf8");
  } catch (cause) {
    throw invalid(`cannot read the ${what} ${value}: ${(cause as Error).message}`, { cause });
  }
}
