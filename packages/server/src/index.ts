/**
 * @peage/server: the Péage payment server. Build the application in-process with buildApp, or
 * run it with startServer (or main.js); initDataDir prepares a data directory from a PKI directory.
 */
export { buildApp, BODY_LIMIT, type App, type AppDeps } from "./app.js";
export { startServer, type RunningServer, type StartOptions } from "./start.js";
export { loadConfig, buildConfig, ConfigError, DEFAULT_PORT, EnvVars, usage, type ServerConfig, type CommandLine, type LogLevel } from "./config.js";
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
export { signUserRequest, authenticateUser, USER_AUTH_SCHEME, UserRequestClaimsSchema, type UserRequestClaims, type UserRequestInput } from "./user-auth.js";
export { parseUserJwk, type PublicJwk } from "./user-keys.js";
export { processPayment, type PaymentAnswer, type PaymentContext } from "./payments.js";
export { parseEcbRates, RatesError, RatesErrorCodes, type RatesErrorCode } from "./rates/ecb.js";
export { FileRateSource, staticRates, type RateSource } from "./rates/rate-source.js";
export { Metrics } from "./metrics.js";
export { problemFor, HttpProblem } from "./problems.js";
export { SqliteStore, monthBounds, type SqliteStoreOptions } from "./store/sqlite.js";
export { migrations, type Migration } from "./store/migrations.js";
export {
  ApiScopes,
  AccountModes,
  AccountStatuses,
  StoreBusyError,
  StoreSchemaError,
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
  type ApiKeyRecord,
} from "./store/store.js";
