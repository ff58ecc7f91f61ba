/**
 * The payment server's books for the commands that work on them offline (`peage ledger verify`,
 * `peage fx import`, `peage settle`): the server's data directory and its database, SQLite in the
 * directory or PostgreSQL when DATABASE_URL (or --database-url) names one, with the server's own
 * settings from DIR/server.json. A directory left by `peage demo --data DIR` is accepted as it
 * is: its server's data directory is DIR/server.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ServerConfig, Store } from "@peage/server";
import type { Options } from "./args.js";
import { CommandError } from "./errors.js";

/** Options every such command takes. */
export const bookOptions = {
  data: {
    type: "string",
    value: "DIR",
    description: "the payment server's data directory, or a directory made by `peage demo --data DIR` (or set PEAGE_DATA)",
  },
  "database-url": {
    type: "string",
    value: "URL",
    description: "postgres://… when the server keeps its books on PostgreSQL (or set DATABASE_URL)",
  },
} as const;

export interface Books {
  readonly config: ServerConfig;
  readonly store: Store;
  readonly server: typeof import("@peage/server");
  /** "SQLite DIR/peage.db" or "PostgreSQL host:port/db", for messages. */
  readonly where: string;
}

/** The server's data directory named by --data: a demo directory's DIR/server when DIR holds a demo. */
export function serverDataDir(data: string): string {
  const dir = resolve(data);
  if (existsSync(join(dir, "demo.json")) && existsSync(join(dir, "server"))) return join(dir, "server");
  return dir;
}

/** Opens the books; the caller closes `store`. */
export async function openBooks(o: Options): Promise<Books> {
  const server = await import("@peage/server");
  const data = o.string("data") ?? process.env["PEAGE_DATA"];
  if (data === undefined) throw o.usage("--data DIR is required: the payment server's data directory");
  const dataDir = serverDataDir(data);
  const url = o.string("database-url");
  let config: ServerConfig;
  try {
    config = server.loadConfig(["--data", dataDir, ...(url === undefined ? [] : ["--database-url", url])]).config;
  } catch (cause) {
    if (cause instanceof server.ConfigError) throw o.usage(cause.message.split("\n")[0]!);
    throw cause;
  }
  if (config.databaseUrl === undefined && !existsSync(join(dataDir, server.DataDirFiles.database))) {
    throw new CommandError(
      "ERR_NO_DATABASE",
      `${dataDir} holds no ${server.DataDirFiles.database}: give the payment server's data directory (or DATABASE_URL for PostgreSQL)`,
    );
  }
  const store = await server.openStore(config);
  return { config, store, server, where: server.describeStore(config) };
}
