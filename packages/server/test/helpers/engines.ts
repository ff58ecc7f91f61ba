/**
 * The two storage engines every storage test runs on. SQLite needs nothing; PostgreSQL needs a
 * cluster: PEAGE_TEST_DATABASE_URL names it (`.ci/run` and `npm test` start one with
 * scripts/pg-start.sh). A test file run on its own starts its own with the same script, except
 * under CI, where a missing cluster is a failure: the PostgreSQL tests never skip.
 *
 * Each PostgreSQL store gets a schema of its own, dropped at the end, so test files and tests can
 * share one cluster without seeing each other's rows.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { PgStore, SqliteStore, type PgStoreOptions, type Store } from "../../src/index.js";

export const ENGINES = ["sqlite", "postgres"] as const;
export type Engine = (typeof ENGINES)[number];

const SCRIPTS = fileURLToPath(new URL("../../../../../scripts/", import.meta.url));
let started: string | undefined;

/** The PostgreSQL cluster's URL; starts one for this process when none is given (never under CI). */
export function testDatabaseUrl(): string {
  const url = process.env["PEAGE_TEST_DATABASE_URL"];
  if (url) return url;
  if (started) return started;
  if (process.env["CI"]) {
    throw new Error(
      "PEAGE_TEST_DATABASE_URL is not set: CI must start PostgreSQL with scripts/pg-start.sh (the PostgreSQL tests do not skip)",
    );
  }
  const out = execFileSync("bash", [`${SCRIPTS}pg-start.sh`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const vars = Object.fromEntries(
    [...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^'(.*)'$/, "$1")]),
  );
  const dir = vars["PEAGE_PG_DIR"];
  process.on("exit", () => {
    if (dir) execFileSync("bash", [`${SCRIPTS}pg-stop.sh`, dir], { stdio: "ignore" });
  });
  started = vars["PEAGE_TEST_DATABASE_URL"]!;
  process.env["PEAGE_TEST_DATABASE_URL"] = started;
  return started;
}

/** Direct access to a store's tables through a separate connection, to prove what a request did or did not change. */
export interface RawDb {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

export interface TestStore {
  readonly engine: Engine;
  readonly store: Store;
  readonly raw: RawDb;
  /** The PostgreSQL schema, or the SQLite file. */
  readonly location: string;
  /** Opens another store on the same database (a second server process would). */
  reopen(): Promise<Store>;
  close(): Promise<void>;
}

/** Numbers in place of the BigInts the drivers return, so that rows compare with plain literals. */
function plain(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) out[key] = typeof value === "bigint" ? Number(value) : value;
  return out;
}

export async function openTestStore(
  engine: Engine,
  dir: string,
  opts: Pick<PgStoreOptions, "poolSize" | "isolation" | "paymentCall" | "batchesInFlight"> = {},
): Promise<TestStore> {
  if (engine === "sqlite") {
    const file = `${dir}/peage.db`;
    const store = SqliteStore.open(file);
    const db = new Database(file);
    db.pragma("busy_timeout = 5000");
    return {
      engine,
      store,
      location: file,
      raw: {
        async query<R>(sql: string, params: readonly unknown[] = []) {
          const statement = db.prepare(sql);
          if (!statement.reader) {
            statement.run(...(params as unknown[]));
            return [];
          }
          return statement
            .safeIntegers(true)
            .all(...(params as unknown[]))
            .map((row) => plain(row as Record<string, unknown>)) as R[];
        },
        async close() {
          db.close();
        },
      },
      reopen: async () => SqliteStore.open(file),
      async close() {
        await store.close();
        if (db.open) db.close();
      },
    };
  }
  const url = testDatabaseUrl();
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const pgOptions = {
    ...(opts.poolSize ? { poolSize: opts.poolSize } : {}),
    ...(opts.isolation ? { isolation: opts.isolation } : {}),
    ...(opts.paymentCall ? { paymentCall: opts.paymentCall } : {}),
    ...(opts.batchesInFlight ? { batchesInFlight: opts.batchesInFlight } : {}),
  };
  const store = await PgStore.open(url, { schema, ...pgOptions });
  const client = new pg.Client({
    connectionString: url,
    options: `-c search_path=${schema}`,
    // int8 and numeric as BigInt, as the store reads them; plain() makes numbers of them.
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === 20 || oid === 1700
          ? (value: string) => BigInt(value)
          : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
    },
  });
  await client.connect();
  let clientOpen = true;
  return {
    engine,
    store,
    location: schema,
    raw: {
      async query<R>(sql: string, params: readonly unknown[] = []) {
        let n = 0;
        const answer = await client.query(
          sql.replace(/\?/g, () => `$${++n}`),
          params as unknown[],
        );
        return answer.rows.map((row: Record<string, unknown>) => plain(row)) as R[];
      },
      async close() {
        if (clientOpen) {
          await client.end();
          clientOpen = false;
        }
      },
    },
    reopen: () => PgStore.open(url, { schema, ...pgOptions }),
    async close() {
      await store.close();
      if (clientOpen) {
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
        await client.end();
        clientOpen = false;
      }
    },
  };
}
