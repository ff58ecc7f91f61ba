/**
 * What the payment server keeps, behind one interface so that another database can replace
 * SQLite without touching the HTTP layer. Every method is async for that reason, and every
 * operation that must be atomic (a payment, a top-up) is ONE method call: the implementation runs
 * it in one transaction, and the caller never holds a transaction open across an await.
 */
import type { Acknowledgment, CurrencyCode, MinorUnits, PartyId, Price, SignatureAlgorithm } from "@peage/protocol";

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
}

export type NewUser = Omit<UserRecord, "balance" | "status">;

export interface TopupRecord {
  readonly id: string;
  readonly user: PartyId<"user">;
  readonly amount: MinorUnits;
  readonly currency: CurrencyCode;
  readonly idempotencyKey: string;
  readonly createdAt: string;
}

export type TopupOutcome =
  | { readonly kind: "credited"; readonly topup: TopupRecord; readonly balance: MinorUnits }
  /** The same idempotency key was used before for the same user and amount: nothing credited again. */
  | { readonly kind: "repeated"; readonly topup: TopupRecord; readonly balance: MinorUnits }
  /** The idempotency key was used before for a different top-up. */
  | { readonly kind: "key-conflict"; readonly topup: TopupRecord }
  | { readonly kind: "unknown-user" }
  | { readonly kind: "not-prepaid" }
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
  /** The user's home currency is not the currency the payment was converted to. */
  | { readonly kind: "currency-mismatch"; readonly homeCurrency: CurrencyCode };

export interface PaymentQuery {
  readonly user?: PartyId<"user">;
  readonly publisher?: PartyId<"publisher">;
  /** Return payments recorded after this position (exclusive); from the start when absent. */
  readonly after?: number;
  readonly limit: number;
}

export interface PaymentPage {
  readonly payments: readonly (PaymentRecord & { readonly seq: number })[];
  /** Position of the last payment returned, when there may be more. */
  readonly next: number | undefined;
}

export const ApiScopes = ["users:read", "users:write", "funds:write", "payments:read"] as const;
export type ApiScope = (typeof ApiScopes)[number];

export interface ApiKeyRecord {
  readonly id: string;
  /** SHA-256 of the secret, hex: the secret itself is never stored. */
  readonly secretHash: string;
  readonly scopes: readonly ApiScope[];
  readonly label: string;
  readonly createdAt: string;
}

/** Row counts, for health checks and for tests that prove a refused request changed nothing. */
export interface StoreCounts {
  readonly users: number;
  readonly topups: number;
  readonly payments: number;
  readonly publisherCredits: number;
  readonly apiKeys: number;
}

export interface Store {
  createUser(user: NewUser): Promise<{ readonly kind: "created"; readonly user: UserRecord } | { readonly kind: "exists" } | { readonly kind: "key-enrolled" }>;
  getUser(id: PartyId<"user">): Promise<UserRecord | undefined>;
  setMonthlyLimit(id: PartyId<"user">, limit: MinorUnits): Promise<UserRecord | undefined>;
  setStatus(id: PartyId<"user">, status: AccountStatus): Promise<UserRecord | undefined>;
  /** Sum charged to a user in the calendar month (UTC) holding `at`. */
  monthlyUsage(id: PartyId<"user">, at: Date): Promise<MinorUnits>;

  topUp(topup: TopupRecord): Promise<TopupOutcome>;

  findPaymentByNonce(nonce: string): Promise<PaymentRecord | undefined>;
  /**
   * In one transaction: refuses a reused nonce, an unknown or suspended user, a prepaid balance
   * below the charge or a postpaid month over its limit; otherwise records the payment, debits the
   * balance and credits the publisher. Either all of it happens or nothing does.
   */
  recordPayment(payment: PaymentRecord): Promise<PaymentOutcome>;
  listPayments(query: PaymentQuery): Promise<PaymentPage>;

  insertApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(secretHash: string): Promise<ApiKeyRecord | undefined>;

  /**
   * Remembers a signed user request's nonce until `expiresAt`; false if it was already seen
   * (a replay). Expired nonces are forgotten.
   */
  rememberRequestNonce(user: PartyId<"user">, nonce: string, expiresAt: Date, now: Date): Promise<boolean>;

  counts(): Promise<StoreCounts>;
  /** Throws if the database cannot be read. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The database is locked by another writer for longer than the busy timeout: retrying can help. */
export class StoreBusyError extends Error {
  override readonly name = "StoreBusyError";
  readonly code = "ERR_STORE_BUSY";
}

/** The database file was written by a newer server, or its schema cannot be brought up to date. */
export class StoreSchemaError extends Error {
  override readonly name = "StoreSchemaError";
  readonly code = "ERR_STORE_SCHEMA";
}
