/**
 * The Store on SQLite (better-sqlite3). Durability first: WAL journal with synchronous=FULL, so a
 * payment whose acknowledgment was sent is on disk even if the machine loses power right after
 * (with synchronous=NORMAL a WAL commit can be lost on power failure; see sqlite.org/pragma.html
 * #pragma_synchronous). Foreign keys are on, and a busy timeout makes a second process wait for
 * the write lock instead of failing at once.
 *
 * better-sqlite3 is synchronous, so a transaction runs without yielding to the event loop: no
 * other request of this process can interleave with it. BEGIN IMMEDIATE takes the write lock at
 * the start, so another process writing the same file cannot slip between the balance check and
 * the debit either.
 */
import Database from "better-sqlite3";
import type { Acknowledgment, CurrencyCode, MinorUnits, PartyId, SignatureAlgorithm } from "@peage/protocol";
import { migrations, type Migration } from "./migrations.js";
import {
  StoreBusyError,
  StoreSchemaError,
  type AccountMode,
  type AccountStatus,
  type ApiKeyRecord,
  type ApiScope,
  type NewUser,
  type PaymentOutcome,
  type PaymentPage,
  type PaymentQuery,
  type PaymentRecord,
  type Store,
  type StoreCounts,
  type TopupOutcome,
  type TopupRecord,
  type UserRecord,
} from "./store.js";

/** Most payments recorded in one transaction (group commit). */
const MAX_BATCH = 128;

export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock, ms (default 5000). */
  readonly busyTimeoutMs?: number;
  readonly readonly?: boolean;
}

interface UserRow {
  id: string;
  public_key_jwk: string;
  alg: string;
  kid: string;
  mode: string;
  home_currency: string;
  balance_minor: number;
  monthly_limit_minor: number | null;
  status: string;
  created_at: string;
}

interface PaymentRow {
  seq: number;
  id: string;
  user_id: string;
  publisher: string;
  offer_hash: string;
  price_amount: number;
  price_currency: string;
  charged_amount: number;
  charged_currency: string;
  rate: string;
  rate_date: string | null;
  nonce: string;
  offer_date: string;
  server_time: string;
  request_hash: string;
  acknowledgment: string;
}

interface TopupRow {
  id: string;
  user_id: string;
  amount_minor: number;
  currency: string;
  idempotency_key: string;
  created_at: string;
}

interface ApiKeyRow {
  id: string;
  secret_sha256: string;
  scopes: string;
  label: string;
  created_at: string;
}

/** The first and the following calendar month (UTC) of an instant, as RFC 3339 strings that sort like the instants. */
export function monthBounds(at: Date): { from: string; until: string } {
  const from = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const until = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { from: from.toISOString(), until: until.toISOString() };
}

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #statements;
  readonly #recordBatch: Database.Transaction<(batch: readonly PaymentRecord[]) => (PaymentOutcome | Error)[]>;
  #queue: { payment: PaymentRecord; resolve: (outcome: PaymentOutcome) => void; reject: (error: unknown) => void }[] = [];
  #flushScheduled = false;
  readonly #topUp: (topup: TopupRecord) => TopupOutcome;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#statements = prepareStatements(db);
    const s = this.#statements;

    const recordPayment = db.transaction((payment: PaymentRecord): PaymentOutcome => {
      // Re-checked inside the transaction: a concurrent identical request may have won the race.
      const existing = s.paymentByNonce.get(payment.nonce) as PaymentRow | undefined;
      if (existing) {
        return existing.request_hash === payment.requestHash ? { kind: "duplicate", payment: toPayment(existing) } : { kind: "nonce-reused" };
      }
      const user = s.userById.get(payment.user) as UserRow | undefined;
      if (!user) return { kind: "unknown-user" };
      if (user.status !== "active") return { kind: "suspended" };
      if (user.home_currency !== payment.charged.currency) return { kind: "currency-mismatch", homeCurrency: user.home_currency as CurrencyCode };
      const charged = payment.charged.amount;
      if (user.mode === "prepaid") {
        if (user.balance_minor < charged) return { kind: "insufficient-funds", balance: user.balance_minor as MinorUnits };
        s.debit.run(charged, payment.user);
      } else {
        const limit = user.monthly_limit_minor ?? 0;
        const { from, until } = monthBounds(new Date(payment.serverTime));
        // BigInt: a month's sum of safe integers need not be one.
        const used = (s.monthlyUsage.get(payment.user, from, until) as { used: bigint }).used;
        if (used + BigInt(charged) > BigInt(limit)) {
          return { kind: "limit-exceeded", used: Number(used) as MinorUnits, limit: limit as MinorUnits };
        }
      }
      s.insertPayment.run(fromPayment(payment));
      s.insertCredit.run(payment.publisher, payment.price.currency, payment.price.amount, payment.id, payment.serverTime);
      return { kind: "recorded", payment };
    });
    // Group commit: the payments queued during one turn of the event loop are recorded in one
    // BEGIN IMMEDIATE transaction, each in its own savepoint (a nested better-sqlite3
    // transaction), so one fsync covers them all and a payment that fails rolls back alone.
    // Nobody is answered before the commit, so an acknowledgment still never leaves unrecorded.
    this.#recordBatch = db.transaction((batch: readonly PaymentRecord[]): (PaymentOutcome | Error)[] =>
      batch.map((payment) => {
        try {
          return recordPayment(payment);
        } catch (error) {
          return error as Error;
        }
      }),
    );

    const topUp = db.transaction((topup: TopupRecord): TopupOutcome => {
      const existing = s.topupByKey.get(topup.idempotencyKey) as TopupRow | undefined;
      if (existing) {
        const previous = toTopup(existing);
        if (existing.user_id !== topup.user || existing.amount_minor !== topup.amount || existing.currency !== topup.currency) {
          return { kind: "key-conflict", topup: previous };
        }
        const user = s.userById.get(topup.user) as UserRow;
        return { kind: "repeated", topup: previous, balance: user.balance_minor as MinorUnits };
      }
      const user = s.userById.get(topup.user) as UserRow | undefined;
      if (!user) return { kind: "unknown-user" };
      if (user.mode !== "prepaid") return { kind: "not-prepaid" };
      const balance = user.balance_minor + topup.amount;
      if (!Number.isSafeInteger(balance)) return { kind: "balance-overflow" };
      s.insertTopup.run(topup.id, topup.user, topup.amount, topup.currency, topup.idempotencyKey, topup.createdAt);
      s.credit.run(topup.amount, topup.user);
      return { kind: "credited", topup, balance: balance as MinorUnits };
    });
    this.#topUp = (topup) => topUp.immediate(topup);
  }

  /** Opens (creating if needed) the database file and brings its schema up to date. */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    const db = new Database(path, { readonly: opts.readonly ?? false });
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000))}`);
      if (!opts.readonly) db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      migrate(db, migrations);
      return new SqliteStore(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async createUser(user: NewUser): Promise<{ kind: "created"; user: UserRecord } | { kind: "exists" } | { kind: "key-enrolled" }> {
    return guard(() => {
      const s = this.#statements;
      const result = this.#db.transaction(() => {
        if (s.userById.get(user.id)) return { kind: "exists" as const };
        if (s.userByKid.get(user.kid)) return { kind: "key-enrolled" as const };
        s.insertUser.run({
          id: user.id,
          public_key_jwk: user.publicKeyJwk,
          alg: user.alg,
          kid: user.kid,
          mode: user.mode,
          home_currency: user.homeCurrency,
          monthly_limit_minor: user.monthlyLimit ?? null,
          created_at: user.createdAt,
        });
        return { kind: "created" as const, user: toUser(s.userById.get(user.id) as UserRow) };
      }).immediate();
      return result;
    });
  }

  async getUser(id: PartyId<"user">): Promise<UserRecord | undefined> {
    return guard(() => {
      const row = this.#statements.userById.get(id) as UserRow | undefined;
      return row && toUser(row);
    });
  }

  async setMonthlyLimit(id: PartyId<"user">, limit: MinorUnits): Promise<UserRecord | undefined> {
    return guard(() => {
      this.#statements.setLimit.run(limit, id);
      const row = this.#statements.userById.get(id) as UserRow | undefined;
      return row && toUser(row);
    });
  }

  async setStatus(id: PartyId<"user">, status: AccountStatus): Promise<UserRecord | undefined> {
    return guard(() => {
      this.#statements.setStatus.run(status, id);
      const row = this.#statements.userById.get(id) as UserRow | undefined;
      return row && toUser(row);
    });
  }

  async monthlyUsage(id: PartyId<"user">, at: Date): Promise<MinorUnits> {
    return guard(() => {
      const { from, until } = monthBounds(at);
      const used = (this.#statements.monthlyUsage.get(id, from, until) as { used: bigint }).used;
      return Number(used) as MinorUnits;
    });
  }

  async topUp(topup: TopupRecord): Promise<TopupOutcome> {
    return guard(() => this.#topUp(topup));
  }

  async findPaymentByNonce(nonce: string): Promise<PaymentRecord | undefined> {
    return guard(() => {
      const row = this.#statements.paymentByNonce.get(nonce) as PaymentRow | undefined;
      return row && toPayment(row);
    });
  }

  recordPayment(payment: PaymentRecord): Promise<PaymentOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ payment, resolve, reject });
      if (this.#queue.length >= MAX_BATCH) this.#flush();
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    let outcomes: (PaymentOutcome | Error)[];
    try {
      outcomes = guard(() => this.#recordBatch.immediate(batch.map((entry) => entry.payment)));
    } catch (error) {
      // The commit itself failed: nothing of the batch is recorded.
      for (const entry of batch) entry.reject(error);
      return;
    }
    for (const [index, entry] of batch.entries()) {
      const outcome = outcomes[index]!;
      if (outcome instanceof Error) entry.reject(outcome);
      else entry.resolve(outcome);
    }
  }

  async listPayments(query: PaymentQuery): Promise<PaymentPage> {
    return guard(() => {
      const rows = this.#statements.listPayments.all({
        user: query.user ?? null,
        publisher: query.publisher ?? null,
        after: query.after ?? 0,
        limit: query.limit + 1,
      }) as PaymentRow[];
      const page = rows.slice(0, query.limit);
      return {
        payments: page.map((row) => ({ ...toPayment(row), seq: row.seq })),
        next: rows.length > query.limit ? page[page.length - 1]?.seq : undefined,
      };
    });
  }

  async insertApiKey(key: ApiKeyRecord): Promise<void> {
    guard(() => this.#statements.insertApiKey.run(key.id, key.secretHash, key.scopes.join(" "), key.label, key.createdAt));
  }

  async findApiKeyByHash(secretHash: string): Promise<ApiKeyRecord | undefined> {
    return guard(() => {
      const row = this.#statements.apiKeyByHash.get(secretHash) as ApiKeyRow | undefined;
      return (
        row && {
          id: row.id,
          secretHash: row.secret_sha256,
          scopes: row.scopes.split(" ").filter(Boolean) as ApiScope[],
          label: row.label,
          createdAt: row.created_at,
        }
      );
    });
  }

  async rememberRequestNonce(user: PartyId<"user">, nonce: string, expiresAt: Date, now: Date): Promise<boolean> {
    return guard(() => {
      const s = this.#statements;
      s.forgetNonces.run(now.toISOString());
      return s.rememberNonce.run(nonce, user, expiresAt.toISOString()).changes === 1;
    });
  }

  async counts(): Promise<StoreCounts> {
    return guard(() => {
      const row = this.#statements.counts.get() as Record<string, number>;
      return {
        users: row["users"] ?? 0,
        topups: row["topups"] ?? 0,
        payments: row["payments"] ?? 0,
        publisherCredits: row["credits"] ?? 0,
        apiKeys: row["api_keys"] ?? 0,
      };
    });
  }

  async ping(): Promise<void> {
    guard(() => this.#statements.ping.get());
  }

  /** The connection's durability settings, for diagnostics and tests. */
  durability(): { journalMode: string; synchronous: number; foreignKeys: boolean; busyTimeoutMs: number } {
    return {
      journalMode: String(this.#db.pragma("journal_mode", { simple: true })),
      // 2 = FULL (sqlite.org/pragma.html#pragma_synchronous).
      synchronous: Number(this.#db.pragma("synchronous", { simple: true })),
      foreignKeys: Number(this.#db.pragma("foreign_keys", { simple: true })) === 1,
      busyTimeoutMs: Number(this.#db.pragma("busy_timeout", { simple: true })),
    };
  }

  async close(): Promise<void> {
    this.#flush();
    if (this.#db.open) this.#db.close();
  }
}

function prepareStatements(db: Database.Database) {
  return {
    userById: db.prepare("SELECT * FROM users WHERE id = ?"),
    userByKid: db.prepare("SELECT id FROM users WHERE kid = ?"),
    insertUser: db.prepare(
      `INSERT INTO users (id, public_key_jwk, alg, kid, mode, home_currency, monthly_limit_minor, created_at)
       VALUES (@id, @public_key_jwk, @alg, @kid, @mode, @home_currency, @monthly_limit_minor, @created_at)`,
    ),
    setLimit: db.prepare("UPDATE users SET monthly_limit_minor = ? WHERE id = ? AND mode = 'postpaid'"),
    setStatus: db.prepare("UPDATE users SET status = ? WHERE id = ?"),
    debit: db.prepare("UPDATE users SET balance_minor = balance_minor - ? WHERE id = ?"),
    credit: db.prepare("UPDATE users SET balance_minor = balance_minor + ? WHERE id = ?"),
    monthlyUsage: db
      .prepare("SELECT COALESCE(SUM(charged_amount), 0) AS used FROM payments WHERE user_id = ? AND server_time >= ? AND server_time < ?")
      .safeIntegers(true),
    topupByKey: db.prepare("SELECT * FROM topups WHERE idempotency_key = ?"),
    insertTopup: db.prepare("INSERT INTO topups (id, user_id, amount_minor, currency, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?)"),
    paymentByNonce: db.prepare("SELECT * FROM payments WHERE nonce = ?"),
    insertPayment: db.prepare(
      `INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
         rate, rate_date, nonce, offer_date, server_time, request_hash, acknowledgment)
       VALUES (@id, @user_id, @publisher, @offer_hash, @price_amount, @price_currency, @charged_amount, @charged_currency,
         @rate, @rate_date, @nonce, @offer_date, @server_time, @request_hash, @acknowledgment)`,
    ),
    insertCredit: db.prepare("INSERT INTO publisher_credits (publisher, currency, amount_minor, payment_id, created_at) VALUES (?, ?, ?, ?, ?)"),
    listPayments: db.prepare(
      `SELECT * FROM payments
       WHERE seq > @after AND (@user IS NULL OR user_id = @user) AND (@publisher IS NULL OR publisher = @publisher)
       ORDER BY seq LIMIT @limit`,
    ),
    insertApiKey: db.prepare("INSERT INTO api_keys (id, secret_sha256, scopes, label, created_at) VALUES (?, ?, ?, ?, ?)"),
    apiKeyByHash: db.prepare("SELECT * FROM api_keys WHERE secret_sha256 = ?"),
    forgetNonces: db.prepare("DELETE FROM user_request_nonces WHERE expires_at < ?"),
    rememberNonce: db.prepare("INSERT OR IGNORE INTO user_request_nonces (nonce, user_id, expires_at) VALUES (?, ?, ?)"),
    counts: db.prepare(
      `SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM topups) AS topups,
              (SELECT COUNT(*) FROM payments) AS payments, (SELECT COUNT(*) FROM publisher_credits) AS credits,
              (SELECT COUNT(*) FROM api_keys) AS api_keys`,
    ),
    ping: db.prepare("SELECT 1"),
  };
}

/** Applies the migrations the database lacks, each in its own transaction. */
export function migrate(db: Database.Database, list: readonly Migration[]): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT");
  const applied = new Set((db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((row) => row.version));
  const known = new Set(list.map((m) => m.version));
  const unknown = [...applied].filter((version) => !known.has(version));
  if (unknown.length > 0) {
    throw new StoreSchemaError(`the database has schema version(s) ${unknown.join(", ")} that this server does not know: run a newer server, or restore a backup`);
  }
  const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
  for (const migration of [...list].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    }).immediate();
  }
}

/** Turns SQLite's lock errors into StoreBusyError, which the HTTP layer answers with a retryable 503. */
function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || code === "SQLITE_BUSY_SNAPSHOT") {
      throw new StoreBusyError(`the database is busy (${String(code)}); retry shortly`);
    }
    throw error;
  }
}

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id as PartyId<"user">,
    publicKeyJwk: row.public_key_jwk,
    alg: row.alg as SignatureAlgorithm,
    kid: row.kid,
    mode: row.mode as AccountMode,
    homeCurrency: row.home_currency as CurrencyCode,
    balance: row.balance_minor as MinorUnits,
    monthlyLimit: row.monthly_limit_minor === null ? undefined : (row.monthly_limit_minor as MinorUnits),
    status: row.status as AccountStatus,
    createdAt: row.created_at,
  };
}

function toTopup(row: TopupRow): TopupRecord {
  return {
    id: row.id,
    user: row.user_id as PartyId<"user">,
    amount: row.amount_minor as MinorUnits,
    currency: row.currency as CurrencyCode,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
  };
}

function toPayment(row: PaymentRow): PaymentRecord {
  return {
    id: row.id,
    user: row.user_id as PartyId<"user">,
    publisher: row.publisher as PartyId<"publisher">,
    offerHash: row.offer_hash,
    price: { amount: row.price_amount as MinorUnits, currency: row.price_currency as CurrencyCode },
    charged: { amount: row.charged_amount as MinorUnits, currency: row.charged_currency as CurrencyCode },
    rate: row.rate,
    rateDate: row.rate_date ?? undefined,
    nonce: row.nonce,
    offerDate: row.offer_date,
    serverTime: row.server_time,
    requestHash: row.request_hash,
    acknowledgment: JSON.parse(row.acknowledgment) as Acknowledgment,
  };
}

function fromPayment(payment: PaymentRecord): Omit<PaymentRow, "seq"> {
  return {
    id: payment.id,
    user_id: payment.user,
    publisher: payment.publisher,
    offer_hash: payment.offerHash,
    price_amount: payment.price.amount,
    price_currency: payment.price.currency,
    charged_amount: payment.charged.amount,
    charged_currency: payment.charged.currency,
    rate: payment.rate,
    rate_date: payment.rateDate ?? null,
    nonce: payment.nonce,
    offer_date: payment.offerDate,
    server_time: payment.serverTime,
    request_hash: payment.requestHash,
    acknowledgment: JSON.stringify(payment.acknowledgment),
  };
}
