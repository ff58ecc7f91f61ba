/**
 * The store's operations, written once for both databases. Each operation is a generator that
 * yields the SQL it needs (`?` placeholders, SQL understood by SQLite and PostgreSQL alike) and
 * receives the rows; a driver runs it inside one database transaction: synchronously on SQLite
 * (better-sqlite3, so a transaction never yields to the event loop), asynchronously on PostgreSQL
 * (one pooled connection per transaction). The logic decides; the drivers only carry queries.
 *
 * Integers come back from both drivers as BigInt (SQLite safeIntegers, PostgreSQL int8/numeric
 * parsers), so that no sum is ever rounded; int() turns one into a number after checking that it
 * is a safe integer.
 *
 * Locking (docs/ledger.md, "Concurrency"): every operation that posts to the ledger first takes
 * the ledger lock in shared mode, and closing a period takes it exclusively, so a period is closed
 * between transactions, never during one. A payment, top-up or refund then locks its user's row
 * (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE holds the one write lock), which
 * makes the balance and limit checks exact under any concurrency. Publishers' credits are
 * appended postings: no payment updates a row shared with payments of other users.
 */
import type { Acknowledgment, CurrencyCode, MinorUnits, PartyId, RateTable, SignatureAlgorithm } from "@peage/protocol";
import {
  Accounts,
  assertBalanced,
  cardLoadPostings,
  collectionPostings,
  partyOf,
  paymentPostings,
  payoutPostings,
  reversePostings,
  topupPostings,
  type NewTransaction,
  type Posting,
  type TransactionKind,
} from "../ledger/ledger.js";
import { assignPeriod, periodOf } from "../ledger/periods.js";
import {
  StoreStateError,
  type AccountMode,
  type AccountStatus,
  type ApiKeyRecord,
  type ApiScope,
  type CardLoadOutcome,
  type CardLoadRecord,
  type ClosedPeriod,
  type CollectionRecord,
  type LedgerAudit,
  type NewUsageSettlement,
  type UsageSettlementOutcome,
  type UsageSettlementRecord,
  type LedgerTransaction,
  type NewRefund,
  type NewUser,
  type PaymentOutcome,
  type PaymentPage,
  type PaymentQuery,
  type PaymentRecord,
  type PayoutRecord,
  type PeriodActivity,
  type PublisherRecord,
  type RefundOutcome,
  type RefundRecord,
  type SepaMandate,
  type SettlementRecord,
  type StoreCounts,
  type TopupOutcome,
  type TopupRecord,
  type UserRecord,
} from "./store.js";

export type Op =
  | { readonly op: "all"; readonly sql: string; readonly params: readonly unknown[]; readonly forUpdate?: boolean }
  | { readonly op: "run"; readonly sql: string; readonly params: readonly unknown[] }
  /** "shared" for every transaction that posts; "exclusive" to close a period. A no-op on SQLite (one writer at a time). */
  | { readonly op: "lock"; readonly mode: "shared" | "exclusive" };

export type Row = Record<string, unknown>;
export type Logic<T> = Generator<Op, T, unknown>;

function* all<R = Row>(sql: string, ...params: unknown[]): Logic<R[]> {
  return (yield { op: "all", sql, params }) as R[];
}
function* get<R = Row>(sql: string, ...params: unknown[]): Logic<R | undefined> {
  return (yield* all<R>(sql, ...params))[0];
}
function* lockedRow<R = Row>(sql: string, ...params: unknown[]): Logic<R | undefined> {
  return ((yield { op: "all", sql, params, forUpdate: true }) as R[])[0];
}
function* run(sql: string, ...params: unknown[]): Logic<number> {
  return (yield { op: "run", sql, params }) as number;
}
function* ledgerLock(mode: "shared" | "exclusive" = "shared"): Logic<void> {
  yield { op: "lock", mode };
}

/** An integer column as a number; throws if it is not a safe integer (the schema keeps them so). */
export function int(value: unknown): number {
  const n = typeof value === "bigint" ? Number(value) : typeof value === "string" ? Number(value) : (value as number);
  if (!Number.isSafeInteger(n) || (typeof value === "bigint" && BigInt(n) !== value))
    throw new RangeError(`integer out of the safe range: ${String(value)}`);
  return n;
}
export function big(value: unknown): bigint {
  if (value === null || value === undefined) return 0n;
  return typeof value === "bigint" ? value : BigInt(value as number | string);
}
const str = (value: unknown): string => value as string;
const optStr = (value: unknown): string | undefined => (value === null || value === undefined ? undefined : (value as string));

/** A list of n placeholders: "?, ?, ?". */
const marks = (n: number) => Array.from({ length: n }, () => "?").join(", ");

// ---------------------------------------------------------------------------------------------
// Rows to records

function toUser(row: Row): UserRecord {
  const mandate: SepaMandate | undefined =
    row["mandate_id"] === null || row["mandate_id"] === undefined
      ? undefined
      : {
          id: str(row["mandate_id"]),
          signedOn: str(row["mandate_signed_on"]),
          name: str(row["mandate_name"]),
          iban: str(row["mandate_iban"]),
          bic: optStr(row["mandate_bic"]),
        };
  return {
    id: str(row["id"]) as PartyId<"user">,
    publicKeyJwk: str(row["public_key_jwk"]),
    alg: str(row["alg"]) as SignatureAlgorithm,
    kid: str(row["kid"]),
    mode: str(row["mode"]) as AccountMode,
    homeCurrency: str(row["home_currency"]) as CurrencyCode,
    balance: int(row["balance_minor"]) as MinorUnits,
    monthlyLimit: row["monthly_limit_minor"] === null ? undefined : (int(row["monthly_limit_minor"]) as MinorUnits),
    status: str(row["status"]) as AccountStatus,
    createdAt: str(row["created_at"]),
    depositRequired: int(row["deposit_required_minor"]) as MinorUnits,
    deposit: int(row["deposit_minor"]) as MinorUnits,
    mandate,
  };
}

const USER_SELECT = `SELECT u.*, m.mandate_id, m.signed_on AS mandate_signed_on, m.name AS mandate_name, m.iban AS mandate_iban, m.bic AS mandate_bic
  FROM users u LEFT JOIN sepa_mandates m ON m.user_id = u.id`;

function toTopup(row: Row): TopupRecord {
  return {
    id: str(row["id"]),
    user: str(row["user_id"]) as PartyId<"user">,
    kind: str(row["kind"]) as "funds" | "deposit",
    amount: int(row["amount_minor"]) as MinorUnits,
    currency: str(row["currency"]) as CurrencyCode,
    idempotencyKey: str(row["idempotency_key"]),
    createdAt: str(row["created_at"]),
  };
}

export function toPayment(row: Row): PaymentRecord {
  return {
    id: str(row["id"]),
    user: str(row["user_id"]) as PartyId<"user">,
    publisher: str(row["publisher"]) as PartyId<"publisher">,
    offerHash: str(row["offer_hash"]),
    price: { amount: int(row["price_amount"]) as MinorUnits, currency: str(row["price_currency"]) as CurrencyCode },
    charged: { amount: int(row["charged_amount"]) as MinorUnits, currency: str(row["charged_currency"]) as CurrencyCode },
    rate: str(row["rate"]),
    rateDate: optStr(row["rate_date"]),
    nonce: str(row["nonce"]),
    offerDate: str(row["offer_date"]),
    serverTime: str(row["server_time"]),
    requestHash: str(row["request_hash"]),
    acknowledgment: JSON.parse(str(row["acknowledgment"])) as Acknowledgment,
    fee: int(row["fee_minor"]) as MinorUnits,
  };
}

function toPublisher(row: Row): PublisherRecord {
  return {
    id: str(row["id"]) as PartyId<"publisher">,
    name: str(row["name"]),
    country: str(row["country"]),
    iban: optStr(row["iban"]),
    bic: optStr(row["bic"]),
    createdAt: str(row["created_at"]),
    updatedAt: str(row["updated_at"]),
  };
}

function toClosed(row: Row): ClosedPeriod {
  return { period: str(row["period"]), closedAt: str(row["closed_at"]), lastSeq: int(row["last_seq"]) };
}

// ---------------------------------------------------------------------------------------------
// Users

export function* createUser(
  user: NewUser,
): Logic<{ kind: "created"; user: UserRecord } | { kind: "exists" } | { kind: "key-enrolled" }> {
  if (yield* get("SELECT id FROM users WHERE id = ?", user.id)) return { kind: "exists" };
  if (yield* get("SELECT id FROM users WHERE kid = ?", user.kid)) return { kind: "key-enrolled" };
  yield* run(
    `INSERT INTO users (id, public_key_jwk, alg, kid, mode, home_currency, monthly_limit_minor, created_at, deposit_required_minor)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    user.id,
    user.publicKeyJwk,
    user.alg,
    user.kid,
    user.mode,
    user.homeCurrency,
    user.monthlyLimit ?? null,
    user.createdAt,
    user.depositRequired ?? 0,
  );
  return { kind: "created", user: (yield* getUser(user.id))! };
}

/**
 * Replaces a user's enrolled key (a lost or compromised wallet): requests signed with the old key
 * are refused from the moment this commits, since every payment reads the key it is checked with.
 */
export function* replaceUserKey(
  id: string,
  key: { publicKeyJwk: string; alg: string; kid: string },
): Logic<{ kind: "replaced"; user: UserRecord } | { kind: "unknown-user" } | { kind: "key-enrolled" }> {
  if (!(yield* get("SELECT id FROM users WHERE id = ?", id))) return { kind: "unknown-user" };
  const holder = yield* get("SELECT id FROM users WHERE kid = ?", key.kid);
  if (holder && str(holder["id"]) !== id) return { kind: "key-enrolled" };
  yield* run("UPDATE users SET public_key_jwk = ?, alg = ?, kid = ? WHERE id = ?", key.publicKeyJwk, key.alg, key.kid, id);
  return { kind: "replaced", user: (yield* getUser(id))! };
}

export function* getUser(id: string): Logic<UserRecord | undefined> {
  const row = yield* get(`${USER_SELECT} WHERE u.id = ?`, id);
  return row && toUser(row);
}

export function* setMandate(id: string, mandate: SepaMandate | undefined): Logic<UserRecord | undefined> {
  if (!(yield* get("SELECT id FROM users WHERE id = ?", id))) return undefined;
  yield* run("DELETE FROM sepa_mandates WHERE user_id = ?", id);
  if (mandate) {
    yield* run(
      "INSERT INTO sepa_mandates (user_id, mandate_id, signed_on, name, iban, bic) VALUES (?, ?, ?, ?, ?, ?)",
      id,
      mandate.id,
      mandate.signedOn,
      mandate.name,
      mandate.iban,
      mandate.bic ?? null,
    );
  }
  return yield* getUser(id);
}

export function* setMonthlyLimit(id: string, limit: number): Logic<UserRecord | undefined> {
  yield* run("UPDATE users SET monthly_limit_minor = ? WHERE id = ? AND mode = 'postpaid'", limit, id);
  return yield* getUser(id);
}

export function* setStatus(id: string, status: AccountStatus): Logic<UserRecord | undefined> {
  yield* run("UPDATE users SET status = ? WHERE id = ?", status, id);
  return yield* getUser(id);
}

/** The first and the following calendar month (UTC) of an instant, as RFC 3339 strings that sort like the instants. */
export function monthBounds(at: Date): { from: string; until: string } {
  const from = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const until = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { from: from.toISOString(), until: until.toISOString() };
}

/** What a postpaid user has used in the month holding `at`: payments of that month not refunded. BigInt: a month's sum of safe integers need not be one. */
function* usedInMonth(user: string, at: Date): Logic<bigint> {
  const { from, until } = monthBounds(at);
  const row = yield* get(
    `SELECT COALESCE(SUM(COALESCE(s.charged_used, p.charged_amount)), 0) AS used FROM payments p
     LEFT JOIN usage_settlements s ON s.payment_id = p.id
     WHERE p.user_id = ? AND p.server_time >= ? AND p.server_time < ? AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id)`,
    user,
    from,
    until,
  );
  return big(row?.["used"]);
}

export function* monthlyUsage(id: string, at: Date): Logic<number> {
  const used = yield* usedInMonth(id, at);
  return used > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(used);
}

// ---------------------------------------------------------------------------------------------
// The ledger

/** The period a transaction of this time goes to: its month, or the next month still open. */
/** The query of the closed periods from a month on: fixed while the ledger lock is held (drivers may reuse its answer then). */
export const CLOSED_PERIODS_FROM = "SELECT period FROM closed_periods WHERE period >= ?";

function* periodFor(createdAt: string): Logic<string> {
  const month = periodOf(createdAt);
  const closed = yield* all<{ period: string }>(CLOSED_PERIODS_FROM, month);
  return assignPeriod(
    month,
    closed.map((row) => row.period),
  );
}

/**
 * Posts one balanced transaction (BALANCED is checked before anything is written) and keeps the
 * users' stored balances equal to the sums of their funds and deposit postings (BALANCES_ARE_SUMS).
 * The caller holds the ledger lock.
 */
function* post(txn: NewTransaction): Logic<{ seq: number; period: string }> {
  assertBalanced(txn);
  const period = yield* periodFor(txn.createdAt);
  const inserted = yield* get(
    `INSERT INTO ledger_transactions (id, kind, period, created_at, user_id, publisher, payment_id, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
    txn.id,
    txn.kind,
    period,
    txn.createdAt,
    txn.user ?? null,
    txn.publisher ?? null,
    txn.paymentId ?? null,
    txn.ref ?? null,
  );
  const seq = int(inserted!["seq"]);
  if (txn.postings.length > 0) {
    const params: unknown[] = [];
    for (const p of txn.postings) params.push(seq, p.account, p.currency, p.amount);
    yield* run(
      `INSERT INTO postings (txn_seq, account, currency, amount) VALUES ${txn.postings.map(() => "(?, ?, ?, ?)").join(", ")}`,
      ...params,
    );
  }
  // A user's stored balance is what the server owes them: the opposite of the account's sum.
  for (const p of txn.postings) {
    const { kind, party } = partyOf(p.account);
    if (kind === "funds") yield* run("UPDATE users SET balance_minor = balance_minor - ? WHERE id = ?", p.amount, party);
    else if (kind === "deposit") yield* run("UPDATE users SET deposit_minor = deposit_minor - ? WHERE id = ?", p.amount, party);
  }
  return { seq, period };
}

function* postingsOf(seqs: readonly number[]): Logic<Map<number, Posting[]>> {
  const bySeq = new Map<number, Posting[]>();
  for (const seq of seqs) bySeq.set(seq, []);
  // Chunks: SQLite allows at most 32766 parameters in one statement.
  for (let i = 0; i < seqs.length; i += 500) {
    const chunk = seqs.slice(i, i + 500);
    const rows = yield* all(
      `SELECT txn_seq, account, currency, amount FROM postings WHERE txn_seq IN (${marks(chunk.length)}) ORDER BY seq`,
      ...chunk,
    );
    for (const row of rows)
      bySeq
        .get(int(row["txn_seq"]))!
        .push({ account: str(row["account"]), currency: str(row["currency"]) as CurrencyCode, amount: int(row["amount"]) });
  }
  return bySeq;
}

function* withPostings(rows: readonly Row[]): Logic<LedgerTransaction[]> {
  const postings = yield* postingsOf(rows.map((row) => int(row["seq"])));
  return rows.map((row) => ({
    seq: int(row["seq"]),
    id: str(row["id"]),
    kind: str(row["kind"]) as TransactionKind,
    period: str(row["period"]),
    createdAt: str(row["created_at"]),
    user: optStr(row["user_id"]),
    publisher: optStr(row["publisher"]),
    paymentId: optStr(row["payment_id"]),
    ref: optStr(row["ref"]),
    postings: postings.get(int(row["seq"])) ?? [],
  }));
}

export function* ledgerTransactions(query: {
  period?: string;
  user?: string;
  after?: number;
  limit: number;
}): Logic<LedgerTransaction[]> {
  const where = ["seq > ?"];
  const params: unknown[] = [query.after ?? 0];
  if (query.period !== undefined) {
    where.push("period = ?");
    params.push(query.period);
  }
  if (query.user !== undefined) {
    where.push("user_id = ?");
    params.push(query.user);
  }
  const rows = yield* all(
    `SELECT * FROM ledger_transactions WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?`,
    ...params,
    query.limit,
  );
  return yield* withPostings(rows);
}

// ---------------------------------------------------------------------------------------------
// Top-ups and deposits

export function* topUp(topup: TopupRecord): Logic<TopupOutcome> {
  const kind = topup.kind ?? "funds";
  yield* ledgerLock();
  const user = yield* lockedRow("SELECT * FROM users WHERE id = ?", topup.user);
  const existing = yield* get("SELECT * FROM topups WHERE idempotency_key = ?", topup.idempotencyKey);
  if (existing) {
    const previous = toTopup(existing);
    if (
      previous.user !== topup.user ||
      previous.amount !== topup.amount ||
      previous.currency !== topup.currency ||
      previous.kind !== kind
    )
      return { kind: "key-conflict", topup: previous };
    const current = (yield* getUser(topup.user))!;
    return { kind: "repeated", topup: previous, balance: (kind === "funds" ? current.balance : current.deposit) as MinorUnits };
  }
  if (!user) return { kind: "unknown-user" };
  if (kind === "funds" && user["mode"] !== "prepaid") return { kind: "not-prepaid" };
  if (kind === "deposit" && user["mode"] !== "postpaid") return { kind: "not-postpaid" };
  const balance = int(kind === "funds" ? user["balance_minor"] : user["deposit_minor"]) + topup.amount;
  if (!Number.isSafeInteger(balance)) return { kind: "balance-overflow" };
  yield* run(
    "INSERT INTO topups (id, user_id, amount_minor, currency, idempotency_key, created_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?)",
    topup.id,
    topup.user,
    topup.amount,
    topup.currency,
    topup.idempotencyKey,
    topup.createdAt,
    kind,
  );
  yield* post({
    id: `txn_${topup.id}`,
    kind: kind === "funds" ? "topup" : "deposit",
    createdAt: topup.createdAt,
    user: topup.user,
    ref: topup.id,
    postings: topupPostings(topup.user, kind, { amount: topup.amount, currency: topup.currency }),
  });
  return { kind: "credited", topup: { ...topup, kind }, balance: balance as MinorUnits };
}

// ---------------------------------------------------------------------------------------------
// Card float

/** −Σ of a user's card float postings in a currency: what the books say the user's cards hold. */
function* floatOf(user: string, currency: string): Logic<bigint> {
  const row = yield* get(
    "SELECT COALESCE(SUM(amount), 0) AS total FROM postings WHERE account = ? AND currency = ?",
    Accounts.float(user),
    currency,
  );
  return -big(row?.["total"] ?? 0);
}

export function* cardFloat(user: string, currency: string): Logic<number> {
  return Number(yield* floatOf(user, currency));
}

export function* loadCard(load: CardLoadRecord): Logic<CardLoadOutcome> {
  yield* ledgerLock();
  const user = yield* lockedRow("SELECT * FROM users WHERE id = ?", load.user);
  const id = `txn_${load.id}`;
  if (yield* get("SELECT 1 AS one FROM ledger_transactions WHERE id = ?", id)) return { kind: "repeated" };
  if (!user) return { kind: "unknown-user" };
  if (user["mode"] !== "prepaid") return { kind: "not-prepaid" };
  const balance = int(user["balance_minor"]);
  if (balance < load.amount) return { kind: "insufficient-funds", balance: balance as MinorUnits };
  yield* post({
    id,
    kind: "card-load",
    createdAt: load.createdAt,
    user: load.user,
    ref: load.ref,
    postings: cardLoadPostings(load.user, { amount: load.amount, currency: load.currency }),
  });
  return { kind: "loaded" };
}

// ---------------------------------------------------------------------------------------------
// Payments

export function* findPaymentByNonce(user: string, nonce: string): Logic<PaymentRecord | undefined> {
  const row = yield* get("SELECT * FROM payments WHERE user_id = ? AND nonce = ?", user, nonce);
  return row && toPayment(row);
}

export function* getPayment(id: string): Logic<PaymentRecord | undefined> {
  const row = yield* get("SELECT * FROM payments WHERE id = ?", id);
  return row && toPayment(row);
}

export function* recordPayment(payment: PaymentRecord): Logic<PaymentOutcome> {
  yield* ledgerLock();
  // The user's row first: payments of one user are serialised on it, so the nonce, balance and
  // limit read below are the latest committed.
  const user = yield* lockedRow("SELECT * FROM users WHERE id = ?", payment.user);
  // Re-checked inside the transaction: a concurrent identical request may have won the race.
  const existing = yield* get("SELECT * FROM payments WHERE user_id = ? AND nonce = ?", payment.user, payment.nonce);
  if (existing)
    return str(existing["request_hash"]) === payment.requestHash
      ? { kind: "duplicate", payment: toPayment(existing) }
      : { kind: "nonce-reused" };
  if (!user) return { kind: "unknown-user" };
  if (user["status"] !== "active") return { kind: "suspended" };
  if (user["home_currency"] !== payment.charged.currency)
    return { kind: "currency-mismatch", homeCurrency: str(user["home_currency"]) as CurrencyCode };
  const mode = str(user["mode"]) as AccountMode;
  const charged = payment.charged.amount;
  if (mode === "prepaid") {
    // A card's payment is drawn on what was loaded onto the card, an online one on the funds.
    const balance = payment.fromCardFloat
      ? Number(yield* floatOf(payment.user, payment.charged.currency))
      : int(user["balance_minor"]);
    if (balance < charged) return { kind: "insufficient-funds", balance: balance as MinorUnits };
  } else {
    const required = int(user["deposit_required_minor"]);
    const paid = int(user["deposit_minor"]);
    if (paid < required) return { kind: "deposit-required", required: required as MinorUnits, paid: paid as MinorUnits };
    const limit = user["monthly_limit_minor"] === null ? 0 : int(user["monthly_limit_minor"]);
    const used = yield* usedInMonth(payment.user, new Date(payment.serverTime));
    if (used + BigInt(charged) > BigInt(limit))
      return { kind: "limit-exceeded", used: Number(used) as MinorUnits, limit: limit as MinorUnits };
  }
  const fee = payment.fee ?? (0 as MinorUnits);
  yield* run(
    `INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
       rate, rate_date, nonce, offer_date, server_time, request_hash, acknowledgment, fee_minor)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    payment.id,
    payment.user,
    payment.publisher,
    payment.offerHash,
    payment.price.amount,
    payment.price.currency,
    payment.charged.amount,
    payment.charged.currency,
    payment.rate,
    payment.rateDate ?? null,
    payment.nonce,
    payment.offerDate,
    payment.serverTime,
    payment.requestHash,
    JSON.stringify(payment.acknowledgment),
    fee,
  );
  yield* post({
    id: `txn_${payment.id}`,
    kind: "payment",
    createdAt: payment.serverTime,
    user: payment.user,
    publisher: payment.publisher,
    paymentId: payment.id,
    postings: paymentPostings({
      id: payment.id,
      user: payment.user,
      mode,
      fromCardFloat: payment.fromCardFloat === true,
      publisher: payment.publisher,
      price: payment.price,
      charged: payment.charged,
      fee,
    }),
  });
  return { kind: "recorded", payment: { ...payment, fee } };
}

export function* listPayments(query: PaymentQuery): Logic<PaymentPage> {
  const where = ["seq > ?"];
  const params: unknown[] = [query.after ?? 0];
  if (query.user !== undefined) {
    where.push("user_id = ?");
    params.push(query.user);
  }
  if (query.publisher !== undefined) {
    where.push("publisher = ?");
    params.push(query.publisher);
  }
  const rows = yield* all(`SELECT * FROM payments WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?`, ...params, query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    payments: page.map((row) => ({ ...toPayment(row), seq: int(row["seq"]) })),
    next: rows.length > query.limit && last ? int(last["seq"]) : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Refunds

function* refundRecord(refund: Row, payment: PaymentRecord): Logic<RefundRecord> {
  const txn = yield* get(
    "SELECT period FROM ledger_transactions WHERE payment_id = ? AND kind = 'refund' AND ref = ?",
    payment.id,
    str(refund["id"]),
  );
  return {
    id: str(refund["id"]),
    paymentId: payment.id,
    reason: str(refund["reason"]),
    createdAt: str(refund["created_at"]),
    user: payment.user,
    publisher: payment.publisher,
    charged: payment.charged,
    price: payment.price,
    period: str(txn?.["period"]),
  };
}

export function* refundPayment(refund: NewRefund): Logic<RefundOutcome> {
  yield* ledgerLock();
  const paymentRow = yield* get("SELECT * FROM payments WHERE id = ?", refund.paymentId);
  if (!paymentRow) return { kind: "unknown-payment" };
  const payment = toPayment(paymentRow);
  yield* lockedRow("SELECT id FROM users WHERE id = ?", payment.user);
  const existing = yield* get("SELECT * FROM refunds WHERE payment_id = ?", payment.id);
  if (existing) return { kind: "already-refunded", refund: yield* refundRecord(existing, payment) };
  const original = yield* get("SELECT seq FROM ledger_transactions WHERE payment_id = ? AND kind = 'payment'", payment.id);
  if (!original)
    throw new StoreStateError(
      "ERR_LEDGER_INVARIANT",
      `ONE_TRANSACTION_PER_PAYMENT: payment ${payment.id} has no ledger transaction to reverse`,
    );
  // A settled payment gave its unused part back already: the refund reverses what is left.
  const returned = yield* get(
    "SELECT t.seq FROM ledger_transactions t JOIN usage_settlements s ON t.id = 'txn_' || s.id WHERE s.payment_id = ?",
    payment.id,
  );
  const seqs = [int(original["seq"]), ...(returned ? [int(returned["seq"])] : [])];
  const postings = [...(yield* postingsOf(seqs)).values()].flat();
  yield* run(
    "INSERT INTO refunds (id, payment_id, reason, created_at) VALUES (?, ?, ?, ?)",
    refund.id,
    payment.id,
    refund.reason,
    refund.createdAt,
  );
  const { period } = yield* post({
    id: `txn_${refund.id}`,
    kind: "refund",
    createdAt: refund.createdAt,
    user: payment.user,
    publisher: payment.publisher,
    paymentId: payment.id,
    ref: refund.id,
    postings: reversePostings(postings),
  });
  return {
    kind: "refunded",
    refund: {
      ...refund,
      user: payment.user,
      publisher: payment.publisher,
      charged: payment.charged,
      price: payment.price,
      period,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Publishers

export function* putPublisher(
  p: Omit<PublisherRecord, "createdAt" | "updatedAt">,
  at: string,
): Logic<{ kind: "created" | "updated"; publisher: PublisherRecord }> {
  const existing = yield* get("SELECT id FROM publishers WHERE id = ?", p.id);
  if (existing) {
    yield* run(
      "UPDATE publishers SET name = ?, country = ?, iban = ?, bic = ?, updated_at = ? WHERE id = ?",
      p.name,
      p.country,
      p.iban ?? null,
      p.bic ?? null,
      at,
      p.id,
    );
  } else {
    yield* run(
      "INSERT INTO publishers (id, name, country, iban, bic, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      p.id,
      p.name,
      p.country,
      p.iban ?? null,
      p.bic ?? null,
      at,
      at,
    );
  }
  return {
    kind: existing ? "updated" : "created",
    publisher: toPublisher((yield* get("SELECT * FROM publishers WHERE id = ?", p.id))!),
  };
}

export function* getPublisher(id: string): Logic<PublisherRecord | undefined> {
  const row = yield* get("SELECT * FROM publishers WHERE id = ?", id);
  return row && toPublisher(row);
}

export function* listPublishers(): Logic<PublisherRecord[]> {
  return (yield* all("SELECT * FROM publishers ORDER BY id")).map(toPublisher);
}

// ---------------------------------------------------------------------------------------------
// Reference rates

export function* importRates(
  tables: readonly RateTable[],
  source: string,
  at: string,
): Logic<{ inserted: number; replaced: number; unchanged: number }> {
  let inserted = 0;
  let replaced = 0;
  let unchanged = 0;
  for (const table of tables) {
    const day = yield* get("SELECT base FROM fx_days WHERE date = ?", table.date);
    if (day) {
      const stored = yield* ratesOfDay(table.date, str(day["base"]));
      if (stored.base === table.base && sameRates(stored.rates, table.rates)) {
        unchanged++;
        continue;
      }
      yield* run("DELETE FROM fx_rates WHERE date = ?", table.date);
      yield* run("UPDATE fx_days SET base = ?, source = ?, imported_at = ? WHERE date = ?", table.base, source, at, table.date);
      replaced++;
    } else {
      yield* run("INSERT INTO fx_days (date, base, source, imported_at) VALUES (?, ?, ?, ?)", table.date, table.base, source, at);
      inserted++;
    }
    const entries = Object.entries(table.rates);
    for (let i = 0; i < entries.length; i += 200) {
      const chunk = entries.slice(i, i + 200);
      yield* run(
        `INSERT INTO fx_rates (date, currency, rate) VALUES ${chunk.map(() => "(?, ?, ?)").join(", ")}`,
        ...chunk.flatMap(([currency, rate]) => [table.date, currency, rate]),
      );
    }
  }
  return { inserted, replaced, unchanged };
}

function sameRates(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

function* ratesOfDay(date: string, base: string): Logic<RateTable> {
  const rows = yield* all<{ currency: string; rate: string }>(
    "SELECT currency, rate FROM fx_rates WHERE date = ? ORDER BY currency",
    date,
  );
  return { base: base as CurrencyCode, date, rates: Object.fromEntries(rows.map((row) => [row.currency, row.rate])) };
}

/** The latest stored day on or before `date`, with its import time (a cache key: a re-import changes it). */
export function* latestRateDay(date: string): Logic<{ date: string; base: string; importedAt: string } | undefined> {
  const row = yield* get("SELECT date, base, imported_at FROM fx_days WHERE date <= ? ORDER BY date DESC LIMIT 1", date);
  return row && { date: str(row["date"]), base: str(row["base"]), importedAt: str(row["imported_at"]) };
}

export function* ratesOn(date: string): Logic<RateTable | undefined> {
  const day = yield* latestRateDay(date);
  return day && (yield* ratesOfDay(day.date, day.base));
}

// ---------------------------------------------------------------------------------------------
// Periods and settlements

export function* closePeriod(period: string, at: string): Logic<ClosedPeriod> {
  if (period > periodOf(at))
    throw new StoreStateError(
      "ERR_PERIOD_NOT_OVER",
      `period ${period} has not started yet (it is ${periodOf(at)}): it cannot be closed`,
    );
  // Exclusive: no transaction is being written while the period closes, so none lands in it afterwards.
  yield* ledgerLock("exclusive");
  const existing = yield* get("SELECT * FROM closed_periods WHERE period = ?", period);
  if (existing) return toClosed(existing);
  const last = yield* get("SELECT COALESCE(MAX(seq), 0) AS seq FROM ledger_transactions");
  yield* run("INSERT INTO closed_periods (period, closed_at, last_seq) VALUES (?, ?, ?)", period, at, int(last?.["seq"]));
  return { period, closedAt: at, lastSeq: int(last?.["seq"]) };
}

export function* closedPeriods(): Logic<ClosedPeriod[]> {
  return (yield* all("SELECT * FROM closed_periods ORDER BY period")).map(toClosed);
}

export function* periodsWithTransactions(): Logic<string[]> {
  return (yield* all<{ period: string }>("SELECT DISTINCT period FROM ledger_transactions ORDER BY period")).map(
    (row) => row.period,
  );
}

const accountSums = (rows: readonly Row[]) =>
  rows.map((row) => ({ account: str(row["account"]), currency: str(row["currency"]) as CurrencyCode, sum: big(row["total"]) }));

export function* periodActivity(period: string): Logic<PeriodActivity> {
  const txnRows = yield* all("SELECT * FROM ledger_transactions WHERE period = ? ORDER BY seq", period);
  const transactions = yield* withPostings(txnRows);
  const paymentRows = yield* all(
    "SELECT p.* FROM payments p WHERE p.id IN (SELECT t.payment_id FROM ledger_transactions t WHERE t.period = ? AND t.payment_id IS NOT NULL) ORDER BY p.seq",
    period,
  );
  const users = (yield* all(
    `${USER_SELECT} WHERE u.id IN (SELECT t.user_id FROM ledger_transactions t WHERE t.period <= ? AND t.user_id IS NOT NULL) ORDER BY u.id`,
    period,
  )).map(toUser);
  const accruedThrough = accountSums(
    yield* all(
      `SELECT p.account, p.currency, SUM(p.amount) AS total FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
       WHERE t.period <= ? AND t.kind NOT IN ('collection', 'payout') AND (p.account LIKE 'payable/%' OR p.account LIKE 'receivable/%')
       GROUP BY p.account, p.currency ORDER BY p.account, p.currency`,
      period,
    ),
  );
  const balancesBefore = accountSums(
    yield* all(
      `SELECT p.account, p.currency, SUM(p.amount) AS total FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
       WHERE t.period < ? AND (p.account LIKE 'funds/%' OR p.account LIKE 'deposit/%')
       GROUP BY p.account, p.currency ORDER BY p.account, p.currency`,
      period,
    ),
  );
  const payouts = yield* all(
    "SELECT publisher AS party, currency, SUM(amount_minor) AS total FROM payouts WHERE period < ? GROUP BY publisher, currency",
    period,
  );
  const collections = yield* all(
    "SELECT user_id AS party, currency, SUM(amount_minor) AS total FROM collections WHERE period < ? GROUP BY user_id, currency",
    period,
  );
  return {
    period,
    transactions,
    payments: new Map(paymentRows.map((row) => [str(row["id"]), toPayment(row)])),
    users,
    accruedThrough,
    balancesBefore,
    settledBefore: [
      ...payouts.map((row) => ({
        party: str(row["party"]),
        direction: "payout" as const,
        currency: str(row["currency"]) as CurrencyCode,
        sum: big(row["total"]),
      })),
      ...collections.map((row) => ({
        party: str(row["party"]),
        direction: "collection" as const,
        currency: str(row["currency"]) as CurrencyCode,
        sum: big(row["total"]),
      })),
    ],
  };
}

export function* getSettlement(period: string): Logic<SettlementRecord | undefined> {
  const row = yield* get("SELECT * FROM settlements WHERE period = ?", period);
  if (!row) return undefined;
  const payouts = (yield* all("SELECT * FROM payouts WHERE period = ? ORDER BY publisher, currency", period)).map(
    (p): PayoutRecord => ({
      id: str(p["id"]),
      period,
      publisher: str(p["publisher"]) as PartyId<"publisher">,
      amount: { amount: int(p["amount_minor"]) as MinorUnits, currency: str(p["currency"]) as CurrencyCode },
      creditor: JSON.parse(str(p["creditor"])) as PayoutRecord["creditor"],
      sepa: int(p["sepa"]) === 1,
    }),
  );
  const collections = (yield* all("SELECT * FROM collections WHERE period = ? ORDER BY user_id, currency", period)).map(
    (c): CollectionRecord => ({
      id: str(c["id"]),
      period,
      user: str(c["user_id"]) as PartyId<"user">,
      amount: { amount: int(c["amount_minor"]) as MinorUnits, currency: str(c["currency"]) as CurrencyCode },
      method: str(c["method"]) as CollectionRecord["method"],
      mandate: c["mandate"] === null ? undefined : (JSON.parse(str(c["mandate"])) as SepaMandate),
    }),
  );
  return {
    period,
    createdAt: str(row["created_at"]),
    executionDate: str(row["execution_date"]),
    collectionDate: str(row["collection_date"]),
    details: str(row["details"]),
    payouts,
    collections,
  };
}

export function* recordSettlement(s: SettlementRecord): Logic<{ kind: "recorded" | "existing"; settlement: SettlementRecord }> {
  yield* ledgerLock();
  const existing = yield* getSettlement(s.period);
  if (existing) return { kind: "existing", settlement: existing };
  if (!(yield* get("SELECT period FROM closed_periods WHERE period = ?", s.period))) {
    throw new StoreStateError("ERR_PERIOD_OPEN", `period ${s.period} is not closed: close it before recording its settlement`);
  }
  yield* run(
    "INSERT INTO settlements (period, created_at, execution_date, collection_date, details) VALUES (?, ?, ?, ?, ?)",
    s.period,
    s.createdAt,
    s.executionDate,
    s.collectionDate,
    s.details,
  );
  for (const payout of s.payouts) {
    yield* run(
      "INSERT INTO payouts (id, period, publisher, currency, amount_minor, creditor, sepa) VALUES (?, ?, ?, ?, ?, ?, ?)",
      payout.id,
      s.period,
      payout.publisher,
      payout.amount.currency,
      payout.amount.amount,
      JSON.stringify(payout.creditor),
      payout.sepa ? 1 : 0,
    );
    yield* post({
      id: `txn_${payout.id}`,
      kind: "payout",
      createdAt: s.createdAt,
      publisher: payout.publisher,
      ref: payout.id,
      postings: payoutPostings(payout.publisher, payout.amount),
    });
  }
  for (const collection of s.collections) {
    yield* run(
      "INSERT INTO collections (id, period, user_id, currency, amount_minor, method, mandate) VALUES (?, ?, ?, ?, ?, ?, ?)",
      collection.id,
      s.period,
      collection.user,
      collection.amount.currency,
      collection.amount.amount,
      collection.method,
      collection.mandate ? JSON.stringify(collection.mandate) : null,
    );
    yield* post({
      id: `txn_${collection.id}`,
      kind: "collection",
      createdAt: s.createdAt,
      user: collection.user,
      ref: collection.id,
      postings: collectionPostings(collection.user, collection.amount),
    });
  }
  return { kind: "recorded", settlement: (yield* getSettlement(s.period))! };
}

// ---------------------------------------------------------------------------------------------
// Audit (peage ledger verify)

export function* auditLedger(): Logic<LedgerAudit> {
  const counts = yield* get("SELECT (SELECT COUNT(*) FROM ledger_transactions) AS t, (SELECT COUNT(*) FROM postings) AS p");
  const unbalanced = (yield* all(
    `SELECT t.id, p.currency, SUM(p.amount) AS total FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
       GROUP BY t.seq, t.id, p.currency HAVING SUM(p.amount) <> 0 ORDER BY t.seq`,
  )).map((row) => ({ transaction: str(row["id"]), currency: str(row["currency"]), sum: big(row["total"]).toString() }));
  const balanceMismatches: { user: string; account: string; stored: string; postings: string }[] = [];
  for (const [column, prefix] of [
    ["balance_minor", "funds/"],
    ["deposit_minor", "deposit/"],
  ] as const) {
    const rows = yield* all(
      `SELECT u.id, u.${column} AS stored, COALESCE(s.total, 0) AS total FROM users u
       LEFT JOIN (SELECT account, SUM(amount) AS total FROM postings WHERE account LIKE '${prefix}%' GROUP BY account) s ON s.account = '${prefix}' || u.id
       WHERE u.${column} + COALESCE(s.total, 0) <> 0 ORDER BY u.id`,
    );
    for (const row of rows)
      balanceMismatches.push({
        user: str(row["id"]),
        account: `${prefix}${str(row["id"])}`,
        stored: big(row["stored"]).toString(),
        postings: (-big(row["total"])).toString(),
      });
  }
  const paymentMismatches: { payment: string; problem: string }[] = [];
  for (const row of yield* all(
    `SELECT p.id, COUNT(t.seq) AS n FROM payments p LEFT JOIN ledger_transactions t ON t.payment_id = p.id AND t.kind = 'payment'
     GROUP BY p.id HAVING COUNT(t.seq) <> 1 ORDER BY p.id`,
  )) {
    paymentMismatches.push({ payment: str(row["id"]), problem: `${big(row["n"])} payment transactions instead of 1` });
  }
  for (const row of yield* all(
    `SELECT p.id, p.charged_amount, p.price_amount, p.fee_minor,
       COALESCE((SELECT SUM(q.amount) FROM postings q WHERE q.txn_seq = t.seq AND (q.account = 'funds/' || p.user_id OR q.account = 'float/' || p.user_id OR q.account = 'receivable/' || p.user_id)), 0) AS user_leg,
       COALESCE((SELECT SUM(q.amount) FROM postings q WHERE q.txn_seq = t.seq AND q.account = 'payable/' || p.publisher), 0) AS publisher_leg
     FROM payments p JOIN ledger_transactions t ON t.payment_id = p.id AND t.kind = 'payment' ORDER BY p.seq`,
  )) {
    if (big(row["user_leg"]) !== big(row["charged_amount"]))
      paymentMismatches.push({
        payment: str(row["id"]),
        problem: `the user was debited ${big(row["user_leg"])}, the payment charged ${big(row["charged_amount"])}`,
      });
    if (-big(row["publisher_leg"]) !== big(row["price_amount"]) - big(row["fee_minor"])) {
      paymentMismatches.push({
        payment: str(row["id"]),
        problem: `the publisher was credited ${-big(row["publisher_leg"])}, not the price less the fee (${big(row["price_amount"]) - big(row["fee_minor"])})`,
      });
    }
  }
  for (const row of yield* all(
    `SELECT r.payment_id, COUNT(t.seq) AS n FROM refunds r LEFT JOIN ledger_transactions t ON t.payment_id = r.payment_id AND t.kind = 'refund' AND t.ref = r.id GROUP BY r.payment_id HAVING COUNT(t.seq) <> 1`,
  )) {
    paymentMismatches.push({
      payment: str(row["payment_id"]),
      problem: `refunded with ${big(row["n"])} refund transactions instead of 1`,
    });
  }
  const lateTransactions = (yield* all(
    "SELECT t.id, t.period FROM ledger_transactions t JOIN closed_periods c ON c.period = t.period WHERE t.seq > c.last_seq ORDER BY t.seq",
  )).map((row) => ({
    transaction: str(row["id"]),
    period: str(row["period"]),
  }));
  const settlementMismatches: { id: string; problem: string }[] = [];
  for (const [table, kind, account] of [
    ["payouts", "payout", "'payable/' || o.publisher"],
    ["collections", "collection", "'receivable/' || o.user_id"],
  ] as const) {
    for (const row of yield* all(
      `SELECT o.id, o.amount_minor, COUNT(DISTINCT t.seq) AS n,
         COALESCE((SELECT SUM(q.amount) FROM postings q JOIN ledger_transactions u ON u.seq = q.txn_seq WHERE u.ref = o.id AND u.kind = '${kind}' AND q.account = ${account}), 0) AS leg
       FROM ${table} o LEFT JOIN ledger_transactions t ON t.ref = o.id AND t.kind = '${kind}' GROUP BY o.id, o.amount_minor ORDER BY o.id`,
    )) {
      const leg = big(row["leg"]);
      const expected = kind === "payout" ? big(row["amount_minor"]) : -big(row["amount_minor"]);
      if (big(row["n"]) !== 1n)
        settlementMismatches.push({ id: str(row["id"]), problem: `${big(row["n"])} ${kind} transactions instead of 1` });
      else if (leg !== expected)
        settlementMismatches.push({ id: str(row["id"]), problem: `posted ${leg}, recorded ${expected}` });
    }
  }
  return {
    transactions: int(counts?.["t"]),
    postings: int(counts?.["p"]),
    unbalanced,
    balanceMismatches,
    paymentMismatches,
    lateTransactions,
    settlementMismatches,
  };
}

// ---------------------------------------------------------------------------------------------
// API keys, user request nonces, counts

export function* insertApiKey(key: ApiKeyRecord): Logic<void> {
  yield* run(
    "INSERT INTO api_keys (id, secret_sha256, scopes, label, created_at) VALUES (?, ?, ?, ?, ?)",
    key.id,
    key.secretHash,
    key.scopes.join(" "),
    key.label,
    key.createdAt,
  );
}

export function* findApiKeyByHash(secretHash: string): Logic<ApiKeyRecord | undefined> {
  const row = yield* get("SELECT * FROM api_keys WHERE secret_sha256 = ?", secretHash);
  return row && apiKeyOf(row);
}

function apiKeyOf(row: Row): ApiKeyRecord {
  return {
    id: str(row["id"]),
    secretHash: str(row["secret_sha256"]),
    scopes: str(row["scopes"]).split(" ").filter(Boolean) as ApiScope[],
    label: str(row["label"]),
    createdAt: str(row["created_at"]),
  };
}

export function* listApiKeys(): Logic<ApiKeyRecord[]> {
  return (yield* all("SELECT * FROM api_keys ORDER BY created_at, id")).map(apiKeyOf);
}

/** Deletes the key: its secret stops working at once. False if there was no such key. */
export function* revokeApiKey(id: string): Logic<boolean> {
  return (yield* run("DELETE FROM api_keys WHERE id = ?", id)) === 1;
}

/** Replaces key `id` by `next` in one transaction: never both working, never neither. False (nothing changed) if `id` is gone. */
export function* rotateApiKey(id: string, next: ApiKeyRecord): Logic<boolean> {
  if (!(yield* revokeApiKey(id))) return false;
  yield* insertApiKey(next);
  return true;
}

export function* rememberRequestNonce(user: string, nonce: string, expiresAt: Date, now: Date): Logic<boolean> {
  yield* run("DELETE FROM user_request_nonces WHERE expires_at < ?", now.toISOString());
  return (
    (yield* run(
      "INSERT INTO user_request_nonces (nonce, user_id, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      nonce,
      user,
      expiresAt.toISOString(),
    )) === 1
  );
}

export function* counts(): Logic<StoreCounts> {
  const row = (yield* get(
    `SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM topups) AS topups, (SELECT COUNT(*) FROM payments) AS payments,
            (SELECT COUNT(*) FROM refunds) AS refunds, (SELECT COUNT(*) FROM ledger_transactions) AS transactions,
            (SELECT COUNT(*) FROM postings) AS postings, (SELECT COUNT(*) FROM api_keys) AS api_keys`,
  ))!;
  return {
    users: int(row["users"]),
    topups: int(row["topups"]),
    payments: int(row["payments"]),
    refunds: int(row["refunds"]),
    transactions: int(row["transactions"]),
    postings: int(row["postings"]),
    apiKeys: int(row["api_keys"]),
  };
}

export function* ping(): Logic<void> {
  yield* get("SELECT 1 AS one");
}

/** Accounts.* re-exported for the drivers' tests. */
export { Accounts };

// ---------------------------------------------------------------------------------------------
// Settlements of payments charged by use (upto offers, metered sessions)

function toUsageSettlement(row: Row, payment: PaymentRecord): UsageSettlementRecord {
  const ticks = row["ticks"] === null || row["ticks"] === undefined ? {} : { ticks: int(row["ticks"]) };
  return {
    id: str(row["id"]),
    paymentId: payment.id,
    used: { amount: int(row["used_amount"]) as MinorUnits, currency: str(row["used_currency"]) as CurrencyCode },
    ...ticks,
    createdAt: str(row["created_at"]),
    maximum: payment.price,
    chargedUsed: { amount: int(row["charged_used"]) as MinorUnits, currency: payment.charged.currency },
    feeUsed: int(row["fee_used"]),
  };
}

/** `part` of `whole` scaled to `of`, rounded down (the user's share of a charge never rounds up). */
const share = (of: number, part: number, whole: number): number =>
  whole === 0 ? 0 : Number((BigInt(of) * BigInt(part)) / BigInt(whole));

/**
 * Settles a payment charged by use, once: records the amount used beside the maximum and posts the
 * unused part back, as the payment's postings for that part reversed (user, publisher, fee and
 * exchange legs alike, so every currency stays balanced).
 */
export function* settleUsage(settlement: NewUsageSettlement): Logic<UsageSettlementOutcome> {
  yield* ledgerLock();
  const paymentRow = yield* get("SELECT * FROM payments WHERE id = ?", settlement.paymentId);
  if (!paymentRow) return { kind: "unknown-payment" };
  const payment = toPayment(paymentRow);
  yield* lockedRow("SELECT id FROM users WHERE id = ?", payment.user);
  const existing = yield* get("SELECT * FROM usage_settlements WHERE payment_id = ?", payment.id);
  if (existing) {
    const earlier = toUsageSettlement(existing, payment);
    const same = earlier.used.amount === settlement.used.amount && earlier.ticks === settlement.ticks;
    return { kind: same ? "duplicate" : "already-settled", settlement: earlier };
  }
  if (yield* get("SELECT id FROM refunds WHERE payment_id = ?", payment.id)) return { kind: "refunded" };
  if (settlement.used.currency !== payment.price.currency || settlement.used.amount > payment.price.amount)
    return { kind: "above-maximum", maximum: payment.price };
  const max = payment.price.amount;
  const chargedUsed =
    payment.charged.currency === payment.price.currency
      ? settlement.used.amount
      : share(payment.charged.amount, settlement.used.amount, max);
  const feeUsed = share(payment.fee ?? 0, settlement.used.amount, max);
  yield* run(
    `INSERT INTO usage_settlements (payment_id, id, used_amount, used_currency, charged_used, fee_used, ticks, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    payment.id,
    settlement.id,
    settlement.used.amount,
    settlement.used.currency,
    chargedUsed,
    feeUsed,
    settlement.ticks ?? null,
    settlement.createdAt,
  );
  if (settlement.used.amount < max) {
    const original = yield* get("SELECT seq FROM ledger_transactions WHERE payment_id = ? AND kind = 'payment'", payment.id);
    const legs = (yield* postingsOf([int(original!["seq"])])).get(int(original!["seq"])) ?? [];
    const userLeg = legs.find((leg) => /^(funds|float|receivable)\//.test(leg.account));
    const unused = paymentPostings({
      id: payment.id,
      user: payment.user,
      mode: userLeg?.account.startsWith("receivable/") ? "postpaid" : "prepaid",
      fromCardFloat: userLeg?.account.startsWith("float/") === true,
      publisher: payment.publisher,
      price: { amount: (max - settlement.used.amount) as MinorUnits, currency: payment.price.currency },
      charged: { amount: (payment.charged.amount - chargedUsed) as MinorUnits, currency: payment.charged.currency },
      fee: ((payment.fee ?? 0) - feeUsed) as MinorUnits,
    });
    yield* post({
      id: `txn_${settlement.id}`,
      kind: "refund",
      createdAt: settlement.createdAt,
      user: payment.user,
      publisher: payment.publisher,
      paymentId: payment.id,
      ref: settlement.id,
      postings: reversePostings(unused),
    });
  }
  return {
    kind: "settled",
    settlement: toUsageSettlement({ ...existingRow(settlement), charged_used: chargedUsed, fee_used: feeUsed }, payment),
  };
}

function existingRow(settlement: NewUsageSettlement): Row {
  return {
    id: settlement.id,
    used_amount: settlement.used.amount,
    used_currency: settlement.used.currency,
    ticks: settlement.ticks ?? null,
    created_at: settlement.createdAt,
  };
}
