/**
 * The card desk's connection to the server's database: its own connection (a second
 * better-sqlite3 handle on the same file, or a small PostgreSQL pool on the same URL and schema),
 * so that the ledger's store stays as it is. The desk's operations are generators that yield
 * their SQL, as the store's are (store/logic.ts): on SQLite a driver runs one synchronously inside
 * BEGIN IMMEDIATE, so a transaction never waits on the event loop while it holds the write lock
 * (the store's connection, on the same thread, would otherwise wait for it in vain); on
 * PostgreSQL it runs on one pooled connection, again from the start after a serialization
 * failure, deadlock or unique violation.
 *
 * Integers come back as numbers, checked to be safe integers.
 */
import Database from "better-sqlite3";
import pg from "pg";
import { CARD_MIGRATIONS_TABLE, cardMigrations, cardPgMigrations } from "./migrations.js";
import type { Migration } from "../store/migrations.js";
import { StoreBusyError, StoreSchemaError } from "../store/store.js";

export type CardOp =
  | { readonly op: "all"; readonly sql: string; readonly params: readonly unknown[]; readonly forUpdate?: boolean }
  | { readonly op: "run"; readonly sql: string; readonly params: readonly unknown[] };
export type CardRow = Record<string, unknown>;
export type CardLogic<T> = Generator<CardOp, T, unknown>;

export function* all<R = CardRow>(sql: string, ...params: unknown[]): CardLogic<R[]> {
  return (yield { op: "all", sql, params }) as R[];
}
export function* get<R = CardRow>(sql: string, ...params: unknown[]): CardLogic<R | undefined> {
  return (yield* all<R>(sql, ...params))[0];
}
/** A row locked until the end of the transaction (PostgreSQL FOR UPDATE; SQLite holds the one write lock already). */
export function* locked<R = CardRow>(sql: string, ...params: unknown[]): CardLogic<R | undefined> {
  return ((yield { op: "all", sql, params, forUpdate: true }) as R[])[0];
}
export function* run(sql: string, ...params: unknown[]): CardLogic<number> {
  return (yield { op: "run", sql, params }) as number;
}

/** An integer column as a number; throws if it is not a safe integer. */
export function num(value: unknown): number {
  const n = typeof value === "bigint" || typeof value === "string" ? Number(value) : (value as number);
  if (!Number.isSafeInteger(n)) throw new RangeError(`integer out of the safe range: ${String(value)}`);
  return n;
}
export function optNum(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : num(value);
}

export interface CardDb {
  readonly engine: "sqlite" | "postgres";
  /** Runs a writing operation in one transaction (`make` gives a fresh generator for each attempt). */
  write<T>(make: () => CardLogic<T>): Promise<T>;
  /** Runs a reading operation. */
  read<T>(make: () => CardLogic<T>): Promise<T>;
  close(): Promise<void>;
}

export interface CardDbLocation {
  /** The SQLite database file (the store's peage.db). */
  readonly sqlitePath?: string;
  /** Or PostgreSQL: the URL, and a schema when the store uses one. */
  readonly databaseUrl?: string;
  readonly schema?: string;
}

/** Opens the card desk's connection and brings its tables up to date. */
export async function openCardDb(location: CardDbLocation): Promise<CardDb> {
  if (location.databaseUrl !== undefined) return PgCardDb.open(location.databaseUrl, location.schema);
  if (location.sqlitePath === undefined) throw new TypeError("the card desk needs the SQLite file or a PostgreSQL URL");
  return SqliteCardDb.open(location.sqlitePath);
}

class SqliteCardDb implements CardDb {
  readonly engine = "sqlite" as const;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  static open(path: string): SqliteCardDb {
    const db = new Database(path);
    try {
      db.pragma("busy_timeout = 5000");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      migrateSqlite(db, cardMigrations);
      return new SqliteCardDb(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  #drive<T>(operation: CardLogic<T>): T {
    let step = operation.next();
    while (!step.done) {
      const op = step.value;
      let statement = this.#statements.get(op.sql);
      if (!statement) {
        statement = this.#db.prepare(op.sql);
        this.#statements.set(op.sql, statement);
      }
      const result =
        op.op === "all" ? statement.all(...(op.params as unknown[])) : statement.run(...(op.params as unknown[])).changes;
      step = operation.next(result);
    }
    return step.value;
  }

  write<T>(make: () => CardLogic<T>): Promise<T> {
    return settle(() => this.#db.transaction(() => this.#drive(make())).immediate());
  }

  read<T>(make: () => CardLogic<T>): Promise<T> {
    return settle(() => this.#db.transaction(() => this.#drive(make())).deferred());
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

function migrateSqlite(db: Database.Database, list: readonly Migration[]): void {
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${CARD_MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`,
  );
  const applied = new Set(
    (db.prepare(`SELECT version FROM ${CARD_MIGRATIONS_TABLE}`).all() as { version: number }[]).map((row) => row.version),
  );
  checkKnown(applied, list);
  const record = db.prepare(`INSERT INTO ${CARD_MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`);
  for (const migration of [...list].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    }).immediate();
  }
}

function checkKnown(applied: ReadonlySet<number>, list: readonly Migration[]): void {
  const known = new Set(list.map((m) => m.version));
  const unknown = [...applied].filter((version) => !known.has(version));
  if (unknown.length > 0) {
    throw new StoreSchemaError(
      `the database has card desk schema version(s) ${unknown.join(", ")} that this server does not know: run a newer server, or restore a backup`,
    );
  }
}

/** SQLSTATEs after which the whole transaction is run again. */
const RETRYABLE = new Set(["40001", "40P01", "23505"]);
const MAX_ATTEMPTS = 8;

class PgCardDb implements CardDb {
  readonly engine = "postgres" as const;
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  static async open(url: string, schema: string | undefined): Promise<PgCardDb> {
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new TypeError(`not a schema name: ${schema}`);
    const pool = new pg.Pool({
      connectionString: url,
      max: 4,
      ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    });
    pool.on("error", () => undefined);
    try {
      const client = await pool.connect().catch((cause: unknown) => {
        throw new StoreBusyError(`cannot connect to PostgreSQL: ${(cause as Error).message}`);
      });
      try {
        if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
        await migratePg(client, cardPgMigrations);
      } finally {
        client.release();
      }
      return new PgCardDb(pool);
    } catch (error) {
      await pool.end();
      throw error;
    }
  }

  async #drive<T>(client: pg.PoolClient, operation: CardLogic<T>): Promise<T> {
    let step = operation.next();
    while (!step.done) {
      const op = step.value;
      let n = 0;
      const text = op.sql.replace(/\?/g, () => `$${++n}`) + (op.op === "all" && op.forUpdate ? " FOR UPDATE" : "");
      const answer = await client.query(text, op.params as unknown[]);
      step = operation.next(op.op === "all" ? answer.rows : (answer.rowCount ?? 0));
    }
    return step.value;
  }

  async #transaction<T>(make: () => CardLogic<T>, write: boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (cause) {
        throw new StoreBusyError(`cannot get a PostgreSQL connection: ${(cause as Error).message}`);
      }
      let broken = false;
      try {
        if (!write) return await this.#drive(client, make());
        await client.query("BEGIN");
        try {
          const result = await this.#drive(client, make());
          await client.query("COMMIT");
          return result;
        } catch (error) {
          await client.query("ROLLBACK").catch(() => (broken = true));
          throw error;
        }
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === "string" && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
          continue;
        }
        if (typeof code === "string" && /^(08|57P)/.test(code))
          throw new StoreBusyError(`PostgreSQL connection failure (${code}): retry shortly`);
        throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  write<T>(make: () => CardLogic<T>): Promise<T> {
    return this.#transaction(make, true);
  }

  read<T>(make: () => CardLogic<T>): Promise<T> {
    return this.#transaction(make, false);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

async function migratePg(client: pg.PoolClient, list: readonly Migration[]): Promise<void> {
  await client.query("SELECT pg_advisory_lock(hashtext('peage.cards.migrate.' || current_schema()))");
  try {
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${CARD_MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
    );
    const applied = new Set(
      (await client.query(`SELECT version FROM ${CARD_MIGRATIONS_TABLE}`)).rows.map((row: { version: number }) => row.version),
    );
    checkKnown(applied, list);
    for (const migration of [...list].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      await client.query("BEGIN");
      try {
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${CARD_MIGRATIONS_TABLE} (version, name, applied_at) VALUES ($1, $2, $3)`, [
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
    await client.query("SELECT pg_advisory_unlock(hashtext('peage.cards.migrate.' || current_schema()))");
  }
}

/** Runs synchronously, now, and gives the outcome as a promise; SQLite's lock errors become StoreBusyError. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || code === "SQLITE_BUSY_SNAPSHOT") {
      return Promise.reject(new StoreBusyError(`the database is busy (${String(code)}); retry shortly`));
    }
    return Promise.reject(error);
  }
}
