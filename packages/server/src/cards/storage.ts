/**
 * The card desk's connection to the server's database: its own connection (a second
 * better-sqlite3 handle on the same file, or a small PostgreSQL pool on the same URL and schema),
 * so that the ledger's store stays as it is, run by the store's driver (store/driver.ts): the
 * desk's operations are generators that yield their SQL, as the store's are. On SQLite a write
 * runs synchronously inside BEGIN IMMEDIATE, so a transaction never waits on the event loop while
 * it holds the write lock (the store's connection, on the same thread, would otherwise wait for it
 * in vain); on PostgreSQL it runs on one pooled connection, again from the start after a
 * serialization failure, deadlock or unique violation.
 *
 * Integers come back as numbers or strings; the records parse them (records.ts).
 */
import type Database from "better-sqlite3";
import type pg from "pg";
import { CARD_SCHEMA } from "./migrations.js";
import {
  migratePostgres,
  migrateSqlite,
  openPgPool,
  openSqlite,
  pgTransaction,
  PgStatements,
  SqliteStatements,
  sqliteSettle,
  type Query,
  type Row,
} from "../store/driver.js";

export { all, get, locked, run } from "../store/driver.js";
export type CardRow = Row;
export type CardLogic<T> = Query<T>;

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
  readonly #statements: SqliteStatements;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#statements = new SqliteStatements(db, { safeIntegers: false });
  }

  static open(path: string): SqliteCardDb {
    const db = openSqlite(path);
    try {
      migrateSqlite(db, CARD_SCHEMA);
      return new SqliteCardDb(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  write<T>(make: () => CardLogic<T>): Promise<T> {
    return sqliteSettle(() => this.#db.transaction(() => this.#statements.drive(make())).immediate());
  }

  read<T>(make: () => CardLogic<T>): Promise<T> {
    return sqliteSettle(() => this.#db.transaction(() => this.#statements.drive(make())).deferred());
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

class PgCardDb implements CardDb {
  readonly engine = "postgres" as const;
  readonly #pool: pg.Pool;
  readonly #statements = new PgStatements("peage_card");

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  static async open(url: string, schema: string | undefined): Promise<PgCardDb> {
    const { pool } = await openPgPool(url, { poolSize: 4, schema, exactIntegers: false }, (client) =>
      migratePostgres(client, CARD_SCHEMA),
    );
    return new PgCardDb(pool);
  }

  async #drive<T>(client: pg.PoolClient, operation: CardLogic<T>): Promise<T> {
    let step = operation.next();
    while (!step.done) step = operation.next(await this.#statements.query(client, step.value));
    return step.value;
  }

  write<T>(make: () => CardLogic<T>): Promise<T> {
    return pgTransaction(this.#pool, "BEGIN", (client) => this.#drive(client, make()));
  }

  read<T>(make: () => CardLogic<T>): Promise<T> {
    return pgTransaction(this.#pool, undefined, (client) => this.#drive(client, make()));
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
