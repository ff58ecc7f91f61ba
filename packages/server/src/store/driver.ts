/**
 * The one storage driver under the ledger's store (sqlite.ts, postgres.ts) and the card desk
 * (cards/storage.ts): how an operation's queries reach each engine, the transaction runner, the
 * retry loop after a serialization failure, and the migration runner. Operations are generators
 * that yield their SQL (`?` placeholders, SQL both engines understand) and receive the rows, so
 * that each is written once: on SQLite a driver runs one synchronously inside a better-sqlite3
 * transaction, so it never yields to the event loop while it holds the write lock; on PostgreSQL
 * it runs on one pooled connection, again from the start after a retryable failure.
 */
import Database from "better-sqlite3";
import pg from "pg";
import type { Migration } from "./migrations.js";
import { StoreBusyError, StoreSchemaError } from "./store.js";

/** A query an operation yields: rows back for "all", the number of rows changed for "run". */
export type SqlOp =
  | { readonly op: "all"; readonly sql: string; readonly params: readonly unknown[]; readonly forUpdate?: boolean }
  | { readonly op: "run"; readonly sql: string; readonly params: readonly unknown[] };
export type Row = Record<string, unknown>;
/** An operation, or a part of one, that yields only queries. */
export type Query<T> = Generator<SqlOp, T, unknown>;

export function* all<R = Row>(sql: string, ...params: unknown[]): Query<R[]> {
  return (yield { op: "all", sql, params }) as R[];
}
export function* get<R = Row>(sql: string, ...params: unknown[]): Query<R | undefined> {
  return (yield* all<R>(sql, ...params))[0];
}
/** A row locked until the end of the transaction (PostgreSQL FOR UPDATE; SQLite's writer holds the one write lock already). */
export function* locked<R = Row>(sql: string, ...params: unknown[]): Query<R | undefined> {
  return ((yield { op: "all", sql, params, forUpdate: true }) as R[])[0];
}
export function* run(sql: string, ...params: unknown[]): Query<number> {
  return (yield { op: "run", sql, params }) as number;
}

// ---------------------------------------------------------------------------------------------
// SQLite

/** Opens a better-sqlite3 connection with the durability settings every writer uses. */
export function openSqlite(
  path: string,
  opts: { readonly busyTimeoutMs?: number; readonly readonly?: boolean } = {},
): Database.Database {
  const db = new Database(path, { readonly: opts.readonly ?? false });
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000))}`);
    if (!opts.readonly) db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Prepared statements of one SQLite connection, kept by their SQL. */
export class SqliteStatements {
  readonly #db: Database.Database;
  readonly #safeIntegers: boolean;
  readonly #statements = new Map<string, Database.Statement>();

  /** `safeIntegers`: integer columns as BigInt, so that no sum is ever rounded. */
  constructor(db: Database.Database, opts: { readonly safeIntegers: boolean }) {
    this.#db = db;
    this.#safeIntegers = opts.safeIntegers;
  }

  /** Runs one query; the caller holds the transaction. */
  query(op: SqlOp): unknown {
    let statement = this.#statements.get(op.sql);
    if (!statement) {
      statement = this.#db.prepare(op.sql);
      if (this.#safeIntegers && statement.reader) statement.safeIntegers(true);
      this.#statements.set(op.sql, statement);
    }
    const params = op.params as unknown[];
    return op.op === "all" ? statement.all(...params) : statement.run(...params).changes;
  }

  /**
   * Runs an operation of one query outside any transaction: one statement reads one consistent
   * snapshot by itself, and BEGIN and COMMIT around it would cost two statements more. An
   * operation that yields a second query is refused (a second statement could see a later commit).
   */
  driveOne<T, O extends { readonly op: string }>(operation: Generator<O, T, unknown>): T {
    let step = operation.next();
    if (!step.done) {
      const op = step.value as O | SqlOp;
      if (op.op !== "all") throw new TypeError(`an operation run as a single read yielded "${op.op}"`);
      step = operation.next(this.query(op as SqlOp));
    }
    if (!step.done) throw new TypeError("an operation run as a single read yielded a second step");
    return step.value;
  }

  /**
   * Runs one operation's queries, synchronously, inside the caller's transaction. Any other step
   * it yields (the ledger lock) needs nothing here: BEGIN IMMEDIATE already holds the one write lock.
   */
  drive<T, O extends { readonly op: string }>(operation: Generator<O, T, unknown>): T {
    let step = operation.next();
    while (!step.done) {
      const op = step.value as O | SqlOp;
      step = operation.next(op.op === "all" || op.op === "run" ? this.query(op as SqlOp) : undefined);
    }
    return step.value;
  }
}

/** Turns SQLite's lock errors into StoreBusyError, which the HTTP layer answers with a retryable 503. */
export function sqliteGuard<T>(fn: () => T): T {
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

/** Runs synchronously, now, and gives the outcome as a promise (storage interfaces are async, for PostgreSQL). */
export function sqliteSettle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(sqliteGuard(fn));
  } catch (error) {
    return Promise.reject(error);
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** A quoted identifier for a schema name given by a caller. */
export function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new TypeError(`not a schema name: ${name}`);
  return `"${name}"`;
}

/** int8 and numeric (sums of int8) as BigInt: exact, like SQLite's safeIntegers. */
const exactIntegers = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === 20 || oid === 1700) return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

export interface PgPoolOptions {
  readonly poolSize: number;
  /** A schema of its own (created if missing) instead of the URL's default. */
  readonly schema?: string | undefined;
  /** int8 and numeric as BigInt (else as the strings node-postgres gives). */
  readonly exactIntegers: boolean;
}

/**
 * Opens a pool, creates the schema if asked and runs `init` (the migrations) on one connection;
 * the pool is ended again if anything fails.
 */
export async function openPgPool<R>(
  url: string,
  opts: PgPoolOptions,
  init: (client: pg.PoolClient) => Promise<R>,
): Promise<{ pool: pg.Pool; ready: R }> {
  const schema = opts.schema === undefined ? undefined : identifier(opts.schema);
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize,
    ...(opts.exactIntegers ? { types: exactIntegers } : {}),
    ...(opts.schema === undefined ? {} : { options: `-c search_path=${opts.schema}` }),
  });
  // An idle connection that breaks (the server restarted) is dropped by the pool; without a
  // listener its error would end the process.
  pool.on("error", () => undefined);
  try {
    const client = await pool.connect().catch((cause: unknown) => {
      throw new StoreBusyError(`cannot connect to PostgreSQL: ${(cause as Error).message}`);
    });
    try {
      if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      return { pool, ready: await init(client) };
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** Named prepared statements, `?` turned into `$n`, kept by their SQL. */
export class PgStatements {
  readonly #sql = new Map<string, { name: string; text: string }>();
  readonly #prefix: string;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** Runs one query on the caller's connection. */
  async query(client: pg.PoolClient, op: SqlOp): Promise<unknown> {
    const forUpdate = op.op === "all" && op.forUpdate === true;
    const key = forUpdate ? `${op.sql}\u0000U` : op.sql;
    let prepared = this.#sql.get(key);
    if (!prepared) {
      let n = 0;
      const text = op.sql.replace(/\?/g, () => `$${++n}`) + (forUpdate ? " FOR UPDATE" : "");
      prepared = { name: `${this.#prefix}_${this.#sql.size}`, text };
      this.#sql.set(key, prepared);
    }
    const answer = await client.query({ name: prepared.name, text: prepared.text, values: op.params as unknown[] });
    return op.op === "all" ? answer.rows : (answer.rowCount ?? 0);
  }
}

/**
 * SQLSTATEs after which the whole transaction is run again: a serialization failure (40001), a
 * deadlock (40P01), and a unique violation (23505: two requests racing with one nonce or
 * idempotency key; run again, the loser sees the winner's row and answers accordingly).
 */
const RETRYABLE = new Set(["40001", "40P01", "23505"]);
const MAX_ATTEMPTS = 16;
/** Pause before attempt n + 1: random up to min(2^n, 250) ms ("full jitter"), so that racing retries spread out. */
const backoff = (attempt: number) => new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 250)));

export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Runs `body` on a pooled connection inside `begin … COMMIT` (with no transaction of its own when
 * `begin` is undefined: reads of committed rows), and again from the start after a retryable
 * failure, so `body` must build everything it runs afresh on each call. `onRetry` counts retries.
 */
export async function pgTransaction<T>(
  pool: pg.Pool,
  begin: string | undefined,
  body: (client: pg.PoolClient) => Promise<T>,
  onRetry: () => void = () => undefined,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (cause) {
      throw new StoreBusyError(`cannot get a PostgreSQL connection: ${(cause as Error).message}`);
    }
    let broken = false;
    try {
      if (begin === undefined) return await body(client);
      await client.query(begin);
      try {
        const result = await body(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => (broken = true));
        throw error;
      }
    } catch (error) {
      const code = sqlState(error);
      if (code !== undefined && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) {
        onRetry();
        await backoff(attempt);
        continue;
      }
      if (code !== undefined && /^(08|57P)/.test(code))
        throw new StoreBusyError(`PostgreSQL connection failure (${code}): retry shortly`);
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Migrations

/**
 * One schema's migrations on each engine, with the same version numbers for the same tables, and
 * where the versions applied are recorded. The ledger and the card desk each have one; their
 * tables of versions differ, so a database written by a newer server is refused part by part.
 */
export interface Schema {
  /** What the error messages call it: "schema" or "card desk schema". */
  readonly label: string;
  /** The table of versions applied. */
  readonly table: string;
  /** The name of the advisory lock PostgreSQL servers take to migrate one at a time (per database schema). */
  readonly lock: string;
  readonly sqlite: readonly Migration[];
  readonly postgres: readonly Migration[];
}

function checkKnown(schema: Schema, applied: Iterable<number>, list: readonly Migration[]): void {
  const known = new Set(list.map((m) => m.version));
  const unknown = [...applied].filter((version) => !known.has(version));
  if (unknown.length > 0) {
    throw new StoreSchemaError(
      `the database has ${schema.label} version(s) ${unknown.join(", ")} that this server does not know: run a newer server, or restore a backup`,
    );
  }
}

const inOrder = (list: readonly Migration[]) => [...list].sort((a, b) => a.version - b.version);

/** Applies the SQLite migrations the database lacks, each in its own transaction. */
export function migrateSqlite(db: Database.Database, schema: Schema, list: readonly Migration[] = schema.sqlite): void {
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${schema.table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`,
  );
  const applied = new Set(
    (db.prepare(`SELECT version FROM ${schema.table}`).all() as { version: number }[]).map((row) => row.version),
  );
  checkKnown(schema, applied, list);
  const record = db.prepare(`INSERT INTO ${schema.table} (version, name, applied_at) VALUES (?, ?, ?)`);
  for (const migration of inOrder(list)) {
    if (applied.has(migration.version)) continue;
    // PRAGMA foreign_keys is a no-op inside a transaction: it is switched around it.
    if (migration.rebuildsTables) db.pragma("foreign_keys = OFF");
    try {
      db.transaction(() => {
        db.exec(migration.sql);
        if (migration.rebuildsTables && (db.pragma("foreign_key_check") as unknown[]).length > 0) {
          throw new StoreSchemaError(
            `migration ${migration.version} (${migration.name}) would break a foreign key: nothing was changed`,
          );
        }
        record.run(migration.version, migration.name, new Date().toISOString());
      }).immediate();
    } finally {
      if (migration.rebuildsTables) db.pragma("foreign_keys = ON");
    }
  }
}

/** Applies the PostgreSQL migrations the database lacks, each in its own transaction, one server at a time. */
export async function migratePostgres(
  client: pg.PoolClient | pg.Client,
  schema: Schema,
  list: readonly Migration[] = schema.postgres,
): Promise<void> {
  const lock = `hashtext('${schema.lock}.' || current_schema())`;
  await client.query(`SELECT pg_advisory_lock(${lock})`);
  try {
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema.table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
    );
    const applied = new Set(
      (await client.query(`SELECT version FROM ${schema.table}`)).rows.map((row: { version: number }) => row.version),
    );
    checkKnown(schema, applied, list);
    for (const migration of inOrder(list)) {
      if (applied.has(migration.version)) continue;
      await client.query("BEGIN");
      try {
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${schema.table} (version, name, applied_at) VALUES ($1, $2, $3)`, [
          migration.version,
          migration.name,
          new Date().toISOString(),
        ]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw error;
      }
    }
  } finally {
    await client.query(`SELECT pg_advisory_unlock(${lock})`);
  }
}

/**
 * What differs between the engines in a table's description, so that a schema written once gives
 * each engine its own DDL: integer width, STRICT tables, and how a row's position is generated.
 */
export interface Dialect {
  readonly engine: "sqlite" | "postgres";
  /** A 64-bit integer column: SQLite's INTEGER is 64-bit already. */
  readonly int: string;
  /** After a table's closing parenthesis: SQLite's STRICT refuses a value of the wrong type. */
  readonly strict: string;
  /** A generated position as primary key. */
  readonly seqKey: string;
}

export const DIALECTS: { readonly sqlite: Dialect; readonly postgres: Dialect } = {
  sqlite: { engine: "sqlite", int: "INTEGER", strict: " STRICT", seqKey: "INTEGER PRIMARY KEY" },
  postgres: { engine: "postgres", int: "BIGINT", strict: "", seqKey: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" },
};
