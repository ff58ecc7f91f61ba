/**
 * What the payment server keeps, behind one interface with two implementations: SQLite (the
 * default, sqlite.ts) and PostgreSQL (postgres.ts), both running the same logic (logic.ts). Every
 * method is async for that reason, and every operation that must be atomic (a payment, a top-up,
 * a refund, a settlement) is ONE method call: the implementation runs it in one transaction, and
 * the caller never holds a transaction open across an await.
 */
import { PeageError } from "@peage/protocol";
import type { Acknowledgment, CurrencyCode, MinorUnits, PartyId, Price, RateTable, SignatureAlgorithm } from "@peage/protocol";
import type { Posting, TransactionKind } from "../ledger/ledger.js";
import type { MandateOperation, MandateOperations, MandateResult } from "../mandates/logic.js";
import type { ExtensionName, ExtensionResult, Extensions } from "./extensions.js";
import type { DomesticAccount } from "../bank/domestic.js";

/** Prepaid: the user pays from a balance topped up beforehand. Postpaid: billed later, up to a monthly limit. */
export const AccountModes = ["prepaid", "postpaid"] as const;
export type AccountMode = (typeof AccountModes)[number];

export const AccountStatuses = ["active", "suspended"] as const;
export type AccountStatus = (typeof AccountStatuses)[number];

export interface UserRecord {
  readonly id: PartyId<"user">;
  /** The user's public key as a JWK with public members only, canonical JSON. */
  readonly publicKeyJwk: string;
  readonly alg: SignatureAlgorithm;
  /** RFC 7638 SHA-256 thumbprint of the key: the `kid` the user's consents carry. */
  readonly kid: string;
  readonly mode: AccountMode;
  readonly homeCurrency: CurrencyCode;
  /** Prepaid balance in minor units of the home currency (0 for postpaid users). */
  readonly balance: MinorUnits;
  /** Postpaid limit per calendar month (UTC), minor units; undefined for prepaid users. */
  readonly monthlyLimit: MinorUnits | undefined;
  readonly status: AccountStatus;
  readonly createdAt: string;
  /** Postpaid: the deposit to pay before any payment goes through, minor units (0: none). */
  readonly depositRequired: MinorUnits;
  /** Postpaid: the deposit paid so far, minor units of the home currency. */
  readonly deposit: MinorUnits;
  /** The SEPA direct debit mandate the postpaid bill is collected with, if any. */
  readonly mandate: SepaMandate | undefined;
}

/** A SEPA Core direct debit mandate signed by the user (EPC rulebook: id up to 35 characters). */
export interface SepaMandate {
  readonly id: string;
  /** YYYY-MM-DD. */
  readonly signedOn: string;
  /** The debtor, as the bank account is held. */
  readonly name: string;
  readonly iban: string;
  readonly bic: string | undefined;
}

export type NewUser = Omit<UserRecord, "balance" | "status" | "depositRequired" | "deposit" | "mandate"> & {
  readonly depositRequired?: MinorUnits;
};

/** Money received for a user: "funds" credits a prepaid balance, "deposit" a postpaid deposit. */
export const TopupKinds = ["funds", "deposit"] as const;
export type TopupKind = (typeof TopupKinds)[number];

export interface TopupRecord {
  readonly id: string;
  readonly user: PartyId<"user">;
  /** "funds" when absent. */
  readonly kind?: TopupKind;
  readonly amount: MinorUnits;
  readonly currency: CurrencyCode;
  readonly idempotencyKey: string;
  readonly createdAt: string;
}

/** Money moved onto a prepaid user's card (docs/ledger.md, card-load). */
export interface CardLoadRecord {
  /** Unique per load: the same id again moves nothing (a retry). */
  readonly id: string;
  readonly user: PartyId<"user">;
  readonly amount: MinorUnits;
  readonly currency: CurrencyCode;
  /** What the load is for (the card and its reload), kept as the transaction's ref. */
  readonly ref: string;
  readonly createdAt: string;
}

export type CardLoadOutcome =
  | { readonly kind: "loaded" | "repeated" }
  | { readonly kind: "insufficient-funds"; readonly balance: MinorUnits }
  | { readonly kind: "unknown-user" }
  | { readonly kind: "not-prepaid" };

export type TopupOutcome =
  | { readonly kind: "credited"; readonly topup: TopupRecord; readonly balance: MinorUnits }
  /** The same idempotency key was used before for the same user and amount: nothing credited again. */
  | { readonly kind: "repeated"; readonly topup: TopupRecord; readonly balance: MinorUnits }
  /** The idempotency key was used before for a different top-up. */
  | { readonly kind: "key-conflict"; readonly topup: TopupRecord }
  | { readonly kind: "unknown-user" }
  | { readonly kind: "not-prepaid" }
  /** A deposit for an account that is not postpaid. */
  | { readonly kind: "not-postpaid" }
  | { readonly kind: "balance-overflow" };

export interface PaymentRecord {
  readonly id: string;
  readonly user: PartyId<"user">;
  readonly publisher: PartyId<"publisher">;
  readonly offerHash: string;
  /** The price the publisher signed. */
  readonly price: Price;
  /** What the user is charged, in the home currency. */
  readonly charged: Price;
  /** The rate applied (charged currency per price currency), as a decimal string; "1.0000000000" when none. */
  readonly rate: string;
  /** The day of the rate table used, YYYY-MM-DD; undefined when no conversion was needed. */
  readonly rateDate: string | undefined;
  readonly nonce: string;
  readonly offerDate: string;
  readonly serverTime: string;
  /** RFC 8785 hash of the payment request: an identical retry is recognised by it. */
  readonly requestHash: string;
  readonly acknowledgment: Acknowledgment;
  /** The server's fee in minor units of the price's currency, taken from the publisher's credit (0 when absent). */
  readonly fee?: MinorUnits;
  /** A prepaid card's payment, uploaded with its log: drawn on the user's card float (money loaded on the card), not the online funds. */
  readonly fromCardFloat?: boolean;
}

export type PaymentOutcome =
  | { readonly kind: "recorded"; readonly payment: PaymentRecord }
  /** The same request was recorded before (a retry): its acknowledgment, nothing charged again. */
  | { readonly kind: "duplicate"; readonly payment: PaymentRecord }
  /** A different request already used this offer nonce. */
  | { readonly kind: "nonce-reused" }
  | { readonly kind: "unknown-user" }
  | { readonly kind: "suspended" }
  | { readonly kind: "insufficient-funds"; readonly balance: MinorUnits }
  | { readonly kind: "limit-exceeded"; readonly used: MinorUnits; readonly limit: MinorUnits }
  /** The postpaid account's deposit is not paid in full. */
  | { readonly kind: "deposit-required"; readonly required: MinorUnits; readonly paid: MinorUnits }
  /** The user's home currency is not the currency the payment was converted to. */
  | { readonly kind: "currency-mismatch"; readonly homeCurrency: CurrencyCode }
  /** The user's enrolled key is no longer the one the request was verified with (PaymentKeyCheck). */
  | { readonly kind: "key-replaced" };

/**
 * The key a payment request was verified with, when the server took it from a record it kept
 * rather than read for the request: a store that checks it (Store.checksPaymentKeys) refuses the
 * payment as "key-replaced" when the user's enrolled key is another one by the time the payment
 * is recorded, after answering a duplicate of a recorded request and before any other refusal.
 */
export interface PaymentKeyCheck {
  readonly kid: string;
}

export interface PaymentQuery {
  readonly user?: PartyId<"user">;
  readonly publisher?: PartyId<"publisher">;
  /** Return payments recorded after this position (exclusive); from the start when absent. */
  readonly after?: number;
  readonly limit: number;
}

export interface PaymentPage {
  readonly payments: readonly (PaymentRecord & {
    readonly seq: number;
    /** A payment charged by use, once settled: the amount used beside the maximum. */
    readonly settlement?: UsageSettlementRecord;
  })[];
  /** Position of the last payment returned, when there may be more. */
  readonly next: number | undefined;
}

export interface NewRefund {
  readonly id: string;
  readonly paymentId: string;
  readonly reason: string;
  readonly createdAt: string;
}

export interface RefundRecord extends NewRefund {
  readonly user: PartyId<"user">;
  readonly publisher: PartyId<"publisher">;
  /** What the user gets back (the charged amount) and what the publisher gives back (the price). */
  readonly charged: Price;
  readonly price: Price;
  /** The period the refund belongs to. */
  readonly period: string;
}

export type RefundOutcome =
  | { readonly kind: "refunded"; readonly refund: RefundRecord }
  | { readonly kind: "already-refunded"; readonly refund: RefundRecord }
  | { readonly kind: "unknown-payment" };

/** A payment charged by use settled for the amount used (docs/protocol.md §3.12). */
export interface NewUsageSettlement {
  readonly id: string;
  readonly paymentId: string;
  /** The amount used, in the price's currency: 0 … the payment's price (the maximum). */
  readonly used: Price;
  /** A metered session's highest tick redeemed. */
  readonly ticks?: number;
  readonly createdAt: string;
}

export interface UsageSettlementRecord extends NewUsageSettlement {
  /** The maximum the user consented to: the payment's price. */
  readonly maximum: Price;
  /** What the user pays for what was used, in the currency charged (at most the payment's charge). */
  readonly chargedUsed: Price;
  /** The server's fee on what was used. */
  readonly feeUsed: number;
}

export type UsageSettlementOutcome =
  | { readonly kind: "settled"; readonly settlement: UsageSettlementRecord }
  /** The same settlement again (a retry): nothing moved this time. */
  | { readonly kind: "duplicate"; readonly settlement: UsageSettlementRecord }
  | { readonly kind: "already-settled"; readonly settlement: UsageSettlementRecord }
  | { readonly kind: "above-maximum"; readonly maximum: Price }
  | { readonly kind: "refunded" }
  | { readonly kind: "unknown-payment" };

/** A publisher the server pays: bank details for the payouts. */
export interface PublisherRecord {
  readonly id: PartyId<"publisher">;
  readonly name: string;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
  /** The account payouts go to: an IBAN (with the bank's BIC), or a domestic account, never both. */
  readonly iban: string | undefined;
  readonly bic: string | undefined;
  readonly domestic?: DomesticAccount | undefined;
  /**
   * The currency the publisher is paid in: what it earned in other currencies is converted at
   * settlement (PayoutConversion). Undefined: each currency is paid as it was earned.
   */
  readonly payoutCurrency?: CurrencyCode | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** One ledger transaction as stored. */
export interface LedgerTransaction {
  readonly seq: number;
  readonly id: string;
  readonly kind: TransactionKind;
  readonly period: string;
  readonly createdAt: string;
  readonly user: string | undefined;
  readonly publisher: string | undefined;
  readonly paymentId: string | undefined;
  readonly ref: string | undefined;
  readonly postings: readonly Posting[];
}

/** What `ledger verify` found wrong; every list empty means the ledger is sound. */
export interface LedgerAudit {
  readonly transactions: number;
  readonly postings: number;
  /** BALANCED: transactions whose postings do not sum to zero in a currency. */
  readonly unbalanced: readonly { readonly transaction: string; readonly currency: string; readonly sum: string }[];
  /** BALANCES_ARE_SUMS: stored balances that differ from the sum of their account's postings. */
  readonly balanceMismatches: readonly {
    readonly user: string;
    readonly account: string;
    readonly stored: string;
    readonly postings: string;
  }[];
  /** ONE_TRANSACTION_PER_PAYMENT: payments without exactly one payment transaction matching them. */
  readonly paymentMismatches: readonly { readonly payment: string; readonly problem: string }[];
  /** CLOSED_PERIODS_FROZEN: transactions written into a period after it was closed. */
  readonly lateTransactions: readonly { readonly transaction: string; readonly period: string }[];
  /** PAYOUTS_POSTED: payouts and collections without their ledger transaction, or with another amount. */
  readonly settlementMismatches: readonly { readonly id: string; readonly problem: string }[];
}

export interface ClosedPeriod {
  readonly period: string;
  readonly closedAt: string;
  /** The highest transaction position at the close: every transaction of the period is at or below it. */
  readonly lastSeq: number;
}

/** Everything the settlement of a period reads, after the period is closed. */
export interface PeriodActivity {
  readonly period: string;
  readonly transactions: readonly LedgerTransaction[];
  /** The payments those transactions are about (offer hash, price, rate), by id. */
  readonly payments: ReadonlyMap<string, PaymentRecord>;
  /** Every user with a transaction in the period, or a receivable or funds balance through it. */
  readonly users: readonly UserRecord[];
  /**
   * Per account and currency: the sum of postings of transactions up to and including the period
   * (collections and payouts excepted: those are counted from the settlement records instead).
   */
  readonly accruedThrough: readonly { readonly account: string; readonly currency: CurrencyCode; readonly sum: bigint }[];
  /** Per account and currency: the sum of postings of transactions before the period (all kinds). */
  readonly balancesBefore: readonly { readonly account: string; readonly currency: CurrencyCode; readonly sum: bigint }[];
  /** Paid out to publishers and collected from users in earlier settlements, by party and currency. */
  readonly settledBefore: readonly {
    readonly party: string;
    readonly direction: "payout" | "collection";
    readonly currency: CurrencyCode;
    readonly sum: bigint;
  }[];
}

/** An account's sum in a currency (minor units, exact). */
export interface AccountSum {
  readonly account: string;
  readonly currency: CurrencyCode;
  readonly sum: bigint;
}

/**
 * What the settlement of a period plans from: PeriodActivity's sums, with the period's payments
 * and refunds summed per account instead of listed one by one, so that its size grows with the
 * number of accounts, not of payments.
 */
export interface PeriodSums extends Omit<PeriodActivity, "transactions" | "payments"> {
  /** Per kind (the period's payments and refunds), account and currency: the sum of their postings. */
  readonly moved: readonly (AccountSum & { readonly kind: "payment" | "refund" })[];
}

/** What a statement line shows of the payment it is about (not its acknowledgment). */
export type StatementPayment = Pick<PaymentRecord, "id" | "publisher" | "offerHash" | "price" | "charged" | "rate">;

/** A transaction of the period as a user's statement shows it, with the payment it is about. */
export interface StatementEntry {
  readonly transaction: LedgerTransaction;
  readonly payment: StatementPayment | undefined;
}

/** Where a page of statement entries starts: after this user's transaction at this position. */
export interface StatementCursor {
  readonly user: string;
  readonly seq: number;
}

export interface PayoutRecord {
  readonly id: string;
  readonly period: string;
  readonly publisher: PartyId<"publisher">;
  readonly amount: Price;
  /** The bank details the transfer was made to, as they were at the settlement: an IBAN or a domestic account. */
  readonly creditor: PayoutCreditor;
  readonly sepa: boolean;
  /** For a payout in a currency other than the ones earned: how it was converted. Undefined: paid as earned. */
  readonly conversion?: PayoutConversion | undefined;
}

export interface PayoutCreditor {
  readonly name: string;
  readonly iban?: string | undefined;
  readonly domestic?: DomesticAccount | undefined;
  readonly bic: string | undefined;
  readonly country: string;
}

/**
 * How a payout in the publisher's payout currency was made from what it earned in each currency.
 * Each line converts one currency's amount due, exactly, at the table's rates, rounded once half
 * away from zero to the payout currency's minor unit; the payout's amount is the sum of the lines.
 */
export interface PayoutConversion {
  /** Where the rates come from, e.g. the reference rates imported with `peage fx import`. */
  readonly source: string;
  /** The day of the rate table, YYYY-MM-DD. */
  readonly date: string;
  /** The table's base currency: each rate is units of a currency per one unit of it (EUR for the ECB). */
  readonly base: CurrencyCode;
  readonly rounding: "half-away-from-zero, once per line";
  readonly lines: readonly ConversionLine[];
}

export interface ConversionLine {
  /** What was due in the currency earned (minor units, exact). */
  readonly from: Price;
  /** What it came to in the payout currency (minor units, rounded once). */
  readonly to: Price;
  /** Units of `from`'s currency per base unit, exactly as in the table ("1" for the base itself). */
  readonly fromRate: string;
  /** Units of `to`'s currency per base unit, exactly as in the table. */
  readonly toRate: string;
  /** toRate / fromRate to ten decimal places, for reading only: the amount is computed from the exact rates. */
  readonly rate: string;
}

export interface CollectionRecord {
  readonly id: string;
  readonly period: string;
  readonly user: PartyId<"user">;
  readonly amount: Price;
  readonly method: "sepa-direct-debit" | "invoice";
  /** For a direct debit: the mandate as it was at the settlement. */
  readonly mandate: SepaMandate | undefined;
}

/** A settlement as recorded: once recorded it never changes, and every file is made from it. */
export interface SettlementRecord {
  readonly period: string;
  readonly createdAt: string;
  readonly executionDate: string;
  readonly collectionDate: string;
  /** The rules and amounts carried to the next period, as JSON (what the report shows). */
  readonly details: string;
  readonly payouts: readonly PayoutRecord[];
  readonly collections: readonly CollectionRecord[];
}

/** What an operator API key may do, one scope per area of the operator API. */
export const ApiScopes = [
  "users:read",
  "users:write",
  "funds:write",
  "payments:read",
  "payments:refund",
  "publishers:read",
  "publishers:write",
  "keys:read",
  "keys:write",
  "webhooks:read",
  "webhooks:write",
] as const;
export type ApiScope = (typeof ApiScopes)[number] | PublisherScope;

/** What a publisher's own key may do, on that publisher's data only (routes/publisher.ts). */
export const PublisherScopes = ["publisher:read"] as const;
export type PublisherScope = (typeof PublisherScopes)[number];

export interface ApiKeyRecord {
  readonly id: string;
  /** SHA-256 of the secret, hex: the secret itself is never stored. */
  readonly secretHash: string;
  readonly scopes: readonly ApiScope[];
  readonly label: string;
  readonly createdAt: string;
  /** A publisher's own key: it reads this publisher's data only, and no operator endpoint accepts it. */
  readonly publisher?: PartyId<"publisher">;
}

/** Row counts, for health checks and for tests that prove a refused request changed nothing. */
export interface StoreCounts {
  readonly users: number;
  readonly topups: number;
  readonly payments: number;
  readonly refunds: number;
  readonly transactions: number;
  readonly postings: number;
  readonly apiKeys: number;
}

export interface Store {
  createUser(
    user: NewUser,
  ): Promise<
    { readonly kind: "created"; readonly user: UserRecord } | { readonly kind: "exists" } | { readonly kind: "key-enrolled" }
  >;
  /** Replaces the user's enrolled key; "key-enrolled" when another user holds that key. */
  replaceUserKey(
    id: PartyId<"user">,
    key: { publicKeyJwk: string; alg: string; kid: string },
  ): Promise<{ kind: "replaced"; user: UserRecord } | { kind: "unknown-user" } | { kind: "key-enrolled" }>;
  getUser(id: PartyId<"user">): Promise<UserRecord | undefined>;
  /** Records or replaces (undefined: removes) a postpaid user's SEPA mandate. */
  setMandate(id: PartyId<"user">, mandate: SepaMandate | undefined): Promise<UserRecord | undefined>;
  setMonthlyLimit(id: PartyId<"user">, limit: MinorUnits): Promise<UserRecord | undefined>;
  setStatus(id: PartyId<"user">, status: AccountStatus): Promise<UserRecord | undefined>;
  /** Sum charged to a user in the calendar month (UTC) holding `at`, refunded payments excepted. */
  monthlyUsage(id: PartyId<"user">, at: Date): Promise<MinorUnits>;

  topUp(topup: TopupRecord): Promise<TopupOutcome>;
  /**
   * Moves money loaded onto a prepaid user's card from the online funds to the card float, in one
   * transaction, once per id; refused when the funds do not cover it.
   */
  loadCard(load: CardLoadRecord): Promise<CardLoadOutcome>;
  /** What a prepaid user's cards hold according to the books: the card float, minor units. */
  cardFloat(id: PartyId<"user">, currency: CurrencyCode): Promise<MinorUnits>;

  /** The user's payment with this offer nonce: nonces are unique per user, not across users. */
  findPaymentByNonce(user: PartyId<"user">, nonce: string): Promise<PaymentRecord | undefined>;
  /**
   * In one transaction: refuses a reused nonce, an unknown or suspended user, a prepaid balance
   * below the charge or a postpaid month over its limit; otherwise records the payment, debits the
   * balance and posts the payment's ledger transaction (the publisher's credit among it). Either
   * all of it happens or nothing does. This is the one way a payment enters the books, whoever
   * recorded it first (the server online, or a card whose log is uploaded).
   */
  recordPayment(payment: PaymentRecord, key?: PaymentKeyCheck): Promise<PaymentOutcome>;
  /**
   * True if recordPayment checks the key it is given (PostgreSQL): the server may then verify
   * requests with users' records kept between requests. Without it, the key is read with each.
   */
  readonly checksPaymentKeys?: boolean;
  listPayments(query: PaymentQuery): Promise<PaymentPage>;
  getPayment(id: string): Promise<PaymentRecord | undefined>;
  /** Reverses a payment's ledger transaction, once: a second refund of the same payment is refused. */
  refundPayment(refund: NewRefund): Promise<RefundOutcome>;
  /** Settles a payment charged by use for the amount used, once: the unused part goes back to the user. */
  settleUsage(settlement: NewUsageSettlement): Promise<UsageSettlementOutcome>;

  /** Registers a publisher or replaces its name and bank details. */
  putPublisher(
    publisher: Omit<PublisherRecord, "createdAt" | "updatedAt">,
    at: string,
  ): Promise<{ readonly kind: "created" | "updated"; readonly publisher: PublisherRecord }>;
  getPublisher(id: PartyId<"publisher">): Promise<PublisherRecord | undefined>;
  listPublishers(): Promise<readonly PublisherRecord[]>;

  /** Stores reference rate tables by day; a day already stored with other rates is replaced. */
  importRates(
    tables: readonly RateTable[],
    source: string,
    at: string,
  ): Promise<{ readonly inserted: number; readonly replaced: number; readonly unchanged: number }>;
  /** The stored table of the latest day on or before `date` (YYYY-MM-DD), if any. */
  ratesOn(date: string): Promise<RateTable | undefined>;

  /** The ledger transactions, oldest first, optionally of one period or one user. */
  ledgerTransactions(query: {
    readonly period?: string;
    readonly user?: string;
    readonly after?: number;
    readonly limit: number;
  }): Promise<readonly LedgerTransaction[]>;
  /** Checks the invariants of docs/ledger.md over the whole ledger. */
  auditLedger(): Promise<LedgerAudit>;

  /** Closes a period: from then on no transaction is written into it. Idempotent. */
  closePeriod(period: string, at: string): Promise<ClosedPeriod>;
  closedPeriods(): Promise<readonly ClosedPeriod[]>;
  /** Periods (other than closed ones) holding transactions, oldest first. */
  periodsWithTransactions(): Promise<readonly string[]>;
  periodActivity(period: string): Promise<PeriodActivity>;
  /** The sums a settlement plans from (no transaction listed one by one; see PeriodSums). */
  periodSums(period: string): Promise<PeriodSums>;
  /**
   * A page of the period's transactions that users' statements show (every kind but collections),
   * ordered by user then position, starting after `after` (from the start without it): at most
   * `limit`, fewer only on the last page. Settlement reads a period page by page with it.
   */
  statementEntries(period: string, after: StatementCursor | undefined, limit: number): Promise<readonly StatementEntry[]>;
  /**
   * Records a closed period's settlement with its payouts and collections and their ledger
   * transactions, in one transaction; if the period already has one, that one is returned and
   * nothing is written (a payout is never made twice).
   */
  recordSettlement(
    settlement: SettlementRecord,
  ): Promise<{ readonly kind: "recorded" | "existing"; readonly settlement: SettlementRecord }>;
  getSettlement(period: string): Promise<SettlementRecord | undefined>;

  insertApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(secretHash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Deletes the key; false if there was none. */
  revokeApiKey(id: string): Promise<boolean>;
  /** Replaces key `id` by `next` atomically; false (nothing changed) if `id` does not exist. */
  rotateApiKey(id: string, next: ApiKeyRecord): Promise<boolean>;

  /**
   * Remembers a signed user request's nonce until `expiresAt`; false if it was already seen
   * (a replay). Expired nonces are forgotten.
   */
  rememberRequestNonce(user: PartyId<"user">, nonce: string, expiresAt: Date, now: Date): Promise<boolean>;

  /**
   * Runs one operation on spending mandates (mandates/logic.ts) by name, in one write
   * transaction: a payment under a mandate is checked against it and recorded atomically.
   */
  mandates<K extends MandateOperation>(name: K, ...args: Parameters<MandateOperations[K]>): Promise<MandateResult<K>>;

  /**
   * Runs one of the extensions' operations (extensions.ts: the sales feed, the webhook outbox) in
   * one transaction, a read or a write as the operation is listed.
   */
  runExtension<K extends ExtensionName>(name: K, ...args: Parameters<Extensions[K]>): Promise<ExtensionResult<K>>;

  counts(): Promise<StoreCounts>;
  /** Throws if the database cannot be read. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The database is locked by another writer for longer than the busy timeout: retrying can help. */
export class StoreBusyError extends PeageError<"ERR_STORE_BUSY"> {
  override readonly name = "StoreBusyError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_STORE_BUSY", message, options);
  }
}

/** The ledger or settlement rules the store enforces itself (StoreStateError's codes). */
export const StoreStateErrorCodes = [
  /** The period is still open: close it before settling. */
  "ERR_PERIOD_OPEN",
  /** The period has not ended yet. */
  "ERR_PERIOD_NOT_OVER",
  /** The transaction would break an invariant of docs/ledger.md. */
  "ERR_LEDGER_INVARIANT",
  /** A publisher given an IBAN and a domestic account at once: an account is one or the other. */
  "ERR_PUBLISHER_ACCOUNT",
] as const;
export type StoreStateErrorCode = (typeof StoreStateErrorCodes)[number];

/** The store refused an operation that would break a ledger or settlement rule (a period not closed, settled out of order). */
export class StoreStateError extends PeageError<StoreStateErrorCode> {
  override readonly name = "StoreStateError";
}

/** The database file was written by a newer server, or its schema cannot be brought up to date. */
export class StoreSchemaError extends PeageError<"ERR_STORE_SCHEMA"> {
  override readonly name = "StoreSchemaError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_STORE_SCHEMA", message, options);
  }
}
