/**
 * @peage/server: the Péage payment server. Build the application in-process with buildApp, or
 * run it with startServer (or main.js); initDataDir prepares a data directory from a PKI directory.
 * The operator's tools (the `peage` command) reach its storage, rates and settlement through the
 * exports below; everything else is the server's own. The card desk is "@peage/server/cards", test
 * helpers are "@peage/server/testing".
 *
 * @example
 * ```ts
 * import { buildConfig, initDataDir, startServer } from "@peage/server";
 * await initDataDir({ dataDir: "srv", pkiDir: "pki" });
 * const server = await startServer(buildConfig({ dataDir: "srv", port: 8402 }));
 * console.log(`payment server at ${server.url}`);
 * ```
 */

// Running the server.
export { buildApp, BODY_LIMIT, type App, type AppDeps } from "./app.js";
export { startServer, type RunningServer, type StartOptions } from "./start.js";
export { isWorkerProcess, serve, type Serving } from "./workers.js";
export {
  loadConfig,
  buildConfig,
  ConfigError,
  DEMO_BANK,
  type ServerConfig,
  type CommandLine,
  type LogLevel,
  type OperatorBank,
} from "./config.js";
export {
  initDataDir,
  loadServerIdentity,
  DataDirError,
  DataDirFiles,
  type DataDirErrorCode,
  type InitDataDirOptions,
  type LoadedIdentity,
  type ServerIdentity,
} from "./data-dir.js";
export { HttpProblem } from "./problems.js";

// The operator's API keys.
export { createApiKey, bootstrapApiKey } from "./api-keys.js";

// Exchange rates.
export { parseEcbRateDays, RatesError, type RatesErrorCode } from "./rates/ecb.js";
export { staticRates, FileRateSource, type RateSource } from "./rates/rate-source.js";
// A publisher's account outside the IBAN registry (PublisherRecord.domestic), made only by its parser.
export { parseDomesticAccount, type DomesticAccount } from "./bank/domestic.js";

// Storage: the store on SQLite or PostgreSQL, its migrations and backups.
export { SqliteStore, type SqliteStoreOptions } from "./store/sqlite.js";
export { PgStore, type PgIsolation, type PgStoreOptions } from "./store/postgres.js";
export { openStore, describeStore } from "./store/open.js";
export { migrationStatus, type MigrationState, type MigrationStatus } from "./store/migration-status.js";
export { backupSqlite, type BackupResult } from "./store/backup.js";
export {
  ApiScopes,
  StoreBusyError,
  StoreSchemaError,
  StoreStateError,
  type StoreStateErrorCode,
  type ApiScope,
  type Store,
  type LedgerAudit,
  type PaymentRecord,
} from "./store/store.js";

// Settlement of a period.
export {
  settle,
  SettlementError,
  type SettleOptions,
  type SettleResult,
  type SettleStep,
  type SettlementErrorCode,
} from "./settlement/settle.js";
