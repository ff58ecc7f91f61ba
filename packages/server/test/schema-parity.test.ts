/**
 * The two engines' migrations must give the same schema, for the ledger and for the card desk:
 * the same tables and views, the same columns with the same types (SQLite INTEGER for PostgreSQL
 * BIGINT or INTEGER, TEXT for TEXT), nullability, defaults and primary keys, the same unique
 * constraints, indexes, foreign keys and number of CHECK constraints, and the same append-only
 * triggers. Each engine is read back from its own catalogue, not from the migrations' text, so a
 * migration added on one engine only (or differently) fails here.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import pg from "pg";
import { CARD_SCHEMA } from "../src/cards/migrations.js";
import { migratePostgres, migrateSqlite, type Schema } from "../src/store/driver.js";
import { LEDGER_SCHEMA } from "../src/store/ledger-schema.js";
import { pgSchemaClient } from "./helpers/engines.js";

interface Column {
  readonly name: string;
  readonly type: "integer" | "text";
  readonly notNull: boolean;
  readonly default: string | null;
}
interface Index {
  readonly name: string;
  readonly unique: boolean;
  readonly columns: string;
  readonly partial: boolean;
}
interface Table {
  /** By name: SQLite's table rebuilds may order them otherwise, and no statement depends on the order. */
  readonly columns: readonly Column[];
  readonly primaryKey: string;
  /** UNIQUE constraints, by their columns (each engine names them its own way). */
  readonly uniques: readonly string[];
  /** Indexes made by CREATE INDEX, by name. */
  readonly indexes: readonly Index[];
  /** "columns -> table(columns) on delete action". */
  readonly foreignKeys: readonly string[];
  readonly checks: number;
  /** The statements a trigger refuses ("DELETE", "UPDATE"). */
  readonly refuses: readonly string[];
}
type Described = Record<string, Table | { readonly view: readonly string[] }>;

const TYPES: Record<string, Column["type"]> = { integer: "integer", bigint: "integer", text: "text" };
function typeOf(declared: string): Column["type"] {
  const type = TYPES[declared.toLowerCase()];
  if (type === undefined) throw new Error(`a column type the parity test does not map: ${declared}`);
  return type;
}
/** A default as written, without PostgreSQL's casts ('active'::text is 'active'). */
const defaultOf = (value: string | null) => (value === null ? null : value.replace(/::[a-z ]+$/, ""));
const byName = (columns: Column[]) => columns.sort((a, b) => a.name.localeCompare(b.name));
const sorted = <T>(list: T[], key: (t: T) => string = String) => list.sort((a, b) => key(a).localeCompare(key(b)));

function describeSqlite(schema: Schema): Described {
  const db = new Database(":memory:");
  db.pragma("foreign_keys = ON");
  migrateSqlite(db, schema);
  const q = <R>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as R[];
  const out: Described = {};
  const objects = q<{ name: string; type: string; sql: string }>(
    "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' AND name <> ?",
    schema.table,
  );
  for (const { name, type, sql } of objects) {
    const info = q<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>(
      "SELECT * FROM pragma_table_info(?)",
      name,
    );
    if (type === "view") {
      out[name] = { view: info.map((c) => c.name) };
      continue;
    }
    assert.match(sql, /\)\s*STRICT$/, `SQLite table ${name} is STRICT`);
    const indexes = q<{ name: string; unique: number; origin: string; partial: number }>(
      "SELECT * FROM pragma_index_list(?)",
      name,
    );
    const columnsOf = (index: string) =>
      q<{ name: string }>("SELECT name FROM pragma_index_info(?) ORDER BY seqno", index)
        .map((c) => c.name)
        .join(",");
    const triggers = q<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", name);
    out[name] = {
      columns: byName(
        info.map((c) => ({
          name: c.name,
          type: typeOf(c.type),
          notNull: c.notnull === 1 || c.pk > 0,
          default: c.dflt_value,
        })),
      ),
      primaryKey: sorted(
        info.filter((c) => c.pk > 0),
        (c) => String(c.pk).padStart(3, "0"),
      )
        .map((c) => c.name)
        .join(","),
      uniques: sorted(indexes.filter((i) => i.origin === "u").map((i) => columnsOf(i.name))),
      indexes: sorted(
        indexes
          .filter((i) => i.origin === "c")
          .map((i) => ({ name: i.name, unique: i.unique === 1, columns: columnsOf(i.name), partial: i.partial === 1 })),
        (i) => i.name,
      ),
      foreignKeys: sorted(
        q<{ table: string; from: string; to: string; on_delete: string }>("SELECT * FROM pragma_foreign_key_list(?)", name).map(
          (f) => `${f.from} -> ${f.table}(${f.to}) on delete ${f.on_delete.toLowerCase()}`,
        ),
      ),
      checks: (sql.match(/\bCHECK\s*\(/g) ?? []).length,
      refuses: sorted(
        triggers.flatMap((t) => ["UPDATE", "DELETE"].filter((event) => new RegExp(`BEFORE\\s+${event}\\b`).test(t.sql))),
      ),
    };
  }
  db.close();
  return out;
}

/** Migrates an empty database schema (the client's search path) and reads it back. */
async function describePostgres(client: pg.Client, schema: Schema): Promise<Described> {
  const [{ name: current }] = (await client.query("SELECT current_schema() AS name")).rows as [{ name: string }];
  await client.query(`DROP SCHEMA "${current}" CASCADE`);
  await client.query(`CREATE SCHEMA "${current}"`);
  await migratePostgres(client, schema);
  const q = async <R>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as R[];
  const out: Described = {};
  const objects = await q<{ name: string; type: string }>(
    `SELECT table_name AS name, table_type AS type FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_name <> $1`,
    [schema.table],
  );
  for (const { name, type } of objects) {
    const info = await q<{ name: string; type: string; nullable: string; dflt: string | null }>(
      `SELECT column_name AS name, data_type AS type, is_nullable AS nullable, column_default AS dflt
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
      [name],
    );
    if (type === "VIEW") {
      out[name] = { view: info.map((c) => c.name) };
      continue;
    }
    const indexes = await q<{
      name: string;
      unique: boolean;
      primary: boolean;
      partial: boolean;
      constraint: string | null;
      columns: string;
    }>(
      `SELECT c.relname AS name, i.indisunique AS unique, i.indisprimary AS primary, i.indpred IS NOT NULL AS partial,
              (SELECT contype FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) AS constraint,
              (SELECT string_agg(a.attname, ',' ORDER BY o.n) FROM unnest(i.indkey) WITH ORDINALITY o(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = o.attnum) AS columns
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass`,
      [name],
    );
    const constraints = await q<{ type: string; definition: string }>(
      "SELECT contype AS type, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = $1::regclass",
      [name],
    );
    const triggers = await q<{ event: string }>(
      `SELECT DISTINCT event_manipulation AS event FROM information_schema.triggers
        WHERE event_object_schema = current_schema() AND event_object_table = $1 AND action_timing = 'BEFORE'`,
      [name],
    );
    out[name] = {
      columns: byName(
        info.map((c) => ({
          name: c.name,
          type: typeOf(c.type),
          notNull: c.nullable === "NO",
          default: defaultOf(c.dflt),
        })),
      ),
      primaryKey: indexes.find((i) => i.primary)?.columns ?? "",
      uniques: sorted(indexes.filter((i) => i.constraint === "u").map((i) => i.columns)),
      indexes: sorted(
        indexes
          .filter((i) => i.constraint === null)
          .map((i) => ({ name: i.name, unique: i.unique, columns: i.columns, partial: i.partial })),
        (i) => i.name,
      ),
      foreignKeys: sorted(constraints.filter((c) => c.type === "f").map((c) => foreignKeyOf(c.definition))),
      checks: constraints.filter((c) => c.type === "c").length,
      refuses: sorted(triggers.map((t) => t.event).filter((event) => event === "UPDATE" || event === "DELETE")),
    };
  }
  return out;
}

/** "FOREIGN KEY (card) REFERENCES card_accounts(card) ON DELETE CASCADE" as the SQLite side writes it. */
function foreignKeyOf(definition: string): string {
  const m = /^FOREIGN KEY \((.+)\) REFERENCES (\w+)\((.+)\)(?: ON DELETE (.+))?$/.exec(definition);
  if (m === null) throw new Error(`a foreign key the parity test does not read: ${definition}`);
  return `${m[1]} -> ${m[2]}(${m[3]}) on delete ${(m[4] ?? "no action").toLowerCase()}`;
}

describe("the two engines' migrations give one schema", () => {
  let client: pg.Client;
  let drop: () => Promise<void>;
  before(async () => {
    ({ client, drop } = await pgSchemaClient("parity"));
  });
  after(() => drop());

  for (const [part, schema] of [
    ["ledger", LEDGER_SCHEMA],
    ["card desk", CARD_SCHEMA],
  ] as const) {
    it(`${part}: the same version numbers on both engines`, () => {
      const names = (list: Schema["sqlite"]) => list.map((m) => `${m.version} ${m.name}`);
      assert.deepEqual(names(schema.postgres), names(schema.sqlite));
    });

    it(`${part}: the same tables, columns, types, keys, constraints, indexes and triggers`, async () => {
      const sqlite = describeSqlite(schema);
      const postgres = await describePostgres(client, schema);
      assert.deepEqual(Object.keys(postgres).sort(), Object.keys(sqlite).sort(), "tables and views");
      for (const name of Object.keys(sqlite)) assert.deepEqual(postgres[name], sqlite[name], `table ${name}`);
    });
  }

  it("the comparison sees a difference: a column added on one engine only fails it", async () => {
    const extra = { version: 999, name: "one engine only", sql: "ALTER TABLE card_incidents ADD COLUMN note TEXT;" };
    const lopsided: Schema = { ...CARD_SCHEMA, table: "parity_lopsided_migrations", sqlite: [...CARD_SCHEMA.sqlite, extra] };
    const sqlite = describeSqlite(lopsided);
    const postgres = await describePostgres(client, { ...lopsided, sqlite: CARD_SCHEMA.sqlite });
    assert.notDeepEqual(postgres["card_incidents"], sqlite["card_incidents"]);
    assert.deepEqual(postgres["card_accounts"], sqlite["card_accounts"]);
  });
});
