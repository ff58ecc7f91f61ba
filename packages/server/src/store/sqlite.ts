/**
 * The Store on SQLite (better-sqlite3), the default. Durability first: WAL journal with
 * synchronous=FULL, so a payment whose acknowledgment was sent is on disk even if the machine loses
 * power right after (with synchronous=NORMAL a WAL commit can be lost on power failure; see
 * sqlite.org/pragma.html#pragma_synchronous). Foreign keys are on, and a busy timeout makes a
 * second process wait for the write lock instead of failing at once.
 *
 * The operations are logic.ts's; this driver runs each one inside a better-sqlite3 transaction,
 * synchronously, so no other request of this process can interleave with it. Writes use BEGIN
 * IMMEDIATE, which takes the database's one write lock at the start: another process writing the
 * same file cannot slip between a balance check and its debit either, and a period is never
 * closed while a payment is being written (the ledger lock of logic.ts is this write lock here).
 */
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import type { CurrencyCode, MinorUnits, PartyId, RateTable } from "@peage/protocol";
import { extensionOperation, type ExtensionName, type ExtensionResult, type Extensions } from "./extensions.js";
import * as logic from "./logic.js";
import { mandateOperations, type MandateOperation, type MandateOperations, type MandateResult } from "../mandates/logic.js";
import * as periodStream from "./period-sums.js";
import { migrateSqlite, openSqlite, SqliteStatements, sqliteGuard as guard, sqliteSettle as settle } from "./driver.js";
import { LEDGER_SCHEMA } from "./ledger-schema.js";
import type { Migration } from "./migrations.js";
import { RateDayCache } from "./rate-cache.js";
import {
  type AccountStatus,
  type ApiKeyRecord,
  type ClosedPeriod,
  type LedgerAudit,
  type LedgerTransaction,
  type NewRefund,
  type NewUser,
  type PaymentOutcome,
  type PaymentPage,
  type PaymentQuery,
  type PaymentRecord,
  type PeriodActivity,
  type PeriodSums,
  type StatementCursor,
  type StatementEntry,
  type PublisherRecord,
  type RefundOutcome,
  type NewUsageSettlement,
  type UsageSettlementOutcome,
  type SepaMandate,
  type SettlementRecord,
  type Store,
  type StoreCounts,
  type CardLoadOutcome,
  type CardLoadRecord,
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
  /**
   * The WAL size, in pages, at which a commit checkpoints (SQLite's default is 1000): set higher
   * where another thread checkpoints (sqlite-checkpointer.ts), as a safety net should it fall behind.
   */
  readonly walAutocheckpointPages?: number;
}

export { monthBounds } from "./logic.js";

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #statements: SqliteStatements;
  readonly #recordBatch: Database.Transaction<(batch: readonly PaymentRecord[]) => (PaymentOutcome | Error)[]>;
  readonly #recordBatchAtOnce: Database.Transaction<(batch: readonly PaymentRecord[]) => PaymentOutcome[]>;
  #queue: { payment: PaymentRecord; resolve: (outcome: PaymentOutcome) => void; reject: (error: unknown) => void }[] = [];
  #flushScheduled = false;
  readonly #rates = new RateDayCache();
  /** One transaction wrapper for every read and write: better-sqlite3 builds a wrapper at some cost, so not one per call. */
  readonly #run: Database.Transaction<(operation: logic.Logic<unknown>) => unknown>;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#statements = new SqliteStatements(db, { safeIntegers: true });
    this.#run = db.transaction((operation: logic.Logic<unknown>) => this.#drive(operation));
    const recordPayment = db.transaction((payment: PaymentRecord): PaymentOutcome => this.#drive(logic.recordPayment(payment)));
    this.#recordBatchAtOnce = db.transaction((batch: readonly PaymentRecord[]): PaymentOutcome[] =>
      batch.map((payment) => this.#drive(logic.recordPayment(payment))),
    );
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
  }

  /** Opens (creating if needed) the database file and brings its schema up to date. */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    // A new database is created readable by its owner only: it holds users' keys, payments and
    // bank details. SQLite gives its -wal and -shm files the main file's permissions.
    if (!opts.readonly && path !== ":memory:" && !existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      try {
        closeSync(openSync(path, "wx", 0o600));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    }
    const db = openSqlite(path, opts);
    try {
      // Statement and savepoint journals (each batched payment runs in a savepoint) in memory
      // rather than in temporary files: they only serve rollbacks inside an open transaction, so
      // durability is unchanged (the commit still goes through the WAL with its fsync), and the
      // payment's writes cost about a third (measured: ~300 -> ~115 us per payment).
      db.pragma("temp_store = MEMORY");
      if (opts.walAutocheckpointPages !== undefined)
        db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.trunc(opts.walAutocheckpointPages))}`);
      if (!opts.readonly) migrateSqlite(db, LEDGER_SCHEMA);
      return new SqliteStore(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Runs one operation's queries, synchronously; the caller provides the transaction. */
  #drive<T>(operation: logic.Logic<T>): T {
    return this.#statements.drive(operation);
  }

  /** A write in its own BEGIN IMMEDIATE transaction; a read in a deferred one (one consistent snapshot). */
  #write<T>(operation: logic.Logic<T>): Promise<T> {
    return settle(() => this.#run.immediate(operation) as T);
  }

  #read<T>(operation: logic.Logic<T>): Promise<T> {
    return settle(() => this.#run.deferred(operation) as T);
  }

  /** A read of one query (those the payment path makes): no transaction around it. */
  #readOne<T>(operation: logic.Logic<T>): Promise<T> {
    return settle(() => this.#statements.driveOne(operation));
  }

  createUser(user: NewUser): Promise<{ kind: "created"; user: UserRecord } | { kind: "exists" } | { kind: "key-enrolled" }> {
    return this.#write(logic.createUser(user));
  }
  getUser(id: PartyId<"user">): Promise<UserRecord | undefined> {
    return this.#readOne(logic.getUser(id));
  }
  mandates<K extends MandateOperation>(name: K, ...args: Parameters<MandateOperations[K]>): Promise<MandateResult<K>> {
    const operation = mandateOperations[name] as (...a: unknown[]) => logic.Logic<MandateResult<K>>;
    return this.#write(operation(...args));
  }
  setMandate(id: PartyId<"user">, mandate: SepaMandate | undefined): Promise<UserRecord | undefined> {
    return this.#write(logic.setMandate(id, mandate));
  }
  setMonthlyLimit(id: PartyId<"user">, limit: MinorUnits): Promise<UserRecord | undefined> {
    return this.#write(logic.setMonthlyLimit(id, limit));
  }
  setStatus(id: PartyId<"user">, status: AccountStatus): Promise<UserRecord | undefined> {
    return this.#write(logic.setStatus(id, status));
  }
  async monthlyUsage(id: PartyId<"user">, at: Date): Promise<MinorUnits> {
    return (await this.#read(logic.monthlyUsage(id, at))) as MinorUnits;
  }
  loadCard(load: CardLoadRecord): Promise<CardLoadOutcome> {
    return this.#write(logic.loadCard(load));
  }
  async cardFloat(id: PartyId<"user">, currency: CurrencyCode): Promise<MinorUnits> {
    return (await this.#read(logic.cardFloat(id, currency))) as MinorUnits;
  }
  topUp(topup: TopupRecord): Promise<TopupOutcome> {
    return this.#write(logic.topUp(topup));
  }
  findPaymentByNonce(user: PartyId<"user">, nonce: string): Promise<PaymentRecord | undefined> {
    return this.#readOne(logic.findPaymentByNonce(user, nonce));
  }
  getPayment(id: string): Promise<PaymentRecord | undefined> {
    return this.#readOne(logic.getPayment(id));
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
    const payments = batch.map((entry) => entry.payment);
    let outcomes: (PaymentOutcome | Error)[];
    try {
      // A refusal is an outcome, not an error, so a batch normally records without one: it runs
      // first without savepoints (two statements fewer per payment). Should any payment throw, that
      // whole transaction is rolled back and the batch runs again with one savepoint per payment.
      outcomes = guard(() => {
        try {
          return this.#recordBatchAtOnce.immediate(payments);
        } catch {
          return this.#recordBatch.immediate(payments);
        }
      });
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

  listPayments(query: PaymentQuery): Promise<PaymentPage> {
    return this.#read(logic.listPayments(query));
  }
  refundPayment(refund: NewRefund): Promise<RefundOutcome> {
    return this.#write(logic.refundPayment(refund));
  }
  settleUsage(settlement: NewUsageSettlement): Promise<UsageSettlementOutcome> {
    return this.#write(logic.settleUsage(settlement));
  }
  putPublisher(
    publisher: Omit<PublisherRecord, "createdAt" | "updatedAt">,
    at: string,
  ): Promise<{ kind: "created" | "updated"; publisher: PublisherRecord }> {
    return this.#write(logic.putPublisher(publisher, at));
  }
  getPublisher(id: PartyId<"publisher">): Promise<PublisherRecord | undefined> {
    return this.#read(logic.getPublisher(id));
  }
  listPublishers(): Promise<readonly PublisherRecord[]> {
    return this.#read(logic.listPublishers());
  }
  async importRates(
    tables: readonly RateTable[],
    source: string,
    at: string,
  ): Promise<{ inserted: number; replaced: number; unchanged: number }> {
    const result = await this.#write(logic.importRates(tables, source, at));
    this.#rates.clear();
    return result;
  }
  /** Forgets the cached rate tables: another connection to the file imported rates. */
  forgetRates(): void {
    this.#rates.clear();
  }
  ratesOn(date: string): Promise<RateTable | undefined> {
    return this.#rates.get(
      date,
      (d) => this.#read(logic.latestRateDay(d)),
      (d) => this.#read(logic.ratesOn(d)),
    );
  }
  ledgerTransactions(query: {
    period?: string;
    user?: string;
    after?: number;
    limit: number;
  }): Promise<readonly LedgerTransaction[]> {
    return this.#read(logic.ledgerTransactions(query));
  }
  auditLedger(): Promise<LedgerAudit> {
    return this.#read(logic.auditLedger());
  }
  closePeriod(period: string, at: string): Promise<ClosedPeriod> {
    return this.#write(logic.closePeriod(period, at));
  }
  closedPeriods(): Promise<readonly ClosedPeriod[]> {
    return this.#read(logic.closedPeriods());
  }
  periodsWithTransactions(): Promise<readonly string[]> {
    return this.#read(logic.periodsWithTransactions());
  }
  periodActivity(period: string): Promise<PeriodActivity> {
    return this.#read(logic.periodActivity(period));
  }
  periodSums(period: string): Promise<PeriodSums> {
    return this.#read(periodStream.periodSums(period));
  }
  statementEntries(period: string, after: StatementCursor | undefined, limit: number): Promise<readonly StatementEntry[]> {
    return this.#read(periodStream.statementEntries(period, after, limit));
  }
  recordSettlement(settlement: SettlementRecord): Promise<{ kind: "recorded" | "existing"; settlement: SettlementRecord }> {
    return this.#write(logic.recordSettlement(settlement));
  }
  getSettlement(period: string): Promise<SettlementRecord | undefined> {
    return this.#read(logic.getSettlement(period));
  }
  async insertApiKey(key: ApiKeyRecord): Promise<void> {
    await this.#write(logic.insertApiKey(key));
  }
  findApiKeyByHash(secretHash: string): Promise<ApiKeyRecord | undefined> {
    return this.#readOne(logic.findApiKeyByHash(secretHash));
  }
  replaceUserKey(id: PartyId<"user">, key: { publicKeyJwk: string; alg: string; kid: string }) {
    return this.#write(logic.replaceUserKey(id, key));
  }
  listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#read(logic.listApiKeys());
  }
  runExtension<K extends ExtensionName>(name: K, ...args: Parameters<Extensions[K]>): Promise<ExtensionResult<K>> {
    const { logic: operation, writes } = extensionOperation(name, args);
    return (writes ? this.#write(operation) : this.#read(operation)) as Promise<ExtensionResult<K>>;
  }
  revokeApiKey(id: string): Promise<boolean> {
    return this.#write(logic.revokeApiKey(id));
  }
  rotateApiKey(id: string, next: ApiKeyRecord): Promise<boolean> {
    return this.#write(logic.rotateApiKey(id, next));
  }
  rememberRequestNonce(user: PartyId<"user">, nonce: string, expiresAt: Date, now: Date): Promise<boolean> {
    return this.#write(logic.rememberRequestNonce(user, nonce, expiresAt, now));
  }
  counts(): Promise<StoreCounts> {
    return this.#read(logic.counts());
  }
  async ping(): Promise<void> {
    await this.#read(logic.ping());
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

/** Applies the ledger's migrations the database lacks (of `list`, for tests that build an older schema). */
export function migrate(db: Database.Database, list: readonly Migration[]): void {
  migrateSqlite(db, LEDGER_SCHEMA, list);
}
