/**
 * The payment server's handling of message 2 (patent, first variant, claims 1-2): check the
 * payment request, convert the price into the user's home currency, check the prepaid balance or
 * the postpaid monthly limit, record the payment, credit the publisher, and sign message 3.
 *
 * The acknowledgment is signed BEFORE the database transaction: WebCrypto signing is
 * asynchronous and better-sqlite3's transactions are synchronous, so it cannot happen inside.
 * The payment id and server time are fixed first, the acknowledgment signed over them, and the
 * transaction then records payment and acknowledgment together or not at all. If the transaction
 * refuses (funds, limit, a concurrent use of the nonce), the signed acknowledgment is discarded
 * unsent: an acknowledgment leaves the server only once its payment is committed.
 */
import {
  canonicalHash,
  convert,
  decodeJws,
  FixedClock,
  formatPrice,
  isPlainObject,
  JwsTypes,
  newOrderedId,
  signAcknowledgment,
  timestamp,
  verifyPaymentRequest,
  type Acknowledgment,
  type Clock,
  type ConsentClaims,
  type PartyId,
  type Price,
  type RateTable,
  type TrustStore,
  type UserKey,
} from "@peage/protocol";
import type { ServerIdentity } from "./data-dir.js";
import { feeFor } from "./ledger/ledger.js";
import { HttpProblem, problemFor } from "./problems.js";
import type { RateSource } from "./rates/rate-source.js";
import type { PaymentKeyCheck, PaymentOutcome, PaymentRecord, Store, UserRecord } from "./store/store.js";
import { importJwk, type PublicJwk, type UserKeyCache } from "./user-keys.js";
import { keptRecords } from "./user-records.js";

export interface PaymentContext {
  readonly store: Store;
  readonly identity: ServerIdentity;
  readonly trust: TrustStore;
  readonly rates: RateSource;
  readonly clock: Clock;
  readonly userKeys: UserKeyCache;
  readonly skewMs: number;
  /** The server's fee, basis points of the price, taken from the publisher's credit (0: none). */
  readonly feeBasisPoints: number;
  /** Told of each publisher whose chain verified, and when that chain expires (the metrics' certificate expiry). */
  readonly publisherSeen?: (publisher: string, notAfter: Date) => void;
}

export interface PaymentAnswer {
  readonly acknowledgment: Acknowledgment;
  readonly payment: PaymentRecord;
  /** True when this was a retry of a recorded request: nothing was charged this time. */
  readonly replayed: boolean;
}

/** The key enrolled for `user` under `kid`, imported (cached), or undefined. */
export async function enrolledKey(
  ctx: Pick<PaymentContext, "store" | "userKeys">,
  user: PartyId<"user">,
  kid: string,
): Promise<UserKey | undefined> {
  const record = await ctx.store.getUser(user);
  if (!record || record.kid !== kid) return undefined;
  return keyOf(ctx, record);
}

/** The (cached) imported key of a user's record. */
function keyOf(ctx: Pick<PaymentContext, "userKeys">, record: UserRecord): Promise<UserKey> {
  return ctx.userKeys.get(record.id, record.kid, async () => ({
    alg: record.alg,
    publicKey: await importJwk(JSON.parse(record.publicKeyJwk) as PublicJwk),
  }));
}

/** Handles one payment request; throws HttpProblem with the specific code when it is refused. */
export async function processPayment(body: unknown, ctx: PaymentContext): Promise<PaymentAnswer> {
  const prepared = await preparePayment(body, ctx, { sign: true });
  if (prepared.kind === "replayed") return prepared.answer;
  return bookPayment(ctx, prepared.kind === "signed" ? prepared.booking : await bookingOf(ctx, prepared.accepted));
}

/**
 * What the store is handed: the signed payment, and the user's record read by the checks (for the
 * words of a refusal). Plain data, so that the checks and the signature can run on another thread
 * (payment-pool.ts) and the booking on the one that owns the store.
 */
export interface Booking {
  readonly record: PaymentRecord;
  readonly user: UserRecord;
  /** The key the request was verified with, when it came from a kept record (AcceptedConsent). */
  readonly keptKey?: PaymentKeyCheck;
}

/** A payment request checked up to the store's decision: answered already (a retry of a recorded request), accepted, or signed. */
export type PreparedPayment =
  | { readonly kind: "replayed"; readonly answer: PaymentAnswer }
  | { readonly kind: "accepted"; readonly accepted: AcceptedConsent }
  | { readonly kind: "signed"; readonly booking: Booking };

/**
 * Everything before the store's decision: the request verified, the account read, the price
 * converted, the funds prechecked and (with `sign`) the acknowledgment signed; throws HttpProblem
 * for a refusal. Without `sign` the accepted consent is returned for signing elsewhere (a key in a
 * token, which only the thread that opened it may use).
 */
export async function preparePayment(body: unknown, ctx: PaymentContext, opts: { sign: boolean }): Promise<PreparedPayment> {
  const requestHash = canonicalHash(body);
  const seen: { consent?: ConsentClaims } = {};
  try {
    const accepted = await acceptConsent(body, requestHash, ctx, seen);
    if (!opts.sign) return { kind: "accepted", accepted };
    return { kind: "signed", booking: await bookingOf(ctx, accepted) };
  } catch (error) {
    // A retry of a recorded request gets the stored acknowledgment, even once the consent has
    // expired or the balance no longer covers it: the identical bytes were verified when they were
    // recorded, and nothing is charged. Looked up only for a request refused before the store
    // decides: one the store sees is answered by it (a duplicate, a reused nonce), so that a first
    // request, nearly every one, costs no lookup.
    if (!(error instanceof HttpProblem)) throw error;
    const claimed = unverifiedNonce(body);
    const earlier = claimed === undefined ? undefined : await ctx.store.findPaymentByNonce(claimed.user, claimed.nonce);
    if (earlier && earlier.requestHash === requestHash)
      return { kind: "replayed", answer: { acknowledgment: earlier.acknowledgment, payment: earlier, replayed: true } };
    // A verified request whose nonce another request used: that, rather than why it would be refused.
    if (earlier && seen.consent) throw nonceReused(seen.consent);
    throw error;
  }
}

/** The accepted consent's payment, signed. */
export async function bookingOf(ctx: PaymentContext, accepted: AcceptedConsent): Promise<Booking> {
  const record = await signedPayment(ctx, accepted);
  return { record, user: accepted.user, ...(accepted.keptKey ? { keptKey: accepted.keptKey } : {}) };
}

/** The store's decision on a signed payment: recorded, a duplicate answered with the first acknowledgment, or the refusal thrown. */
export async function bookPayment(ctx: Pick<PaymentContext, "store">, booking: Booking): Promise<PaymentAnswer> {
  const { record, user, keptKey } = booking;
  const outcome = await ctx.store.recordPayment(record, keptKey);
  if (outcome.kind === "recorded") return { acknowledgment: record.acknowledgment, payment: record, replayed: false };
  if (outcome.kind === "duplicate")
    return { acknowledgment: outcome.payment.acknowledgment, payment: outcome.payment, replayed: true };
  // A refusal read from a kept record: the next request reads the record again, and is refused before any signature.
  if (keptKey) keptRecords(ctx.store)?.forget(user.id);
  throw refusalOf(outcome, record, user, record.charged);
}

/**
 * The request verified, its user's account read, its price converted and the funds checked
 * early (cheap refusals, before spending a signature; the store's transaction decides for good).
 * `seen.consent` is set once the consent verified.
 */
async function acceptConsent(
  body: unknown,
  requestHash: string,
  ctx: PaymentContext,
  seen: { consent?: ConsentClaims },
): Promise<AcceptedConsent> {
  // The user's record read to find their key is the one the checks below use: reading it a second
  // time would cost a query and decide nothing more (the transaction re-reads the row anyway). It
  // may be a record kept from an earlier request (user-records.ts) whose key is the request's;
  // anything refused on it is decided again on the record read now, and the store refuses the
  // payment if the key was replaced meanwhile: answers are those of a record read for the request.
  let enrolled: UserRecord | undefined;
  let asked: { user: PartyId<"user">; kid: string; kept: boolean } | undefined;
  const verified = await verifyPaymentRequest(body, {
    trust: ctx.trust,
    clock: ctx.clock,
    server: ctx.identity.id,
    userKey: async (user, kid) => {
      const kept = keptRecords(ctx.store)?.get(user);
      asked = { user, kid, kept: kept?.kid === kid };
      const record = asked.kept ? kept : await readUser(ctx, user);
      enrolled = record;
      return record && record.kid === kid ? keyOf(ctx, record) : undefined;
    },
    skewMs: ctx.skewMs,
  });
  if (!verified.ok) {
    if (asked?.kept && (await readUser(ctx, asked.user))?.kid !== asked.kid) throw unknownKey(asked.user, asked.kid);
    throw HttpProblem.of(verified.error.code, verified.error.message);
  }
  const { consent } = verified.value;
  seen.consent = consent;
  ctx.publisherSeen?.(verified.value.publisher.publisher, verified.value.publisher.chain.notAfter);

  const user = enrolled?.id === consent.user ? enrolled : await ctx.store.getUser(consent.user as PartyId<"user">);
  if (!asked?.kept) return checkAccount(ctx, consent, user, requestHash);
  try {
    return { ...(await checkAccount(ctx, consent, user, requestHash)), keptKey: { kid: asked.kid } };
  } catch (error) {
    if (!(error instanceof HttpProblem)) throw error;
    const now = await readUser(ctx, asked.user);
    if (now?.kid !== asked.kid) {
      delete seen.consent;
      throw unknownKey(asked.user, asked.kid);
    }
    return checkAccount(ctx, consent, now, requestHash);
  }
}

/** The account's checks once the request verified: status, the price converted, the funds checked early. */
async function checkAccount(
  ctx: PaymentContext,
  consent: ConsentClaims,
  user: UserRecord | undefined,
  requestHash: string,
): Promise<AcceptedConsent> {
  if (!user) throw HttpProblem.of("ERR_UNKNOWN_KEY", `no key is enrolled for ${consent.user}`);
  if (user.status !== "active") throw suspended(user);
  const serverTime = ctx.clock.now();
  const table = consent.price.currency === user.homeCurrency ? undefined : await rateTableFor(ctx, serverTime);
  const { charged, rate, rateDate } = chargeFor(consent.price, user, table);
  await precheckFunds(ctx.store, user, charged, serverTime);
  return { consent, user, charged, rate, rateDate, requestHash, serverTime };
}

/** A user's record read now, and kept for the next requests. */
async function readUser(ctx: PaymentContext, id: PartyId<"user">): Promise<UserRecord | undefined> {
  const record = await ctx.store.getUser(id);
  if (record) keptRecords(ctx.store)?.keep(record);
  else keptRecords(ctx.store)?.forget(id);
  return record;
}

export interface AcceptedConsent {
  /** The consent as message 3 carries it (protocol version 1). */
  readonly consent: ConsentClaims;
  readonly user: UserRecord;
  readonly charged: Price;
  readonly rate: PaymentRecord["rate"];
  readonly rateDate: PaymentRecord["rateDate"];
  readonly requestHash: string;
  readonly serverTime: Date;
  /** The key the request was verified with, when it came from a kept record: the store checks it is still the user's. */
  readonly keptKey?: PaymentKeyCheck;
}

/**
 * Message 3 signed at the server's time for an accepted consent, inside the payment record that
 * the store then books (or refuses): one place for every way a payment arrives (message 2, a
 * payment under a mandate).
 */
export async function signedPayment(ctx: PaymentContext, accepted: AcceptedConsent): Promise<PaymentRecord> {
  const { consent, user, charged, rate, rateDate, requestHash, serverTime } = accepted;
  // Time first: the payments of one commit then share the pages of the indexes keyed by their id.
  const paymentId = newOrderedId("pay", serverTime.getTime());
  const acknowledgment = await signAcknowledgment({
    consent,
    paymentId,
    server: ctx.identity.id,
    charged,
    ...(rateDate === undefined ? {} : { rate }),
    key: ctx.identity.key,
    x5c: ctx.identity.x5c,
    clock: new FixedClock(serverTime),
  });
  return {
    id: paymentId,
    user: user.id,
    publisher: consent.publisher as PartyId<"publisher">,
    offerHash: consent.offerHash,
    price: consent.price,
    charged,
    rate,
    rateDate,
    nonce: consent.nonce,
    offerDate: consent.date,
    serverTime: timestamp(serverTime),
    requestHash,
    acknowledgment,
    fee: feeFor(consent.price, ctx.feeBasisPoints),
  };
}

/** The problem answered for a payment the store refused. */
export function refusalOf(
  outcome: Exclude<PaymentOutcome, { kind: "recorded" | "duplicate" }>,
  consent: Pick<ConsentClaims, "nonce" | "user">,
  user: UserRecord,
  charged: Price,
): HttpProblem {
  switch (outcome.kind) {
    case "nonce-reused":
      return nonceReused(consent);
    case "unknown-user":
      return HttpProblem.of("ERR_UNKNOWN_KEY", `no key is enrolled for ${consent.user}`);
    case "key-replaced":
      // Only for a payment verified with a kept record, whose key is the request's.
      return unknownKey(consent.user as PartyId<"user">, user.kid);
    case "suspended":
      return suspended(user);
    case "insufficient-funds":
      return insufficientFunds(outcome.balance, charged);
    case "limit-exceeded":
      return limitExceeded(outcome.used, outcome.limit, charged);
    case "deposit-required":
      return depositRequired(outcome.required, outcome.paid, charged);
    case "currency-mismatch":
      return HttpProblem.of(
        "ERR_INTERNAL",
        `the account's home currency changed to ${outcome.homeCurrency} during the payment: send the request again`,
      );
  }
}

/**
 * The consent's user and nonce read without verification: only used to find an earlier identical
 * request (its bytes must match the recorded ones before anything is answered from it).
 */
function unverifiedNonce(body: unknown): { user: PartyId<"user">; nonce: string } | undefined {
  if (!isPlainObject(body)) return undefined;
  const decoded = decodeJws(body["consent"], JwsTypes.consent);
  if (!decoded.ok || !isPlainObject(decoded.value.payload)) return undefined;
  const { nonce, user } = decoded.value.payload;
  if (typeof nonce !== "string" || nonce.length > 86 || typeof user !== "string" || user.length > 200) return undefined;
  return { user: user as PartyId<"user">, nonce };
}

/**
 * The rates a payment at `at` converts with: the latest day on or before its date among the days
 * imported into the database (`peage fx import`) and the rates file; the rates file alone when
 * neither has such a day (a file dated after the server's clock is still better than none).
 */
export async function rateTableFor(ctx: Pick<PaymentContext, "store" | "rates">, at: Date): Promise<RateTable | undefined> {
  const date = at.toISOString().slice(0, 10);
  const stored = await ctx.store.ratesOn(date);
  const file = ctx.rates.current();
  if (!stored) return file;
  if (!file || file.date > date || stored.date >= file.date) return stored;
  return file;
}

/** The amount to charge in the user's home currency, and the rate used (recorded with the payment). */
export function chargeFor(
  price: Price,
  user: UserRecord,
  table: RateTable | undefined,
): { charged: Price; rate: string; rateDate: string | undefined } {
  if (price.currency === user.homeCurrency) return { charged: price, rate: "1.0000000000", rateDate: undefined };
  if (!table) {
    throw HttpProblem.of(
      "ERR_RATE_UNAVAILABLE",
      `the server has no exchange rates loaded, so ${price.currency} cannot be converted to ${user.homeCurrency}: retry later`,
      {
        status: 503,
        retryable: true,
      },
    );
  }
  let conversion;
  try {
    conversion = convert(price, user.homeCurrency, table);
  } catch (cause) {
    throw HttpProblem.of("ERR_BAD_REQUEST", `the price cannot be converted: ${(cause as Error).message}`);
  }
  if (!conversion) {
    throw HttpProblem.of(
      "ERR_RATE_UNAVAILABLE",
      `the rates of ${table.date} have no rate between ${price.currency} and ${user.homeCurrency}; the user cannot pay offers in ${price.currency}`,
    );
  }
  // A price that converts to nothing would be acknowledged as paid and charged nothing: refused.
  if (conversion.price.amount === 0 && price.amount > 0) {
    throw HttpProblem.of(
      "ERR_CHARGE_ROUNDS_TO_ZERO",
      `${formatPrice(price)} converts to less than the smallest unit of ${user.homeCurrency} at the rates of ${table.date}, so nothing could be charged: ` +
        `the program must price the offer higher`,
    );
  }
  return { charged: conversion.price, rate: conversion.rate, rateDate: table.date };
}

export async function precheckFunds(store: Store, user: UserRecord, charged: Price, at: Date): Promise<void> {
  if (user.mode === "prepaid") {
    if (user.balance < charged.amount) throw insufficientFunds(user.balance, charged);
    return;
  }
  if (user.deposit < user.depositRequired) throw depositRequired(user.depositRequired, user.deposit, charged);
  const used = await store.monthlyUsage(user.id, at);
  const limit = user.monthlyLimit ?? 0;
  if (used + charged.amount > limit) throw limitExceeded(used, limit, charged);
}

/** What verifyPaymentRequest answers for a key not enrolled (protocol, payment-request.ts). */
const unknownKey = (user: PartyId<"user">, kid: string) =>
  HttpProblem.of("ERR_UNKNOWN_KEY", `no key ${kid} is enrolled for ${user}`);

const nonceReused = (consent: Pick<ConsentClaims, "nonce">) =>
  HttpProblem.of(
    "ERR_NONCE_REUSED",
    `another payment request already used the nonce of this offer (${consent.nonce}): ask the program for a new offer`,
  );

const suspended = (user: UserRecord) =>
  HttpProblem.of("ERR_ACCOUNT_SUSPENDED", `the account ${user.id} is suspended: contact the payment service`);

const insufficientFunds = (balance: number, charged: Price) =>
  new HttpProblem(
    problemFor(
      "ERR_INSUFFICIENT_FUNDS",
      `the prepaid balance (${balance} minor units of ${charged.currency}) does not cover ${charged.amount}: top up the account`,
    ),
  );

const depositRequired = (required: number, paid: number, charged: Price) =>
  new HttpProblem(
    problemFor(
      "ERR_DEPOSIT_REQUIRED",
      `the account's deposit of ${required} minor units of ${charged.currency} is not paid in full (${paid} paid): payments are refused until it is`,
    ),
  );

const limitExceeded = (used: number, limit: number, charged: Price) =>
  new HttpProblem(
    problemFor(
      "ERR_LIMIT_EXCEEDED",
      `this month's payments (${used}) plus ${charged.amount} minor units of ${charged.currency} would exceed the monthly limit of ${limit}: wait for next month or ask for a higher limit`,
    ),
  );

/**
 * The currency of the offer paid for, read from the consent's payload without verifying it: only
 * a label, and the metrics keep ISO 4217 codes only, so a forged one cannot add labels at will.
 */
export function offerCurrency(body: unknown): string | undefined {
  const token = (body as { consent?: unknown } | undefined)?.consent;
  const decoded = decodeJws(token, JwsTypes.consent);
  if (!decoded.ok) return undefined;
  const currency = (decoded.value.payload as { price?: { currency?: unknown } } | undefined)?.price?.currency;
  return typeof currency === "string" ? currency : undefined;
}
