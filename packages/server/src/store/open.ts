/** Opens the store a configuration names: PostgreSQL when it has a database URL, SQLite in the data directory otherwise. */
import { join } from "node:path";
import { DataDirFiles } from "../data-dir.js";
import { PgStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./store.js";

export async function openStore(config: { readonly dataDir: string; readonly databaseUrl?: string | undefined }): Promise<Store> {
  if (config.databaseUrl !== undefined) return PgStore.open(config.databaseUrl);
  return SqliteStore.open(join(config.dataDir, DataDirFiles.database));
}

/** Which engine a configuration uses, for logs and reports; the URL's password is never shown. */
export function describeStore(config: { readonly dataDir: string; readonly databaseUrl?: string | undefined }): string {
  if (config.databaseUrl === undefined) return `SQLite ${join(config.dataDir, DataDirFiles.database)}`;
  try {
    const url = new URL(config.databaseUrl);
    return `PostgreSQL ${url.hostname}${url.port ? `:${url.port}` : ""}${url.pathname}`;
  } catch {
    return "PostgreSQL";
  }
}
