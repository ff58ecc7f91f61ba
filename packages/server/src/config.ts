/**
 * The server's settings, in one typed object, from (highest precedence first) command-line flags,
 * environment variables, the data directory's server.json, and defaults. Every value is checked
 * here, so the rest of the server never sees a port of "abc".
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { isIP } from "node:net";
import { isAbsolute, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { exponentOf, isCurrencyCode, PeageError, parseDecimal, type CurrencyCode, type MinorUnits } from "@peage/protocol";
import { validateBic, validateCreditorId, validateIban } from "./bank/index.js";
import { DataDirFiles } from "./data-dir.js";
import type { KeySource } from "./signing-key.js";

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
  /**
   * One per core by default. PostgreSQL: server processes sharing the port (workers.ts). SQLite:
   * threads that check and sign payment requests beside the one process's event loop and its one
   * writer (payment-pool.ts); 1 keeps that work on the event loop.
   */
  readonly workers: number;
  /** HTTPS with this certificate chain and key (PEM files, read again on SIGHUP); plain HTTP when absent. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /**
   * Addresses or CIDR ranges of the reverse proxies in front of the server, whose X-Forwarded-For
   * and X-Forwarded-Proto are believed; empty: none (the peer's address is the client's).
   */
  readonly trustProxy: readonly string[];
  /** Where GET /metrics is answered: its own listener (loopback by default), the public one, or nowhere. */
  readonly metrics: MetricsListener;
  /** Where the signing key lives: DIR/server.key (optionally encrypted), or a PKCS#11 token. */
  readonly key: KeySource;
}

export type MetricsListener =
  | { readonly kind: "separate"; readonly host: string; readonly port: number }
  | { readonly kind: "public" }
  | { readonly kind: "off" };

/** The metrics listener's port when the server has a fixed port: 9402, next to 8402. */
export const DEFAULT_METRICS_PORT = 9402;

export interface OperatorBank {
  readonly name: string;
  readonly iban: string;
  readonly bic: string;
  /** SEPA creditor identifier (for direct debits). */
  readonly creditorId: string;
  /**
   * Where the bank keeps an account per currency: the account each currency's transfers are
   * debited from (its own PmtInf), by ISO 4217 code; other currencies are paid from `iban`.
   */
  readonly currencyAccounts?: Readonly<Record<string, { readonly iban: string; readonly bic: string }>>;
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
  tlsCert: "PEAGE_TLS_CERT",
  tlsKey: "PEAGE_TLS_KEY",
  trustProxy: "PEAGE_TRUST_PROXY",
  metrics: "PEAGE_METRICS",
  keyPassphrase: "PEAGE_KEY_PASSPHRASE",
  pkcs11Pin: "PEAGE_PKCS11_PIN",
} as const;

/** The server's configuration (flags, environment, server.json) is wrong; the message says which value and how to fix it. */
export class ConfigError extends PeageError<"ERR_CONFIG"> {
  override readonly name = "ConfigError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_CONFIG", message, options);
  }
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
  --workers N           PostgreSQL: server processes sharing the port; SQLite: threads that check and sign payment
                        requests beside the one writer, 1 for none (env ${EnvVars.workers}, default one per core)
  --bootstrap-key FILE  on an empty database, create an API key with every scope and write its secret to FILE (mode 0600)
  --tls-cert FILE       serve HTTPS with this PEM certificate chain (env ${EnvVars.tlsCert}); re-read on SIGHUP
  --tls-key FILE        the TLS private key, PEM (env ${EnvVars.tlsKey})
  --trust-proxy LIST    comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-* headers
                        are believed (env ${EnvVars.trustProxy}, default none)
  --metrics WHERE       HOST:PORT for a separate metrics listener, "public" to answer /metrics on the main
                        listener, or "off" (env ${EnvVars.metrics}, default 127.0.0.1:${DEFAULT_METRICS_PORT}; 127.0.0.1:0 with --port 0)
  --key-passphrase-file FILE  passphrase of an encrypted server.key (or env ${EnvVars.keyPassphrase})
`;

/** Reads the configuration from argv (without node and script), the environment and DIR/server.json. */
export function loadConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): CommandLine {
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
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "trust-proxy": { type: "string" },
        metrics: { type: "string" },
        "key-passphrase-file": { type: "string" },
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
      tls: tlsSetting(str("tls-cert") ?? env[EnvVars.tlsCert], str("tls-key") ?? env[EnvVars.tlsKey], file["tls"], cwd, dataDir),
      trustProxy: pick("trust-proxy", EnvVars.trustProxy, "trustProxy"),
      metrics: pick("metrics", EnvVars.metrics, "metrics"),
      key: keySource(str("key-passphrase-file"), env, file, cwd, dataDir),
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
  "tls",
  "trustProxy",
  "metrics",
  "keyPassphraseFile",
  "pkcs11",
];

/** --tls-cert and --tls-key (relative to the working directory) or server.json's tls {cert, key} (relative to the data directory). */
function tlsSetting(cert: string | undefined, key: string | undefined, fromFile: unknown, cwd: string, dataDir: string): unknown {
  if (cert !== undefined || key !== undefined) {
    if (cert === undefined || key === undefined) throw new ConfigError("TLS needs both --tls-cert and --tls-key");
    return { cert: resolve(cwd, cert), key: resolve(cwd, key) };
  }
  if (fromFile === undefined) return undefined;
  if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile))
    throw new ConfigError('tls must be {"cert": FILE, "key": FILE}');
  const { cert: c, key: k, ...rest } = fromFile as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new ConfigError(`tls: unknown member(s) ${Object.keys(rest).join(", ")}`);
  return { cert: resolve(dataDir, text(c, "tls.cert")), key: resolve(dataDir, text(k, "tls.key")) };
}

/** The signing key's location and the secret that opens it, read from its file or variable now. */
function keySource(
  passphraseFlag: string | undefined,
  env: NodeJS.ProcessEnv,
  file: Record<string, unknown>,
  cwd: string,
  dataDir: string,
): KeySource {
  const pkcs11 = file["pkcs11"];
  if (pkcs11 !== undefined) {
    if (typeof pkcs11 !== "object" || pkcs11 === null || Array.isArray(pkcs11))
      throw new ConfigError("pkcs11 must be an object: {module, token, label, pinFile}");
    const { module, token, label, pinFile, ...rest } = pkcs11 as Record<string, unknown>;
    if (Object.keys(rest).length > 0)
      throw new ConfigError(`pkcs11: unknown member(s) ${Object.keys(rest).join(", ")} (known: module, token, label, pinFile)`);
    const fromPinFile =
      pinFile === undefined ? undefined : secretFile(resolve(dataDir, text(pinFile, "pkcs11.pinFile")), "pkcs11.pinFile");
    const pin = env[EnvVars.pkcs11Pin] ?? fromPinFile;
    if (pin === undefined)
      throw new ConfigError(`the PKCS#11 token needs its PIN: set pkcs11.pinFile in server.json or ${EnvVars.pkcs11Pin}`);
    const where = {
      module: text(module, "pkcs11.module"),
      token: text(token, "pkcs11.token"),
      label: text(label, "pkcs11.label"),
    };
    return { kind: "pkcs11", ...where, pin };
  }
  const fromFile = file["keyPassphraseFile"];
  const inFile = fromFile === undefined ? undefined : resolve(dataDir, text(fromFile, "keyPassphraseFile"));
  const path = passphraseFlag !== undefined ? resolve(cwd, passphraseFlag) : inFile;
  const passphrase = path === undefined ? env[EnvVars.keyPassphrase] : secretFile(path, "the key passphrase file");
  return { kind: "file", passphrase: passphrase === "" ? undefined : passphrase };
}

/** A secret kept in a file: its first line. */
function secretFile(path: string, what: string): string {
  let content: string;
  try {
    content = readFileSync(path, "utf8");
  } catch (cause) {
    throw new ConfigError(`cannot read ${what} ${path} (${(cause as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const secret = content.split(/\r?\n/)[0] ?? "";
  if (secret === "") throw new ConfigError(`${what} ${path} is empty`);
  return secret;
}

function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new ConfigError(`${path} is not valid JSON: ${(cause as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ConfigError(`${path} must hold a JSON object`);
  for (const key of Object.keys(value)) {
    if (!fileKeys.includes(key)) throw new ConfigError(`${path}: unknown setting "${key}" (known: ${fileKeys.join(", ")})`);
  }
  return value as Record<string, unknown>;
}

/** A complete config from a data directory and optional raw values (strings from flags or env, or JSON values), checked. */
export function buildConfig(
  base: { dataDir: string },
  raw: Partial<Record<Exclude<keyof ServerConfig, "dataDir">, unknown>>,
): ServerConfig {
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
    crlRefreshSeconds:
      raw.crlRefreshSeconds === undefined
        ? defaults.crlRefreshSeconds
        : integer(raw.crlRefreshSeconds, "crlRefreshSeconds", 10, 7 * 86_400),
    clockSkewMs: raw.clockSkewMs === undefined ? defaults.clockSkewMs : integer(raw.clockSkewMs, "clockSkewMs", 0, 3_600_000),
    userRequestWindowMs:
      raw.userRequestWindowMs === undefined
        ? defaults.userRequestWindowMs
        : integer(raw.userRequestWindowMs, "userRequestWindowMs", 1000, 3_600_000),
    shutdownTimeoutMs:
      raw.shutdownTimeoutMs === undefined
        ? defaults.shutdownTimeoutMs
        : integer(raw.shutdownTimeoutMs, "shutdownTimeoutMs", 0, 600_000),
    databaseUrl: database,
    feeBasisPoints:
      raw.feeBasisPoints === undefined ? defaults.feeBasisPoints : integer(raw.feeBasisPoints, "feeBasisPoints", 0, 10_000),
    minimumPayouts: raw.minimumPayouts === undefined ? {} : minimumPayouts(raw.minimumPayouts),
    bank: raw.bank === undefined ? DEMO_BANK : operatorBank(raw.bank),
    workers: workers(raw.workers),
    tls: raw.tls === undefined ? undefined : (raw.tls as ServerConfig["tls"]),
    trustProxy: raw.trustProxy === undefined ? [] : trustProxy(raw.trustProxy),
    metrics: metricsListener(raw.metrics, raw.port === undefined ? defaults.port : integer(raw.port, "port", 0, 65535)),
    key: raw.key === undefined ? { kind: "file", passphrase: undefined } : (raw.key as KeySource),
  };
}

/** Comma-separated text as its non-empty items, trimmed; any other value (a JSON list) as it is. */
function commaList(value: unknown): unknown {
  if (typeof value !== "string") return value;
  return value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/** "10.0.0.1, 10.1.0.0/16" or a JSON list of the same. */
function trustProxy(value: unknown): string[] {
  const list = commaList(value);
  if (!Array.isArray(list) || !list.every((item) => typeof item === "string"))
    throw new ConfigError('trustProxy must list addresses or CIDR ranges, e.g. "127.0.0.1,10.0.0.0/8"');
  for (const item of list) {
    const [address, bits, ...rest] = item.split("/");
    const ip = isIP(address ?? "");
    const maxBits = ip === 6 ? 128 : 32;
    if (ip === 0 || rest.length > 0 || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits))) {
      throw new ConfigError(`trustProxy: ${JSON.stringify(item)} is not an IP address or CIDR range`);
    }
  }
  return list;
}

function metricsListener(value: unknown, port: number): MetricsListener {
  if (value === undefined) return { kind: "separate", host: "127.0.0.1", port: port === 0 ? 0 : DEFAULT_METRICS_PORT };
  const where = text(value, "metrics");
  if (where === "off" || where === "public") return { kind: where };
  const match = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(where);
  if (!match) throw new ConfigError(`metrics must be HOST:PORT, "public" or "off", got ${JSON.stringify(where)}`);
  return { kind: "separate", host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port: integer(match[2], "metrics port", 0, 65535) };
}

/**
 * One per core by default. On PostgreSQL, processes share the books safely (row locks, unique
 * nonces); on SQLite, whose file has one writer, they are threads of the one process that check
 * and sign payment requests, while its writer thread records them.
 */
function workers(value: unknown): number {
  if (value === undefined) return availableParallelism();
  return integer(value, "workers", 1, 256);
}

function databaseUrl(value: unknown): string {
  const url = text(value, "databaseUrl");
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new ConfigError("the database URL must start with postgres:// (leave it unset for SQLite in the data directory)");
  return url;
}

/** A list (JSON array, or comma-separated text) of http(s)/file URLs and paths; paths become absolute. */
function crlSources(value: unknown, dataDir: string): string[] {
  const items = commaList(value);
  if (!Array.isArray(items) || !items.every((item): item is string => typeof item === "string" && item.trim() !== "")) {
    throw new ConfigError(
      'crlSources must be a list of URLs or paths, such as ["https://ca.example/publishers.crl", "crls/extra.pem"]',
    );
  }
  return items.map((item) => {
    if (/^https?:\/\//i.test(item) || item.startsWith("file:")) {
      try {
        return new URL(item).href;
      } catch {
        throw new ConfigError(`crlSources: ${item} is not a valid URL`);
      }
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(item))
      throw new ConfigError(`crlSources: ${item}: only http, https and file URLs are fetched`);
    return resolve(dataDir, item);
  });
}

function minimumPayouts(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ConfigError('minimumPayouts must be an object such as {"EUR": "10.00", "default": "10"}');
  const out: Record<string, string> = {};
  for (const [currency, amount] of Object.entries(value)) {
    if (currency !== "default" && !isCurrencyCode(currency))
      throw new ConfigError(`minimumPayouts: ${currency} is not an ISO 4217 currency code (or "default")`);
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
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ConfigError("bank must be an object with name, iban, bic and creditorId");
  const record = value as Record<string, unknown>;
  const extra = Object.keys(record).filter((key) => !["name", "iban", "bic", "creditorId", "currencyAccounts"].includes(key));
  if (extra.length > 0) throw new ConfigError(`bank: unknown member(s) ${extra.join(", ")}`);
  const bank = {
    name: text(record["name"], "bank.name"),
    iban: text(record["iban"], "bank.iban"),
    bic: text(record["bic"], "bank.bic"),
    creditorId: text(record["creditorId"], "bank.creditorId"),
  };
  const iban = validateIban(bank.iban);
  if (!iban.ok) throw new ConfigError(`bank.iban: ${iban.reason}`);
  const bic = validateBic(bank.bic);
  if (!bic.ok) throw new ConfigError(`bank.bic: ${bic.reason}`);
  const creditorId = validateCreditorId(bank.creditorId);
  if (!creditorId.ok) throw new ConfigError(`bank.creditorId: ${creditorId.reason}`);
  const accounts = record["currencyAccounts"] === undefined ? undefined : currencyAccounts(record["currencyAccounts"]);
  return { ...bank, iban: iban.iban, ...(accounts === undefined ? {} : { currencyAccounts: accounts }) };
}

/** bank.currencyAccounts: per ISO 4217 code, the IBAN and BIC that currency's transfers are debited from. */
function currencyAccounts(value: unknown): Record<string, { iban: string; bic: string }> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ConfigError('bank.currencyAccounts must be an object such as {"USD": {"iban": "…", "bic": "…"}}');
  const out: Record<string, { iban: string; bic: string }> = {};
  for (const [currency, account] of Object.entries(value as Record<string, unknown>)) {
    const at = `bank.currencyAccounts.${currency}`;
    if (!isCurrencyCode(currency)) throw new ConfigError(`${at}: ${currency} is not an active ISO 4217 currency code`);
    const entry = (typeof account === "object" && account !== null ? account : {}) as Record<string, unknown>;
    const iban = validateIban(text(entry["iban"], `${at}.iban`));
    if (!iban.ok) throw new ConfigError(`${at}.iban: ${iban.reason}`);
    const bic = validateBic(text(entry["bic"], `${at}.bic`));
    if (!bic.ok) throw new ConfigError(`${at}.bic: ${bic.reason}`);
    out[currency] = { iban: iban.iban, bic: bic.bic };
  }
  return out;
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
