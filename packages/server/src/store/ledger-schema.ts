/** The ledger's schema: its migrations on each engine (migrations.ts, pg-migrations.ts) and where the versions applied are kept. */
import type { Schema } from "./driver.js";
import { migrations } from "./migrations.js";
import { pgMigrations } from "./pg-migrations.js";

export const LEDGER_SCHEMA: Schema = {
  label: "schema",
  table: "schema_migrations",
  lock: "peage.migrate",
  sqlite: migrations,
  postgres: pgMigrations,
};
