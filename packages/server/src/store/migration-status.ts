/**
 * Which schema migrations a database has and which this server would apply at start, read
 * without changing anything (`peage server migrate --status`), so an upgrade can be checked
 * before it runs, and after a restore.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { CARD_SCHEMA } from "../cards/migrations.js";
import { DataDirFiles } from "../data-dir.js";
import { LEDGER_SCHEMA } from "./ledger-schema.js";
import type { Migration } from "./migrations.js";

export interface MigrationState {
  /** "ledger" (the books) or "cards" (the card desk, when the server issues cards). */
  readonly part: "ledger" | "cards";
  readonly version: number;
  readonly name: string;
  /** When it was applied, or undefined when it is pending. */
  readonly appliedAt: string | undefined;
}

export interface MigrationStatus {
  readonly migrations: readonly MigrationState[];
  readonly pending: number;
  /** Versions the database has that this server does not know: it was written by a newer server. */
  readonly unknown: readonly { readonly part: string; readonly version: number }[];
}

type Applied = ReadonlyMap<number, string>;

/** The migration status of the database a config names; a database not created yet has every migration pending. */
export async function migrationStatus(config: {
  readonly dataDir: string;
  readonly databaseUrl?: string | undefined;
}): Promise<MigrationStatus> {
  const read =
    config.databaseUrl === undefined
      ? await readSqlite(join(config.dataDir, DataDirFiles.database))
      : await readPostgres(config.databaseUrl);
  const engine = config.databaseUrl === undefined ? "sqlite" : "postgres";
  const schemas = { ledger: LEDGER_SCHEMA, cards: CARD_SCHEMA };
  const states: MigrationState[] = [];
  const unknown: { part: string; version: number }[] = [];
  for (const part of ["ledger", "cards"] as const) {
    const applied = read[part];
    // The card desk's tables exist only on a server that issues cards.
    if (part === "cards" && applied === undefined) continue;
    const list: readonly Migration[] = schemas[part][engine];
    for (const m of list) states.push({ part, version: m.version, name: m.name, appliedAt: applied?.get(m.version) });
    for (const version of applied?.keys() ?? []) if (!list.some((m) => m.version === version)) unknown.push({ part, version });
  }
  return { migrations: states, pending: states.filter((s) => s.appliedAt === undefined).length, unknown };
}

async function readSqlite(path: string): Promise<{ ledger: Applied | undefined; cards: Applied | undefined }> {
  if (!existsSync(path)) return { ledger: undefined, cards: undefined };
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name),
    );
    const of = (table: string): Applied | undefined =>
      tables.has(table)
        ? new Map(
            (db.prepare(`SELECT version, applied_at FROM ${table}`).all() as { version: number; applied_at: string }[]).map(
              (r) => [r.version, r.applied_at],
            ),
          )
        : undefined;
    return { ledger: of(LEDGER_SCHEMA.table), cards: of(CARD_SCHEMA.table) };
  } finally {
    db.close();
  }
}

async function readPostgres(url: string): Promise<{ ledger: Applied | undefined; cards: Applied | undefined }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const of = async (table: string): Promise<Applied | undefined> => {
      const exists = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [table]);
      if (!exists.rows[0].present) return undefined;
      const rows = (await client.query(`SELECT version, applied_at FROM ${table}`)).rows as {
        version: number;
        applied_at: string;
      }[];
      return new Map(rows.map((r) => [Number(r.version), r.applied_at]));
    };
    return { ledger: await of(LEDGER_SCHEMA.table), cards: await of(CARD_SCHEMA.table) };
  } finally {
    await client.end();
  }
}
