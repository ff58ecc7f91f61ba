/**
 * The server's settings, in one typed object, from (highest precedence first) command-line flags,
 * environment variables, the data directory's server.json, and defaults. Every value is checked
 * here, so the rest of the server never sees a port of "abc".
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { exponentOf, isCurrencyCode, parseDecimal, type CurrencyCode, type MinorUnits } from "@peage/protocol";
import { validateBic, validateCreditorId, validateIban } from "./bank/index.js";
import { DataDirFiles } from "./data-dir.js";

export const LogLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LogLevels)[number];
export const RevocationPolicies = ["best-effort", "require"] as const;
export type RevocationSetting = (typeof RevocationPolicies)[number];

export interface ServerConfig {
  /** Directory of the database, identity, rates and server.json. */
  readonly dataDir: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** ECB reference rates XML. */
  readonly ratesFile: string;
  readonly logLevel: LogLevel;
  /** CRL policy of the trust store (protocol pki/validate.ts). */
  readonly revocation: RevocationSetting;
  /**
   * Where CRLs are fetched from besides DIR/crls/ and the distribution points of the trusted
   * certificates: http(s) URLs, file: URLs or paths (relative to the data directory).
   */
  readonly crlSources: readonly string[];
  /** How often the CRLs are fetched again, seconds. */
  readonly crlRefreshSeconds: number;
  /** Clock difference tolerated with wallets' and merchants' machines, ms. */
  readonly clockSkewMs: number;
  /** How far a signed user request's iat may be from the server's clock, ms. */
  readonly userRequestWindowMs: number;
  /** How long shutdown waits for requests in flight before closing anyway, ms. */
  readonly shutdownTimeoutMs: number;
  /** postgres://… to keep the books on PostgreSQL; undefined for SQLite in DIR/peage.db (the default). */
  readonly databaseUrl: string | undefined;
  /** The server's fee on each payment, in basis points of the price, taken from the publisher's credit. */
  readonly feeBasisPoints: number;
  /** Smallest payout per currency, as a decimal in that currency ("10.00"); "default" for the others. */
  readonly minimumPayouts: Readonly<Record<string, string>>;
  /** The operator's own bank account and SEPA creditor identifier, for the settlement's bank files. */
  readonly bank: OperatorBank;
  /** Server processes sharing the port (workers.ts): one per core on PostgreSQL, always 1 on SQLite (one writer). */
  readonly workers: number;
}

export interface OperatorBank {
  readonly name: string;
  readonly iban: string;
  readonly bic: string;
  /** SEPA creditor identifier (for direct debits). */
  readonly creditorId: string;
}

/**
 * DEMO VALUES: a bank account and creditor identifier of the right shape (the IBAN's and the
 * identifier's check digits are valid) that belong to nobody. Bank files made with them are for
 * trying the settlement out; set "bank" in server.json to the operator's real ones.
 */
export const DEMO_BANK: OperatorBank = {
  name: "Peage demo operator (DEMO VALUES)",
  iban: "FR7630006000011234567890189",
  bic: "DEMOFRPPXXX",
  creditorId: "FR03ZZZDEMO01",
};

/** 8402: "402 Payment Required" (RFC 9110 §15.5.3). */
export const DEFAULT_PORT = 8402;

export const defaults = {
  host: "127.0.0.1",
  port: DEFAULT_PORT,
  logLevel: "info",
  revocation: "best-effort",
  crlRefreshSeconds: 3600,
  clockSkewMs: 5 * 60_000,
  userRequestWindowMs: 5 * 60_000,
  shutdownTimeoutMs: 10_000,
  feeBasisPoints: 0,
} as const satisfies Partial<ServerConfig>;

/** Payouts below this many major units of their currency wait for the next period, unless server.json says otherwise. */
export const DEFAULT_MINIMUM_PAYOUT_MAJOR_UNITS = 10;

/** Environment variables read, by setting. */
export const EnvVars = {
  dataDir: "PEAGE_DATA",
  host: "PEAGE_HOST",
  port: "PEAGE_PORT",
  ratesFile: "PEAGE_RATES",
  logLevel: "PEAGE_LOG_LEVEL",
  revocation: "PEAGE_REVOCATION",
  crlSources: "PEAGE_CRL_SOURCES",
  databaseUrl: "DATABASE_URL",
  workers: "PEAGE_WORKERS",
} as const;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "ERR_CONFIG";
}

export interface CommandLine {
  readonly config: ServerConfig;
  /** --bootstrap-key FILE: create an all-scopes API key on an empty database and write its secret there. */
  readonly bootstrapKeyFile: string | undefined;
  readonly help: boolean;
}

export const usage = `usage: node packages/server/dist/src/main.js --data DIR [options]

  --data DIR            data directory (env ${EnvVars.dataDir}); holds peage.db, server.key, server-chain.pem,
                        trust-roots.pem, crls/, rates.xml and optionally server.json
  --port N              port to listen on, 0 for any free port (env ${EnvVars.port}, default ${DEFAULT_PORT})
  --host ADDRESS        address to listen on (env ${EnvVars.host}, default ${defaults.host})
  --rates FILE          ECB reference rates XML (env ${EnvVars.ratesFile}, default DIR/${DataDirFiles.rates})
  --log-level LEVEL     ${LogLevels.join("|")} (env ${EnvVars.logLevel}, default ${defaults.logLevel})
  --revocation POLICY   best-effort|require (env ${EnvVars.revocation}, default ${defaults.revocation})
  --crl-sources LIST    comma-separated CRL URLs (http, https, file) or paths, fetched again every crlRefreshSeconds
                        (server.json, default ${defaults.crlRefreshSeconds}) with DIR/crls/ and the CRL distribution points
                        of the trusted certificates (env ${EnvVars.crlSources}, or "crlSources" in server.json)
  --database-url URL    postgres://… to use PostgreSQL instead of DIR/peage.db (env ${EnvVars.databaseUrl})
  --workers N           server processes sharing the port, PostgreSQL only (env ${EnvVars.workers}, default one per core
                        on PostgreSQL, 1 on SQLite)
  --bootstrap-key FILE  on an empty database, create an API key with every scope and write its secret to FILE (mode 0600)
`;

/** Reads the configuration from argv (without node and script), the environment and DIR/server.json. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): CommandLine {
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: [...argv],
      options: {
        data: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        rates: { type: "string" },
        "log-level": { type: "string" },
        revocation: { type: "string" },
        "crl-sources": { type: "string" },
        "bootstrap-key": { type: "string" },
        "database-url": { type: "string" },
        workers: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (cause) {
    throw new ConfigError(`${(cause as Error).message}\n${usage}`);
  }
  const str = (name: string): string | undefined => (typeof flags[name] === "string" ? (flags[name] as string) : undefined);
  const help = flags["help"] === true;
  const dataDirText = str("data") ?? env[EnvVars.dataDir];
  if (!dataDirText) {
    if (help) return { config: buildConfig({ dataDir: cwd }, {}), bootstrapKeyFile: undefined, help };
    throw new ConfigError(`no data directory: pass --data DIR or set ${EnvVars.dataDir}\n${usage}`);
  }
  const dataDir = resolve(cwd, dataDirText);
  const file = readConfigFile(join(dataDir, DataDirFiles.config));
  const pick = (flag: string, envName: string, key: string): unknown => str(flag) ?? env[envName] ?? file[key];
  const ratesFromCommandLine = str("rates") ?? env[EnvVars.ratesFile];
  const config = buildConfig(
    { dataDir },
    {
      host: pick("host", EnvVars.host, "host"),
      port: pick("port", EnvVars.port, "port"),
      // A path given on the command line or in the environment is relative to the working
      // directory; one in server.json to the data directory.
      ratesFile: ratesFromCommandLine === undefined ? file["ratesFile"] : resolve(cwd, ratesFromCommandLine),
      logLevel: pick("log-level", EnvVars.logLevel, "logLevel"),
      revocation: pick("revocation", EnvVars.revocation, "revocation"),
      crlSources: pick("crl-sources", EnvVars.crlSources, "crlSources"),
      crlRefreshSeconds: file["crlRefreshSeconds"],
      clockSkewMs: file["clockSkewMs"],
      userRequestWindowMs: file["userRequestWindowMs"],
      shutdownTimeoutMs: file["shutdownTimeoutMs"],
      // Not from server.json: a URL may hold a password, and the data directory is copied around.
      databaseUrl: str("database-url") ?? env[EnvVars.databaseUrl],
      feeBasisPoints: file["feeBasisPoints"],
      minimumPayouts: file["minimumPayouts"],
      bank: file["bank"],
      workers: pick("workers", EnvVars.workers, "workers"),
    },
  );
  const bootstrap = str("bootstrap-key");
  return { config, bootstrapKeyFile: bootstrap === undefined ? undefined : resolve(cwd, bootstrap), help };
}

const fileKeys = [
  "host",
  "port",
  "ratesFile",
  "logLevel",
  "revocation",
  "crlSources",
  "crlRefreshSeconds",
  "clockSkewMs",
  "userRequestWindowMs",
  "shutdownTimeoutMs",
  "feeBasisPoints",
  "minimumPayouts",
  "bank",
  "workers",
];

function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new ConfigError(`${path} is not valid JSON: ${(cause as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError(`${path} must hold a JSON object`);
  for (const key of Object.keys(value)) {
    if (!fileKeys.includes(key)) throw new ConfigError(`${path}: unknown setting "${key}" (known: ${fileKeys.join(", ")})`);
  }
  return value as Record<string, unknown>;
}

/** A complete config from a data directory and optional raw values (strings from flags or env, or JSON values), checked. */
export function buildConfig(base: { dataDir: string }, raw: Partial<Record<Exclude<keyof ServerConfig, "dataDir">, unknown>>): ServerConfig {
  const dataDir = resolve(base.dataDir);
  const rates = raw.ratesFile === undefined ? join(dataDir, DataDirFiles.rates) : text(raw.ratesFile, "ratesFile");
  const database = raw.databaseUrl === undefined || raw.databaseUrl === "" ? undefined : databaseUrl(raw.databaseUrl);
  return {
    dataDir,
    host: raw.host === undefined ? defaults.host : text(raw.host, "host"),
    port: raw.port === undefined ? defaults.port : integer(raw.port, "port", 0, 65535),
    ratesFile: isAbsolute(rates) ? rates : resolve(dataDir, rates),
    logLevel: raw.logLevel === undefined ? defaults.logLevel : oneOf(raw.logLevel, "logLevel", LogLevels),
    revocation: raw.revocation === undefined ? defaults.revocation : oneOf(raw.revocation, "revocation", RevocationPolicies),
    crlSources: raw.crlSources === undefined ? [] : crlSources(raw.crlSources, dataDir),
    crlRefreshSeconds: raw.crlRefreshSeconds === undefined ? defaults.crlRefreshSeconds : integer(raw.crlRefreshSeconds, "crlRefreshSeconds", 10, 7 * 86_400),
    clockSkewMs: raw.clockSkewMs === undefined ? defaults.clockSkewMs : integer(raw.clockSkewMs, "clockSkewMs", 0, 3_600_000),
    userRequestWindowMs:
      raw.userRequestWindowMs === undefined ? defaults.userRequestWindowMs : integer(raw.userRequestWindowMs, "userRequestWindowMs", 1000, 3_600_000),
    shutdownTimeoutMs: raw.shutdownTimeoutMs === undefined ? defaults.shutdownTimeoutMs : integer(raw.shutdownTimeoutMs, "shutdownTimeoutMs", 0, 600_000),
    databaseUrl: database,
    feeBasisPoints: raw.feeBasisPoints === undefined ? defaults.feeBasisPoints : integer(raw.feeBasisPoints, "feeBasisPoints", 0, 10_000),
    minimumPayouts: raw.minimumPayouts === undefined ? {} : minimumPayouts(raw.minimumPayouts),
    bank: raw.bank === undefined ? DEMO_BANK : operatorBank(raw.bank),
    workers: workers(raw.workers, database),
  };
}

/**
 * On PostgreSQL, processes share the books safely (row locks, unique nonces), so one per core by
 * default. On SQLite the file has one writer at a time: more processes would only queue for its lock.
 */
function workers(value: unknown, database: string | undefined): number {
  if (value === undefined) return database === undefined ? 1 : availableParallelism();
  const count = integer(value, "workers", 1, 256);
  if (count > 1 && database === undefined) {
    throw new ConfigError("workers: on SQLite the server runs as one process (the database has one writer): use --workers 1, or keep the books on PostgreSQL (--database-url) to run several");
  }
  return count;
}

function databaseUrl(value: unknown): string {
  const url = text(value, "databaseUrl");
  if (!/^postgres(ql)?:\/\//.test(url)) throw new ConfigError("the database URL must start with postgres:// (leave it unset for SQLite in the data directory)");
  return url;
}

/** A list (JSON array, or comma-separated text) of http(s)/file URLs and paths; paths become absolute. */
function crlSources(value: unknown, dataDir: string): string[] {
  const items = typeof value === "string" ? value.split(",").map((item) => item.trim()).filter((item) => item !== "") : value;
  if (!Array.isArray(items) || !items.every((item): item is string => typeof item === "string" && item.trim() !== "")) {
    throw new ConfigError('crlSources must be a list of URLs or paths, such as ["https://ca.example/publishers.crl", "crls/extra.pem"]');
  }
  return items.map((item) => {
    if (/^https?:\/\//i.test(item) || item.startsWith("file:")) {
      try {
        return new URL(item).href;
      } catch {
        throw new ConfigError(`crlSources: ${item} is not a valid URL`);
      }
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(item)) throw new ConfigError(`crlSources: ${item}: only http, https and file URLs are fetched`);
    return resolve(dataDir, item);
  });
}

function minimumPayouts(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError('minimumPayouts must be an object such as {"EUR": "10.00", "default": "10"}');
  const out: Record<string, string> = {};
  for (const [currency, amount] of Object.entries(value)) {
    if (currency !== "default" && !isCurrencyCode(currency)) throw new ConfigError(`minimumPayouts: ${currency} is not an ISO 4217 currency code (or "default")`);
    if (typeof amount !== "string") throw new ConfigError(`minimumPayouts.${currency} must be a decimal string such as "10.00"`);
    try {
      if (currency !== "default") parseDecimal(amount, currency as CurrencyCode);
      else if (!/^\d{1,12}$/.test(amount)) throw new Error("the default is a whole number of major units");
    } catch (cause) {
      throw new ConfigError(`minimumPayouts.${currency}: ${(cause as Error).message}`);
    }
    out[currency] = amount;
  }
  return out;
}

function operatorBank(value: unknown): OperatorBank {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError("bank must be an object with name, iban, bic and creditorId");
  const record = value as Record<string, unknown>;
  const extra = Object.keys(record).filter((key) => !["name", "iban", "bic", "creditorId"].includes(key));
  if (extra.length > 0) throw new ConfigError(`bank: unknown member(s) ${extra.join(", ")}`);
  const bank = { name: text(record["name"], "bank.name"), iban: text(record["iban"], "bank.iban"), bic: text(record["bic"], "bank.bic"), creditorId: text(record["creditorId"], "bank.creditorId") };
  const iban = validateIban(bank.iban);
  if (!iban.ok) throw new ConfigError(`bank.iban: ${iban.reason}`);
  const bic = validateBic(bank.bic);
  if (!bic.ok) throw new ConfigError(`bank.bic: ${bic.reason}`);
  const creditorId = validateCreditorId(bank.creditorId);
  if (!creditorId.ok) throw new ConfigError(`bank.creditorId: ${creditorId.reason}`);
  return { ...bank, iban: iban.iban };
}

/** The smallest payout in `currency`, in minor units. */
export function minimumPayoutOf(config: Pick<ServerConfig, "minimumPayouts">, currency: CurrencyCode): MinorUnits {
  const configured = config.minimumPayouts[currency];
  if (configured !== undefined) return parseDecimal(configured, currency);
  const major = Number(config.minimumPayouts["default"] ?? DEFAULT_MINIMUM_PAYOUT_MAJOR_UNITS);
  return (major * 10 ** exponentOf(currency)) as MinorUnits;
}

function text(value: unknown, name: string): string {
  if (typeof value !== "string" || value.trim() === "") throw new ConfigError(`${name} must be a non-empty string`);
  return value;
}

function integer(value: unknown, name: string, min: number, max: number): number {
  const number = typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof number !== "number" || !Number.isInteger(number) || number < min || number > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return number;
}

function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}
