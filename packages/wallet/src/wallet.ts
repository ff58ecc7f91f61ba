/**
 * The wallet's consent flow for one offer (message 1 in, message 3 out), in the order the patent's
 * claims require: the offer is verified before anything is shown, the user's rules or the user
 * decide, only then is the consent proof signed (message 2) and sent to the payment server, and
 * the server's acknowledgment is verified here too before it goes back to the program, so a broken
 * or dishonest server is noticed by the user's side and not only by the merchant.
 *
 * An offer presented again after it was paid (the program stopped waiting, an answer was lost) is
 * answered with the same acknowledgment, from the history or fetched from the server by the
 * offer's nonce, and never paid twice. The rules count every payment in the wallet's home
 * currency, whatever currency the account is charged in.
 */
import { readFile } from "node:fs/promises";
import {
  createMandate,
  createPaymentRequest,
  signUserRequest,
  formatPrice,
  systemClock,
  TrustStore,
  verifyAcknowledgment,
  verifyOffer,
  type Acknowledgment,
  type CardDebit,
  type Clock,
  type CurrencyCode,
  type KeyPair,
  type Mandate,
  type MandatePeriod,
  type Offer,
  type PartyId,
  type Price,
  type RateTable,
  type VerifiedAcknowledgment,
  type VerifiedOffer,
} from "@peage/protocol";
import { fromCardError } from "./card/errors.js";
import { cardRefusal, payByCard, readCardStatus } from "./card/pay.js";
import { openConfiguredStore } from "./card/pc-store.js";
import { PcscCardAccess, type CardAccess, type CardSessions } from "./card/reader.js";
import { configPath, readConfig, walletPaths, writeConfig, type WalletConfig } from "./config.js";
import type { ConsentPrompt, OfferFacts, OfferView } from "./consent-prompt.js";
import { offerView } from "./offer-view.js";
import { fromVerification, WalletError } from "./errors.js";
import { Sessions, type SessionInfo } from "./sessions.js";
import { History, type ConsentKind } from "./history.js";
import { loadKey } from "./key-store.js";
import type { MandateRequest, MandateView } from "./mandates/request.js";
import { describeAutoAccept } from "./rule-text.js";
import { decide, toHome, type Rules } from "./rules.js";
import { PaymentServerClient, type ServerClientOptions } from "./server-client.js";

export interface WalletParts {
  readonly config: WalletConfig;
  readonly key: KeyPair;
  readonly trust: TrustStore;
  readonly history: History;
  readonly prompt: ConsentPrompt;
  readonly clock?: Clock;
  readonly server?: ServerClientOptions;
  /** How long fetched exchange rates are reused (default 1 hour). */
  readonly ratesMaxAgeMs?: number;
  /** Where the user's card is found (config.card: a PC/SC reader); no card payments without it. */
  readonly card?: CardAccess;
  /** The data directory the config came from; rule changes are saved there. */
  readonly dir?: string;
}

export interface OpenWalletOptions {
  /** The data directory written by initWallet. */
  readonly dir: string;
  readonly passphrase: string;
  readonly prompt: ConsentPrompt;
  readonly clock?: Clock;
  readonly server?: ServerClientOptions;
  /** Replaces the PC/SC access config.card asks for (tests, an in-process card). */
  readonly card?: CardAccess;
  /** Leaves the config's card or PC store alone: for commands that only read the history and the server's records. */
  readonly withoutDevice?: boolean;
}

export interface PaymentResult {
  readonly acknowledgment: Acknowledgment;
  readonly verified: VerifiedAcknowledgment;
  readonly consent: Exclude<ConsentKind, "none">;
  /** Paid by the user's card: which one, and its proof of debit. */
  readonly card?: { readonly card: string; readonly debit: CardDebit };
  /** A metered session opened by this payment: its ticks are paid with `Wallet.tick` (sessions.ts). */
  readonly session?: SessionInfo;
}

/** Opens the wallet in `dir`: reads the config, unlocks the key, loads the trusted roots and the history. */
export async function createWallet(options: OpenWalletOptions): Promise<Wallet> {
  const config = await readConfig(options.dir);
  const { pair } = await loadKey(walletPaths(options.dir).key, options.passphrase);
  const trust = await loadTrustStore(options.dir, config);
  const card = options.card ?? (options.withoutDevice ? undefined : await configuredDevice(options.dir, config));
  let history: History;
  try {
    history = History.open(walletPaths(options.dir).history);
  } catch (error) {
    card?.close();
    throw error;
  }
  return new Wallet({
    dir: options.dir,
    config,
    key: pair,
    trust,
    history,
    prompt: options.prompt,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.server ? { server: options.server } : {}),
    ...(card ? { card } : {}),
  });
}

/** The device the config names: the card in a PC/SC reader, or the PC store (opened and locked now). */
async function configuredDevice(dir: string, config: WalletConfig): Promise<CardAccess | undefined> {
  if (config.pcStore) return openConfiguredStore(dir, config.pcStore);
  if (!config.card) return undefined;
  return new PcscCardAccess({
    ...(config.card.reader !== undefined && { reader: config.card.reader }),
    ...(config.card.waitMs !== undefined && { waitMs: config.card.waitMs }),
    ...(config.card.extendedLength !== undefined && { extendedLength: config.card.extendedLength }),
  });
}

/** The trust store of a wallet config: its roots bundle and CRLs. */
export async function loadTrustStore(dir: string, config: WalletConfig): Promise<TrustStore> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(configPath(dir, path), "utf8");
    } catch (cause) {
      throw new WalletError("ERR_WALLET_UNAVAILABLE", `cannot read the ${what} ${path}: ${(cause as Error).message}`, 503, false);
    }
  };
  const roots = await read(config.trustRootsPem, "trusted roots");
  const crls = await Promise.all((config.crls ?? []).map((path) => read(path, "CRL")));
  try {
    return TrustStore.fromPem(roots, crls);
  } catch (cause) {
    throw new WalletError(
      "ERR_MALFORMED",
      `the trusted roots or CRLs are not valid PEM: ${(cause as Error).message}`,
      500,
      false,
    );
  }
}

export class Wallet {
  #config: WalletConfig;
  /** The data directory, where rule changes are saved (createWallet sets it). */
  readonly #dir: string | undefined;
  /** Metered sessions, kept in the history's database so they survive a restart. */
  readonly sessions: Sessions;
  readonly history: History;
  readonly #key: KeyPair;
  readonly #trust: TrustStore;
  readonly #prompt: ConsentPrompt;
  readonly #clock: Clock;
  readonly #server: PaymentServerClient;
  readonly #ratesMaxAgeMs: number;
  readonly #card: CardAccess | undefined;
  #rates: { table: RateTable; fetchedAt: number } | undefined;
  /** The currency of the user's account at the server, once read (checkAccount). */
  #accountCurrency: CurrencyCode | undefined;
  /** Offers are handled one at a time, so the rules count every payment before deciding the next. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(parts: WalletParts) {
    this.#config = parts.config;
    this.#dir = parts.dir;
    this.history = parts.history;
    this.sessions = new Sessions(parts.history);
    this.#key = parts.key;
    this.#trust = parts.trust;
    this.#prompt = parts.prompt;
    this.#clock = parts.clock ?? systemClock;
    this.#server = new PaymentServerClient(parts.config.server.url, parts.server);
    this.#ratesMaxAgeMs = parts.ratesMaxAgeMs ?? 3_600_000;
    this.#card = parts.card;
  }

  /**
   * Handles one offer: verify, decide (rules, then the user), sign, pay, verify the answer.
   * Resolves with message 3, or rejects with a WalletError whose code says why nothing was paid.
   */
  pay(offer: unknown, signal?: AbortSignal): Promise<PaymentResult> {
    const run = this.#queue.then(() => this.#pay(offer, signal));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #pay(value: unknown, signal?: AbortSignal): Promise<PaymentResult> {
    // 1. Verify first: a forged, altered or stale offer is never shown to the user.
    const verified = await verifyOffer(value, { trust: this.#trust, clock: this.#clock, server: this.config.server.id });
    if (!verified.ok) {
      // docs/transport.md §1: a malformed request is 400, a message that verifies badly 422.
      const malformed = verified.error.code === "ERR_MALFORMED" || verified.error.code === "ERR_UNSUPPORTED_ALGORITHM";
      throw fromVerification(verified.error, "the offer does not verify and was not shown", malformed ? 400 : 422);
    }
    const { offer } = verified.value;
    const delivered =
      (offer.terms.tick === undefined ? undefined : await this.#sessionPaidBefore(offer)) ?? (await this.#paidBefore(offer));
    if (delivered) return delivered;
    if (signal?.aborted) throw gaveUp();
    // With a card in the reader, the card pays (offline, patent claims 3-10); it is asked first
    // whether it can, so that nobody is asked for a payment it would refuse.
    // A card pays one price, offline: a metered session is paid online only.
    const card = offer.terms.tick === undefined ? await this.#findCard(offer) : undefined;
    if (card) {
      const refusal = cardRefusal(card.status, offer);
      if (refusal) {
        this.history.record({ offer, decidedAt: this.#clock.now(), consent: "none", outcome: "failed", errorCode: refusal.code });
        throw refusal;
      }
    }

    // 2. Decide: the rules, then the user if the rules say so.
    const now = this.#clock.now();
    const home = this.config.homeCurrency;
    const rates = await this.#ratesFor(offer);
    const amount = toHome(offer.terms.price, home, rates);
    const totals = this.history.totals(offer.terms.publisher, home, now);
    const decision = decide({
      amount,
      offered: offer.terms.price,
      home,
      totals,
      rules: this.config.rules,
      ...(rates ? { rates } : {}),
    });
    let consent: Exclude<ConsentKind, "none"> = "auto";
    if (decision.kind === "refuse") {
      this.history.record({ offer, decidedAt: now, consent: "none", outcome: "refused", errorCode: "ERR_RULE_REFUSED" });
      throw new WalletError(
        "ERR_RULE_REFUSED",
        `your wallet's rules refused this payment: ${decision.reason}; change the rules to allow it`,
        403,
        false,
      );
    }
    if (decision.kind === "ask") {
      const yes = await this.#ask(this.#view(verified.value, rates, decision.reason, card ? "card" : "server"), signal);
      if (!yes) {
        this.history.record({ offer, decidedAt: now, consent: "none", outcome: "declined", errorCode: "ERR_DECLINED" });
        throw new WalletError(
          "ERR_DECLINED",
          "the user declined the payment: carry on without what it would have paid for",
          403,
          false,
        );
      }
      consent = "explicit";
    }
    if (signal?.aborted) {
      this.history.record({ offer, decidedAt: now, consent: "none", outcome: "declined", errorCode: "ERR_TIMEOUT" });
      throw gaveUp();
    }
    if (card) {
      const reason = decision.kind === "ask" ? decision.reason : "the card's PIN is the consent";
      return this.#payWithCard(card, offer, this.#view(verified.value, rates, reason, "card"), now, amount, signal);
    }

    // 3. Message 2, then message 3 from the server, verified against the offer we consented to.
    await this.#knowAccount(offer, now, consent);
    // A session offer is consented to with a nonce committing to a new hash chain (sessions.ts).
    const opened = offer.terms.tick === undefined ? undefined : this.sessions.open(offer, now, consent);
    const result = await this.#payOnline(opened?.offer ?? offer, now, consent, amount, rates).catch((error: unknown) => {
      // A refusal the server answered recorded nothing: the chain would pay nothing. Anything else
      // (no answer, a server error, an answer that did not verify) may have been recorded, and the
      // user charged the cap: the chain is kept for the offer presented again (#sessionPaidBefore).
      if (opened && isRefusal(error)) this.sessions.drop(opened.session.id);
      throw error;
    });
    return opened ? { ...result, session: opened.session } : result;
  }

  /** The word paying tick `ticks` of a session this wallet opened. */
  tick(session: string, ticks: number): { ticks: number; word: string } {
    return this.sessions.word(session, ticks);
  }

  async #payOnline(
    offer: Offer,
    now: Date,
    consent: Exclude<ConsentKind, "none">,
    amount: Price | undefined,
    rates: RateTable | undefined,
  ): Promise<PaymentResult> {
    const request = await createPaymentRequest({
      offer,
      user: this.config.user,
      server: this.config.server.id,
      userKey: this.#key,
      clock: this.#clock,
    });
    let answer: unknown;
    try {
      answer = await this.#server.pay(request);
    } catch (error) {
      const code = error instanceof WalletError ? error.code : "ERR_INTERNAL";
      this.history.record({ offer, decidedAt: now, consent, outcome: "failed", errorCode: code });
      throw error;
    }
    return this.#accept(answer, offer, now, consent, amount, rates);
  }

  /**
   * Verifies the server's message 3 against the offer consented to, and records the payment with
   * what the rules count: the charge in the home currency when it was charged in it, else the
   * offer's price in the home currency (`amount`, what the rules decided on).
   */
  async #accept(
    answer: unknown,
    offer: Offer,
    now: Date,
    consent: Exclude<ConsentKind, "none">,
    amount: Price | undefined,
    rates: RateTable | undefined,
  ): Promise<PaymentResult> {
    const failed = (errorCode: string) => this.history.record({ offer, decidedAt: now, consent, outcome: "failed", errorCode });
    const checked = await verifyAcknowledgment(answer, offer, {
      trust: this.#trust,
      clock: this.#clock,
      server: this.config.server.id,
    });
    if (!checked.ok) {
      failed(checked.error.code);
      throw fromVerification(checked.error, "the server's acknowledgment does not verify; tell the server's operator", 502);
    }
    const { claims } = checked.value;
    if (claims.user !== this.config.user) {
      failed("ERR_IDENTITY_MISMATCH");
      throw new WalletError(
        "ERR_IDENTITY_MISMATCH",
        `the acknowledgment names ${claims.user}, not this wallet's user; tell the server's operator`,
        502,
        false,
      );
    }
    const rule =
      consent === "auto" && this.#config.rules.autoAccept ? describeAutoAccept(this.#config.rules.autoAccept) : undefined;
    const home = this.config.homeCurrency;
    if (this.#accountCurrency !== undefined && claims.charged.currency !== this.#accountCurrency) {
      // The rules would count a charge in a currency the account does not have: recorded as paid
      // for the rules (the money may have left), refused for the program.
      this.history.record({
        offer,
        decidedAt: now,
        consent,
        outcome: "paid",
        acknowledgment: checked.value,
        ...homeOf(claims.charged, amount, home, rates),
        ...(rule ? { rule } : {}),
      });
      throw new WalletError(
        "ERR_PRICE_MISMATCH",
        `the server charged ${formatPrice(claims.charged)} although the account is kept in ${this.#accountCurrency}; tell the server's operator`,
        502,
        false,
      );
    }
    this.history.record({
      offer,
      decidedAt: now,
      consent,
      outcome: "paid",
      acknowledgment: checked.value,
      message: answer as Acknowledgment,
      ...homeOf(claims.charged, amount, home, rates),
      ...(rule ? { rule } : {}),
    });
    return { acknowledgment: answer as Acknowledgment, verified: checked.value, consent };
  }

  /**
   * A session offer presented again: the session it opened and that session's acknowledgment, when
   * the session was paid (from the history, or from the server when the answer was lost), so that
   * the program goes on with the chain the user paid for instead of paying a second cap. A session
   * the server never recorded is forgotten, and the offer is then paid as a new one.
   */
  async #sessionPaidBefore(offer: Offer): Promise<PaymentResult | undefined> {
    for (const { session, consent } of this.sessions.ofOffer(offer.nonce)) {
      const paid = await this.#paidBefore({ ...offer, nonce: session.id }, consent);
      if (paid) return { ...paid, session };
      this.sessions.drop(session.id);
    }
    return undefined;
  }

  /**
   * An offer presented again once paid: its acknowledgment again, from the history, or from the
   * server when the wallet's request went out and its answer was lost. Undefined when it is unpaid.
   * `sent` is how the user consented when a request may have gone out that the history does not
   * show (a session's chain is kept before its consent is signed): the server is asked then too.
   */
  async #paidBefore(offer: Offer, sent?: Exclude<ConsentKind, "none">): Promise<PaymentResult | undefined> {
    const paid = this.history.paidEntry(offer.nonce);
    if (paid) {
      const checked = await verifyAcknowledgment(paid.acknowledgment, offer, { trust: this.#trust, clock: this.#clock });
      if (!checked.ok)
        throw fromVerification(
          checked.error,
          "the acknowledgment of this offer, paid before, no longer verifies; make a new offer",
          409,
        );
      const { card } = checked.value;
      return {
        acknowledgment: paid.acknowledgment,
        verified: checked.value,
        consent: paid.consent,
        ...(card ? { card: { card: card.card, debit: card.debit } } : {}),
      };
    }
    if (this.history.wasPaid(offer.nonce)) {
      throw new WalletError(
        "ERR_NONCE_REUSED",
        "this offer was already paid: the program must make a new offer for a new payment",
        409,
        false,
      );
    }
    const consent = this.history.answerMissing(offer.nonce) ?? sent;
    if (!consent) return undefined;
    const answer = await this.#server.acknowledgmentOf(offer.nonce, {
      user: this.config.user,
      key: this.#key,
      clock: this.#clock,
    });
    if (answer === undefined) return undefined;
    const rates = await this.#ratesFor(offer);
    return this.#accept(
      answer,
      offer,
      this.#clock.now(),
      consent,
      toHome(offer.terms.price, this.config.homeCurrency, rates),
      rates,
    );
  }

  /**
   * Reads the account's currency from the server (GET /v1/me, signed with the user's key) and
   * remembers it: acknowledgments charging any other currency are refused. A server that cannot
   * say (an older one) leaves the check off; the rules count in the home currency either way.
   */
  async checkAccount(): Promise<CurrencyCode | undefined> {
    if (this.#accountCurrency === undefined) {
      try {
        this.#accountCurrency = await this.#server.accountCurrency({
          user: this.config.user,
          key: this.#key,
          clock: this.#clock,
        });
      } catch (error) {
        if (error instanceof WalletError && (error.code === "ERR_NOT_FOUND" || error.code === "ERR_SERVER_UNAVAILABLE"))
          return undefined;
        throw error;
      }
    }
    return this.#accountCurrency;
  }

  /** checkAccount before the first online payment; a refusal of the user's signature stops the payment. */
  async #knowAccount(offer: Offer, now: Date, consent: Exclude<ConsentKind, "none">): Promise<void> {
    try {
      await this.checkAccount();
    } catch (error) {
      const wallet = error instanceof WalletError ? error : new WalletError("ERR_INTERNAL", (error as Error).message, 500, false);
      this.history.record({ offer, decidedAt: now, consent, outcome: "failed", errorCode: wallet.code });
      throw wallet;
    }
  }

  /** The card to pay `offer` with: present, answering, in the offer's currency; undefined to pay online. */
  async #findCard(
    offer: Offer,
  ): Promise<{ sessions: CardSessions; status: Awaited<ReturnType<typeof readCardStatus>> } | undefined> {
    if (!this.#card || !this.#prompt.askPin) return undefined;
    const sessions = await this.#card.find();
    if (!sessions) return undefined;
    let status: Awaited<ReturnType<typeof readCardStatus>>;
    try {
      status = await readCardStatus(sessions);
    } catch (error) {
      // Not a silent switch to paying online: the user put a card in to pay with it.
      const reason = fromCardError(error);
      const detail = reason instanceof WalletError ? reason.message : (reason as Error).message;
      const unreadable = new WalletError(
        "ERR_CARD_UNREADABLE",
        `the card in the reader could not be read (${detail}): nothing was paid; put the card back in, or take it out to pay online`,
        503,
        true,
        { card: "unreadable" },
      );
      this.history.record({
        offer,
        decidedAt: this.#clock.now(),
        consent: "none",
        outcome: "failed",
        errorCode: unreadable.code,
      });
      throw unreadable;
    }
    // The card pays in its own currency only; anything else is paid online.
    return status.currency === offer.terms.price.currency ? { sessions, status } : undefined;
  }

  /** Message 2 to the card with the PIN, message 3 from the card, verified as the merchant will. */
  async #payWithCard(
    card: { sessions: CardSessions; status: Awaited<ReturnType<typeof readCardStatus>> },
    offer: Offer,
    view: OfferView,
    now: Date,
    amount: Price | undefined,
    signal?: AbortSignal,
  ): Promise<PaymentResult> {
    const prompt = this.#prompt;
    try {
      const { acknowledgment, verified } = await payByCard({
        sessions: card.sessions,
        status: card.status,
        offer,
        clock: this.#clock,
        trust: this.#trust,
        askPin: (ask) =>
          prompt.askPin!(
            { view, ...ask, ...(this.config.card?.pin !== undefined && { configured: this.config.card.pin }) },
            signal,
          ),
        ...(signal ? { signal } : {}),
      });
      this.history.record({
        offer,
        decidedAt: now,
        consent: "explicit",
        outcome: "paid",
        acknowledgment: verified,
        message: acknowledgment,
        ...homeOf(verified.claims.charged, amount, this.config.homeCurrency, undefined),
      });
      return {
        acknowledgment,
        verified,
        consent: "explicit",
        ...(verified.card ? { card: { card: verified.card.card, debit: verified.card.debit } } : {}),
      };
    } catch (error) {
      const wallet =
        error instanceof WalletError
          ? error
          : new WalletError(
              "ERR_WALLET_UNAVAILABLE",
              `the card could not be used: ${(error as Error).message}; nothing was paid`,
              503,
              true,
            );
      const declined = wallet.code === "ERR_DECLINED" || wallet.code === "ERR_TIMEOUT";
      this.history.record({
        offer,
        decidedAt: now,
        consent: declined ? "none" : "explicit",
        outcome: declined ? "declined" : "failed",
        errorCode: wallet.code,
      });
      throw wallet;
    }
  }

  async #ask(view: OfferView, signal?: AbortSignal): Promise<boolean> {
    try {
      return await this.#prompt.ask(view, signal);
    } catch (error) {
      if (error instanceof WalletError) throw error;
      throw new WalletError(
        "ERR_DECLINED",
        `the user could not be asked (${(error as Error).message}); nothing was paid`,
        403,
        false,
      );
    }
  }

  /** Asks the user about a spending mandate through the wallet's prompt, when it can ask about one. */
  askMandate(view: MandateView, signal?: AbortSignal): Promise<boolean> {
    if (!this.#prompt.askMandate)
      return Promise.reject(
        new WalletError(
          "ERR_CONSENT_UNAVAILABLE",
          "this wallet cannot ask about a mandate: start it where a browser can be opened, or in a terminal (peage wallet --terminal)",
          503,
          true,
        ),
      );
    return this.#prompt.askMandate(view, signal);
  }

  #view(verified: VerifiedOffer, rates: RateTable | undefined, reason: string, payWith: OfferFacts["payWith"]): OfferView {
    const { publisher } = verified.offer.terms;
    return offerView(verified, {
      home: this.config.homeCurrency,
      rates,
      reason,
      payWith,
      server: this.config.server.url,
      firstPayment: !this.history.paidBefore(publisher),
      noRuleChosen: this.#config.rules.autoAccept === null,
    });
  }

  /** Rates are needed only when the offer's or a limit's currency differs from the home currency. */
  async #ratesFor(offer: Offer): Promise<RateTable | undefined> {
    const home = this.config.homeCurrency;
    const { autoAccept, refuse } = this.config.rules;
    const currencies = [offer.terms.price, ...Object.values(autoAccept ?? {}), ...Object.values(refuse)]
      .filter((v): v is { currency: string } => typeof v === "object" && v !== null && "currency" in v)
      .map((p) => p.currency);
    if (currencies.every((c) => c === home)) return undefined;
    const fresh = this.#rates && Date.now() - this.#rates.fetchedAt < this.#ratesMaxAgeMs;
    if (!fresh) {
      const table = await this.#server.rates();
      if (table) this.#rates = { table, fetchedAt: Date.now() };
    }
    return this.#rates?.table;
  }

  get config(): WalletConfig {
    return this.#config;
  }

  /** The wallet's clock (the system's, or a test's). */
  get clock(): Clock {
    return this.#clock;
  }

  /** Replaces the user's rules, saved in the config file first; the next offer is decided by them. */
  async setRules(rules: Rules): Promise<void> {
    if (this.#dir === undefined)
      throw new WalletError(
        "ERR_CONFLICT",
        "this wallet was opened without its data directory: its rules cannot be saved",
        409,
        false,
      );
    const config = { ...this.#config, rules };
    // Queued like an offer, so no payment is decided half under the old rules and half under the new.
    const run = this.#queue.then(async () => {
      await writeConfig(this.#dir!, config);
      this.#config = config;
    });
    this.#queue = run.catch(() => undefined);
    await run;
  }

  /** GET one of the user's records at the payment server (/v1/me, /v1/me/payments…), signed with the user's key. */
  serverRecords(path: string): Promise<unknown> {
    return this.#server.me(path, this.#config.user, this.#key, this.#clock);
  }

  /** A spending mandate for an agent, signed with the user's key: call only once the user approved it (mandates/grant.ts). */
  signMandate(request: MandateRequest): Promise<Mandate> {
    return createMandate({
      ...request,
      payees: request.payees as PartyId<"publisher">[],
      maxPerPayment: request.maxPerPayment as Price,
      budget: request.budget as Price,
      period: request.period as MandatePeriod,
      user: this.#config.user,
      server: this.#config.server.id,
      expiresAt: new Date(request.expiresAt),
      clock: this.#clock,
      userKey: this.#key,
    });
  }

  /** The Authorization header of a request to the payment server signed with the user's key (user-auth). */
  signRequest(method: string, path: string): Promise<string> {
    return signUserRequest({ user: this.#config.user, key: this.#key, method, path, clock: this.#clock });
  }

  /**
   * Checks a stored acknowledgment again, offline, against the offer it answered, as of `at` (the
   * payment's server time: certificates that expired since do not undo a payment): true when it verifies.
   */
  async acknowledgmentVerifies(offerMessage: string, acknowledgmentMessage: string, at?: Date): Promise<boolean> {
    const offer = JSON.parse(offerMessage) as Offer;
    const checked = await verifyAcknowledgment(JSON.parse(acknowledgmentMessage), offer, {
      trust: this.#trust,
      clock: at ? { now: () => at } : this.#clock,
      server: this.#config.server.id,
    });
    return checked.ok && (checked.value.card !== undefined || checked.value.claims.user === this.#config.user);
  }

  /** Closes the history database and lets go of the card reader. */
  close(): void {
    this.#card?.close();
    this.history.close();
  }
}

/** What the rules count for a payment: the charge if in the home currency, else the price in it, else the charge converted. */
function homeOf(charged: Price, amount: Price | undefined, home: CurrencyCode, rates: RateTable | undefined): { home?: Price } {
  const counted = charged.currency === home ? charged : (amount ?? toHome(charged, home, rates));
  return counted ? { home: counted } : {};
}

function gaveUp(): WalletError {
  return new WalletError("ERR_TIMEOUT", "the program stopped waiting for this payment; nothing was paid", 408, true);
}

/** A refusal the payment server answered (a 4xx problem): the server recorded nothing for that request. */
function isRefusal(error: unknown): boolean {
  return error instanceof WalletError && error.status >= 400 && error.status < 500;
}
