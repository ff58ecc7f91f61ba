/**
 * @peage/server: the Péage payment server. Build the application in-process with buildApp, or
 * run it with startServer (or main.js); initDataDir prepares a data directory from a PKI directory.
 */
export { buildApp, BODY_LIMIT, type App, type AppDeps } from "./app.js";
export { startServer, type RunningServer, type StartOptions } from "./start.js";
export { isWorkerProcess, serve, type Serving } from "./workers.js";
export {
  loadConfig,
  buildConfig,
  ConfigError,
  DEFAULT_PORT,
  DEMO_BANK,
  EnvVars,
  minimumPayoutOf,
  usage,
  type ServerConfig,
  type CommandLine,
  type LogLevel,
  type OperatorBank,
} from "./config.js";
export {
  initDataDir,
  loadServerIdentity,
  identityFromPem,
  DataDirError,
  DataDirFiles,
  SAMPLE_RATES_FILE,
  type InitDataDirOptions,
  type LoadedIdentity,
  type ServerIdentity,
} from "./data-dir.js";
export { createApiKey, bootstrapApiKey, hashSecret } from "./api-keys.js";
export {
  signUserRequest,
  authenticateUser,
  USER_AUTH_SCHEME,
  UserRequestClaimsSchema,
  type UserRequestClaims,
  type UserRequestInput,
} from "./user-auth.js";
export { parseUserJwk, type PublicJwk } from "./user-keys.js";
export { processPayment, rateTableFor, type PaymentAnswer, type PaymentContext } from "./payments.js";
export { parseEcbRates, parseEcbRateDays, RatesError, RatesErrorCodes, type RatesErrorCode } from "./rates/ecb.js";
export { FileRateSource, staticRates, type RateSource } from "./rates/rate-source.js";
export { Metrics } from "./metrics.js";
export { problemFor, HttpProblem } from "./problems.js";
export { SqliteStore, monthBounds, type SqliteStoreOptions } from "./store/sqlite.js";
export { PgStore, type PgIsolation, type PgStoreOptions } from "./store/postgres.js";
export { openStore, describeStore } from "./store/open.js";
export { migrations, type Migration } from "./store/migrations.js";
export { pgMigrations } from "./store/pg-migrations.js";
export {
  Accounts,
  assertBalanced,
  collectionPostings,
  feeFor,
  LedgerInvariantError,
  paymentPostings,
  payoutPostings,
  reversePostings,
  topupPostings,
  TransactionKinds,
  type NewTransaction,
  type Posting,
  type TransactionKind,
} from "./ledger/ledger.js";
export { assignPeriod, isPeriod, nextPeriod, periodDays, periodOf } from "./ledger/periods.js";
export {
  settle,
  periodStates,
  periodTotals,
  SettlementError,
  SettlementFiles,
  type Hold,
  type PeriodTotals,
  type SettleOptions,
  type SettleResult,
  type SettleStep,
  type SettlementDetails,
} from "./settlement/settle.js";
export {
  ApiScopes,
  AccountModes,
  AccountStatuses,
  StoreBusyError,
  StoreSchemaError,
  StoreStateError,
  TopupKinds,
  type ApiScope,
  type AccountMode,
  type AccountStatus,
  type Store,
  type StoreCounts,
  type UserRecord,
  type NewUser,
  type PaymentRecord,
  type PaymentOutcome,
  type PaymentQuery,
  type PaymentPage,
  type TopupRecord,
  type TopupOutcome,
  type TopupKind,
  type ApiKeyRecord,
  type SepaMandate,
  type NewRefund,
  type RefundRecord,
  type RefundOutcome,
  type PublisherRecord,
  type LedgerTransaction,
  type LedgerAudit,
  type ClosedPeriod,
  type PeriodActivity,
  type PeriodSums,
  type StatementEntry,
  type StatementPayment,
  type StatementCursor,
  type PayoutRecord,
  type CollectionRecord,
  type SettlementRecord,
} from "./store/store.js";
export { migrationStatus, type MigrationState, type MigrationStatus } from "./store/migration-status.js";
export { backupSqlite, type BackupResult } from "./store/backup.js";
