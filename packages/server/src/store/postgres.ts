/**
 * The Store on PostgreSQL (node-postgres), chosen with DATABASE_URL=postgres://…. The operations
 * are logic.ts's, the same as on SQLite; this driver runs each in one transaction on a pooled
 * connection, asynchronously, so many run at once.
 *
 * Concurrency (docs/ledger.md): transactions run at READ COMMITTED with explicit locks rather
 * than SERIALIZABLE, because what must not race is known and small:
 *   - a payment, top-up or refund locks its user's row (SELECT … FOR UPDATE) before reading the
 *     balance, the month's use or the nonce, so two payments of one user run one after the other
 *     and the checks are exact; payments of different users never wait for each other;
 *   - every transaction that posts to the ledger holds a transaction-level advisory lock in shared
 *     mode (shared holders do not wait for each other), and closing a period takes it exclusively,
 *     so a period closes between transactions, never during one;
 *   - publishers' credits are appended postings: no row is shared by payments to one publisher.
 * A unique violation (two requests racing with one nonce, idempotency key or refund), a deadlock or
 * a serialization failure rolls the transaction back and runs it again from the start, after a
 * randomised, growing pause, where it sees the winner's row and answers accordingly. The same
 * schema and logic also run at SERIALIZABLE (option `isolation`), as distributed engines
 * (CockroachDB, YugabyteDB) do by default: conflicts then surface as SQLSTATE 40001 and take the
 * same retry path.
 *
 * A payment is one call of a server-side function (postgres-payments.ts, migration 10): one round
 * trip and, at READ COMMITTED, no BEGIN or COMMIT of its own, where statement by statement it
 * costs about ten round trips.
 *
 * Group commit (option `batchesInFlight`): payments that arrive while the process's payment
 * transactions are all under way wait and are then recorded together, in one call, one
 * transaction and one commit, taking the ledger lock once. A batch locks its users' rows in user
 * order, so two batches never wait for each other in a cycle. A failure a retry cures runs the
 * batch again; any other runs each payment alone, statement by statement, so one payment's failure
 * is its own. Nobody is answered before the commit.
 */
import pg from "pg";
import type { CurrencyCode, MinorUnits, PartyId, RateTable } from "@peage/protocol";
import { extensionOperation, extensionWrites, type ExtensionName, type ExtensionResult, type Extensions } from "./extensions.js";
import * as logic from "./logic.js";
import { mandateOperations, type MandateOperation, type MandateOperations, type MandateResult } from "../mandates/logic.js";
import * as periodStream from "./period-sums.js";
import { migratePostgres, openPgPool, pgTransaction, PgStatements } from "./driver.js";
import { LEDGER_SCHEMA } from "./ledger-schema.js";
import { functionArgument, outcomeOf, RECORD_PAYMENTS, type FunctionRow } from "./postgres-payments.js";
import { RateDayCache } from "./rate-cache.js";
import {
  type AccountStatus,
  type ApiKeyRecord,
  type ClosedPeriod,
  type LedgerAudit,
  type LedgerTransaction,
  type NewRefund,
  type NewUser,
  type PaymentKeyCheck,
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

export interface PgStoreOptions {
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** A schema of its own (created if missing) instead of the URL's default: tests use one each. */
  readonly schema?: string;
  /** Isolation of write transactions (default "read committed", with the explicit locks above). */
  readonly isolation?: PgIsolation;
  /**
   * Group commit: at most this many payment transactions at once, each on its own connection
   * (default: two with the function, so that payments arriving together share a call and a
   * commit while one batch is written and the next is sent; the pool less two, kept for reads,
   * statement by statement; Infinity turns it off). Payments beyond them wait and are then
   * written together, one call, one transaction and one commit for many. PostgreSQL already
   * flushes the WAL once for commits that arrive together; what a batch saves is the work of a
   * transaction per payment in the database (its round trip, snapshot, locks, commit record), at
   * the price of holding its users' rows until its commit. The PostgreSQL benchmark measures the
   * store with and without it in each run.
   */
  readonly batchesInFlight?: number;
  /**
   * How a payment reaches the database: "function" (the default), one call of the server-side
   * function that records it, a round trip for a whole batch (postgres-payments.ts); "statements",
   * each of its queries a round trip, as every other operation runs (the benchmark compares them).
   */
  readonly paymentCall?: "function" | "statements";
}

export type PgIsolation = "read committed" | "serializable";

/** Most payments in one group-commit transaction: a longer one holds its users' rows longer. */
const MAX_BATCH = 32;

interface PendingPayment {
  readonly payment: PaymentRecord;
  readonly key: PaymentKeyCheck | undefined;
  readonly resolve: (outcome: PaymentOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * What a transaction already holds, so that a batch takes the ledger lock once; under that lock no
 * period can close, so the closed periods a batch reads are read once too.
 */
interface Held {
  ledger: boolean;
  readonly closedPeriods?: Map<string, unknown>;
}

export class PgStore implements Store {
  /** recordPayment checks the key it is given, in the function and statement by statement alike. */
  readonly checksPaymentKeys = true;
  readonly #pool: pg.Pool;
  readonly #ledgerKey: number;
  readonly #statements = new PgStatements("peage");
  readonly #rates = new RateDayCache();
  readonly #begin: string;
  readonly #batchesInFlight: number;
  readonly #paymentCall: "function" | "statements";
  #pending: PendingPayment[] = [];
  #batches = 0;
  #retries = 0;
  #closed = false;

  private constructor(pool: pg.Pool, ledgerKey: number, opts: PgStoreOptions) {
    this.#pool = pool;
    this.#ledgerKey = ledgerKey;
    this.#begin = opts.isolation === "serializable" ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN";
    this.#paymentCall = opts.paymentCall ?? "function";
    this.#batchesInFlight = Math.max(
      1,
      Math.trunc(opts.batchesInFlight ?? (this.#paymentCall === "function" ? 2 : (opts.poolSize ?? 10) - 2)) ||
        Number.POSITIVE_INFINITY,
    );
  }

  /** How many payment transactions (group commits) may be under way at once in this store. */
  get batchesInFlight(): number {
    return this.#batchesInFlight;
  }

  /** Transactions run again after a serialization failure, deadlock or unique violation, since opening. */
  get retries(): number {
    return this.#retries;
  }

  /** Connects, creates the schema if asked, and brings the schema up to date. */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const { pool, ready: key } = await openPgPool(
      url,
      { poolSize: opts.poolSize ?? 10, schema: opts.schema, exactIntegers: true },
      async (client) => {
        await migratePostgres(client, LEDGER_SCHEMA);
        const key = await client.query("SELECT hashtext('peage.ledger.' || current_schema())::int AS key");
        return Number(key.rows[0].key);
      },
    );
    return new PgStore(pool, key, opts);
  }

  async #drive<T>(client: pg.PoolClient, operation: logic.Logic<T>, held: Held = { ledger: false }): Promise<T> {
    let step = operation.next();
    while (!step.done) {
      const op = step.value;
      let result: unknown;
      if (op.op === "lock") {
        if (op.mode === "exclusive" || !held.ledger) {
          await client.query(
            op.mode === "shared" ? "SELECT pg_advisory_xact_lock_shared($1)" : "SELECT pg_advisory_xact_lock($1)",
            [this.#ledgerKey],
          );
        }
      } else if (op.sql === logic.CLOSED_PERIODS_FROM && held.ledger && held.closedPeriods?.has(String(op.params[0]))) {
        result = held.closedPeriods.get(String(op.params[0]));
      } else {
        result = await this.#statements.query(client, op);
        if (op.sql === logic.CLOSED_PERIODS_FROM && held.ledger) held.closedPeriods?.set(String(op.params[0]), result);
      }
      step = operation.next(result);
    }
    return step.value;
  }

  /** Runs an operation in a transaction, again from the start after a retryable failure. */
  #transaction<T>(make: () => logic.Logic<T>, kind: "write" | "read" | "snapshot"): Promise<T> {
    return this.#attempts(kind, (client) => this.#drive(client, make()));
  }

  /**
   * Runs `body` in a transaction (none for "read": reads of committed rows need no transaction of
   * their own; "snapshot" is REPEATABLE READ, read only, for reads that must see one snapshot),
   * again from the start after a retryable failure (driver.ts).
   */
  #attempts<T>(kind: "write" | "read" | "snapshot", body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const begin =
      kind === "write" ? this.#begin : kind === "snapshot" ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : undefined;
    return pgTransaction(this.#pool, begin, body, () => this.#retries++);
  }

  /** Starts batches while payments wait and fewer than #batchesInFlight are being written. */
  #pump(): void {
    while (this.#pending.length > 0 && this.#batches < this.#batchesInFlight) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      this.#batches++;
      this.#recordBatch(batch).finally(() => {
        this.#batches--;
        this.#pump();
      });
    }
  }

  /**
   * Records a batch in one transaction and answers each payment once it has committed. A retryable
   * failure (a nonce raced by another request, a serialization failure, a deadlock) runs the whole
   * batch again, where the payment that lost finds the winner's row; any other failure runs each
   * payment alone, statement by statement, so that it fails alone and with the error the
   * statements give.
   */
  async #recordBatch(batch: readonly PendingPayment[]): Promise<void> {
    const ordered = [...batch].sort((a, b) => (a.payment.user < b.payment.user ? -1 : a.payment.user > b.payment.user ? 1 : 0));
    const alone = ({ payment, key }: PendingPayment) => this.#transaction(() => logic.recordPayment(payment, key), "write");
    let outcomes: (PaymentOutcome | Error)[];
    try {
      if (this.#paymentCall === "function") outcomes = await this.#callFunction(ordered);
      else if (ordered.length === 1) outcomes = [await alone(ordered[0]!)];
      else outcomes = await this.#statementsBatch(ordered);
    } catch (error) {
      if (ordered.length === 1 && this.#paymentCall === "statements") outcomes = [error as Error];
      else outcomes = await Promise.all(ordered.map((p) => alone(p).catch((cause: unknown) => cause as Error)));
    }
    ordered.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!;
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    });
  }

  /** A batch statement by statement, in one transaction: the ledger lock taken once, the closed periods read once. */
  #statementsBatch(payments: readonly PendingPayment[]): Promise<PaymentOutcome[]> {
    return this.#attempts("write", async (client) => {
      await client.query("SELECT pg_advisory_xact_lock_shared($1)", [this.#ledgerKey]);
      const held: Held = { ledger: true, closedPeriods: new Map() };
      const results: PaymentOutcome[] = [];
      for (const { payment, key } of payments) results.push(await this.#drive(client, logic.recordPayment(payment, key), held));
      return results;
    });
  }

  /**
   * A batch in one call of peage_record_payments (postgres-payments.ts): one round trip, and at
   * READ COMMITTED no BEGIN or COMMIT either, the call being its own transaction. A payment the
   * server cannot post (paymentPostings refuses it) is recorded statement by statement instead.
   */
  async #callFunction(payments: readonly PendingPayment[]): Promise<(PaymentOutcome | Error)[]> {
    const args: (Record<string, unknown> | undefined)[] = payments.map(({ payment, key }) => {
      try {
        return functionArgument(payment, key);
      } catch {
        return undefined;
      }
    });
    const sent = args.filter((arg) => arg !== undefined);
    const rows =
      sent.length === 0
        ? []
        : await pgTransaction(
            this.#pool,
            this.#begin === "BEGIN" ? undefined : this.#begin,
            async (client) =>
              (await client.query<FunctionRow>({ ...RECORD_PAYMENTS, values: [this.#ledgerKey, JSON.stringify(sent)] })).rows,
            () => this.#retries++,
          );
    let next = 0;
    return Promise.all(
      payments.map(async ({ payment, key }, i): Promise<PaymentOutcome | Error> => {
        try {
          if (args[i] === undefined) return await this.#transaction(() => logic.recordPayment(payment, key), "write");
          const outcome = outcomeOf(payment, rows[next++]!);
          if (outcome.kind !== "duplicate") return outcome;
          const recorded = await this.findPaymentByNonce(payment.user, payment.nonce);
          return { kind: "duplicate", payment: recorded! };
        } catch (error) {
          return error as Error;
        }
      }),
    );
  }

  #write<T>(make: () => logic.Logic<T>): Promise<T> {
    return this.#transaction(make, "write");
  }
  #read<T>(make: () => logic.Logic<T>): Promise<T> {
    return this.#transaction(make, "read");
  }
  #snapshot<T>(make: () => logic.Logic<T>): Promise<T> {
    return this.#transaction(make, "snapshot");
  }

  createUser(user: NewUser): Promise<{ kind: "created"; user: UserRecord } | { kind: "exists" } | { kind: "key-enrolled" }> {
    return this.#write(() => logic.createUser(user));
  }
  getUser(id: PartyId<"user">): Promise<UserRecord | undefined> {
    return this.#read(() => logic.getUser(id));
  }
  mandates<K extends MandateOperation>(name: K, ...args: Parameters<MandateOperations[K]>): Promise<MandateResult<K>> {
    const operation = mandateOperations[name] as (...a: unknown[]) => logic.Logic<MandateResult<K>>;
    return this.#write(() => operation(...args));
  }
  setMandate(id: PartyId<"user">, mandate: SepaMandate | undefined): Promise<UserRecord | undefined> {
    return this.#write(() => logic.setMandate(id, mandate));
  }
  setMonthlyLimit(id: PartyId<"user">, limit: MinorUnits): Promise<UserRecord | undefined> {
    return this.#write(() => logic.setMonthlyLimit(id, limit));
  }
  setStatus(id: PartyId<"user">, status: AccountStatus): Promise<UserRecord | undefined> {
    return this.#write(() => logic.setStatus(id, status));
  }
  async monthlyUsage(id: PartyId<"user">, at: Date): Promise<MinorUnits> {
    return (await this.#read(() => logic.monthlyUsage(id, at))) as MinorUnits;
  }
  loadCard(load: CardLoadRecord): Promise<CardLoadOutcome> {
    return this.#write(() => logic.loadCard(load));
  }
  async cardFloat(id: PartyId<"user">, currency: CurrencyCode): Promise<MinorUnits> {
    return (await this.#read(() => logic.cardFloat(id, currency))) as MinorUnits;
  }
  topUp(topup: TopupRecord): Promise<TopupOutcome> {
    return this.#write(() => logic.topUp(topup));
  }
  findPaymentByNonce(user: PartyId<"user">, nonce: string): Promise<PaymentRecord | undefined> {
    return this.#read(() => logic.findPaymentByNonce(user, nonce));
  }
  getPayment(id: string): Promise<PaymentRecord | undefined> {
    return this.#read(() => logic.getPayment(id));
  }
  recordPayment(payment: PaymentRecord, key?: PaymentKeyCheck): Promise<PaymentOutcome> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ payment, key, resolve, reject });
      this.#pump();
    });
  }
  listPayments(query: PaymentQuery): Promise<PaymentPage> {
    return this.#read(() => logic.listPayments(query));
  }
  refundPayment(refund: NewRefund): Promise<RefundOutcome> {
    return this.#write(() => logic.refundPayment(refund));
  }
  settleUsage(settlement: NewUsageSettlement): Promise<UsageSettlementOutcome> {
    return this.#write(() => logic.settleUsage(settlement));
  }
  putPublisher(
    publisher: Omit<PublisherRecord, "createdAt" | "updatedAt">,
    at: string,
  ): Promise<{ kind: "created" | "updated"; publisher: PublisherRecord }> {
    return this.#write(() => logic.putPublisher(publisher, at));
  }
  getPublisher(id: PartyId<"publisher">): Promise<PublisherRecord | undefined> {
    return this.#read(() => logic.getPublisher(id));
  }
  listPublishers(): Promise<readonly PublisherRecord[]> {
    return this.#read(() => logic.listPublishers());
  }
  async importRates(
    tables: readonly RateTable[],
    source: string,
    at: string,
  ): Promise<{ inserted: number; replaced: number; unchanged: number }> {
    const result = await this.#write(() => logic.importRates(tables, source, at));
    this.#rates.clear();
    return result;
  }
  ratesOn(date: string): Promise<RateTable | undefined> {
    return this.#rates.get(
      date,
      (d) => this.#read(() => logic.latestRateDay(d)),
      (d) => this.#snapshot(() => logic.ratesOn(d)),
    );
  }
  ledgerTransactions(query: {
    period?: string;
    user?: string;
    after?: number;
    limit: number;
  }): Promise<readonly LedgerTransaction[]> {
    return this.#snapshot(() => logic.ledgerTransactions(query));
  }
  auditLedger(): Promise<LedgerAudit> {
    return this.#snapshot(() => logic.auditLedger());
  }
  closePeriod(period: string, at: string): Promise<ClosedPeriod> {
    return this.#write(() => logic.closePeriod(period, at));
  }
  closedPeriods(): Promise<readonly ClosedPeriod[]> {
    return this.#read(() => logic.closedPeriods());
  }
  periodsWithTransactions(): Promise<readonly string[]> {
    return this.#read(() => logic.periodsWithTransactions());
  }
  periodActivity(period: string): Promise<PeriodActivity> {
    return this.#snapshot(() => logic.periodActivity(period));
  }
  periodSums(period: string): Promise<PeriodSums> {
    return this.#snapshot(() => periodStream.periodSums(period));
  }
  statementEntries(period: string, after: StatementCursor | undefined, limit: number): Promise<readonly StatementEntry[]> {
    return this.#snapshot(() => periodStream.statementEntries(period, after, limit));
  }
  recordSettlement(settlement: SettlementRecord): Promise<{ kind: "recorded" | "existing"; settlement: SettlementRecord }> {
    return this.#write(() => logic.recordSettlement(settlement));
  }
  getSettlement(period: string): Promise<SettlementRecord | undefined> {
    return this.#snapshot(() => logic.getSettlement(period));
  }
  async insertApiKey(key: ApiKeyRecord): Promise<void> {
    await this.#write(() => logic.insertApiKey(key));
  }
  findApiKeyByHash(secretHash: string): Promise<ApiKeyRecord | undefined> {
    return this.#read(() => logic.findApiKeyByHash(secretHash));
  }
  replaceUserKey(id: PartyId<"user">, key: { publicKeyJwk: string; alg: string; kid: string }) {
    return this.#write(() => logic.replaceUserKey(id, key));
  }
  listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#read(() => logic.listApiKeys());
  }
  runExtension<K extends ExtensionName>(name: K, ...args: Parameters<Extensions[K]>): Promise<ExtensionResult<K>> {
    // Made afresh for each attempt: a retried transaction runs the operation from its start.
    const make = () => extensionOperation(name, args).logic;
    return (extensionWrites(name) ? this.#write(make) : this.#read(make)) as Promise<ExtensionResult<K>>;
  }
  revokeApiKey(id: string): Promise<boolean> {
    return this.#write(() => logic.revokeApiKey(id));
  }
  rotateApiKey(id: string, next: ApiKeyRecord): Promise<boolean> {
    return this.#write(() => logic.rotateApiKey(id, next));
  }
  rememberRequestNonce(user: PartyId<"user">, nonce: string, expiresAt: Date, now: Date): Promise<boolean> {
    return this.#write(() => logic.rememberRequestNonce(user, nonce, expiresAt, now));
  }
  counts(): Promise<StoreCounts> {
    return this.#snapshot(() => logic.counts());
  }
  async ping(): Promise<void> {
    await this.#read(() => logic.ping());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
