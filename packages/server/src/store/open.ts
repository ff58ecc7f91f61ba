/** Opens the store a configuration names: PostgreSQL when it has a database URL, SQLite in the data directory otherwise. */
import { join } from "node:path";
import { DataDirFiles } from "../data-dir.js";
import { PgStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import { openSqliteOnThread } from "./sqlite-thread.js";
import type { Store } from "./store.js";

/**
 * `onThread`: SQLite on a thread of its own (sqlite-thread.ts), as the server runs it, so that
 * commits never hold the event loop; commands that only read or settle keep it on theirs.
 */
export async function openStore(
  config: { readonly dataDir: string; readonly databaseUrl?: string | undefined },
  opts: { readonly onThread?: boolean } = {},
): Promise<Store> {
  if (config.databaseUrl !== undefined) return PgStore.open(config.databaseUrl);
  const path = join(config.dataDir, DataDirFiles.database);
  return opts.onThread ? openSqliteOnThread(path) : SqliteStore.open(path);
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
