/**
 * Starts the payment server on a socket from a config: identity, rates, database, application,
 * TLS when configured, and the metrics on a listener of their own (loopback by default, so they
 * are not public); on SQLite with more than one worker, the threads that check and sign payment
 * requests (payment-pool.ts). reload() (SIGHUP) re-reads the rates, the TLS certificate and key,
 * and the CRLs (the threads get the new rates and CRLs with their next request).
 */
import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import type { Server as TlsServer } from "node:tls";
import { systemClock, x509, type Clock, type TrustStore } from "@peage/protocol";
import { join } from "node:path";
import { buildApp, type App, type LogStream } from "./app.js";
import { resealSecrets, startWebhookWorker } from "./webhooks/worker.js";
import { loadWebhookKeys } from "./webhooks/secret-box.js";
import { startMandatePruning } from "./mandates/pruning.js";
import { CrlRefresher, distributionPoints, revocationReport } from "./crl-refresh.js";
import { openCardDesk, type CardDesk } from "./cards/desk.js";
import { ConfigError, type ServerConfig } from "./config.js";
import { DataDirFiles, loadServerIdentity, type ServerIdentity } from "./data-dir.js";
import { Metrics, PROMETHEUS_CONTENT_TYPE } from "./metrics.js";
import { FileRateSource } from "./rates/rate-source.js";
import { PaymentPool } from "./payment-pool.js";
import { openStore } from "./store/open.js";
import type { Store } from "./store/store.js";

export interface RunningServer {
  /** http(s)://host:port of the listening socket. */
  readonly url: string;
  /** http://host:port of the metrics listener, when it has one of its own. */
  readonly metricsUrl: string | undefined;
  readonly app: App;
  readonly store: Store;
  readonly identity: ServerIdentity;
  readonly rates: FileRateSource;
  /** The payment threads (SQLite, more than one worker). */
  readonly paymentPool: PaymentPool | undefined;
  /** Re-reads the rates, the TLS certificate and key, and the CRLs; what failed keeps what was in force, and is reported. */
  reload(): Promise<ReloadReport>;
  /** Stops accepting connections, lets requests in flight finish (up to the shutdown timeout), closes the database. Idempotent. */
  close(): Promise<void>;
}

/** What a reload did, part by part: "reloaded", "unchanged" (not configured) or the error. */
export interface ReloadReport {
  readonly rates: string;
  readonly tls: string;
  readonly crls: string;
}

export interface StartOptions {
  readonly clock?: Clock;
  /** false for no logs; the config's log level otherwise. */
  readonly logs?: boolean;
  /** Where log lines go (standard output by default). */
  readonly logStream?: LogStream;
}

/** Loads everything the config names and listens; throws DataDirError, RatesError or ConfigError naming what is wrong. */
export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const loaded = await loadServerIdentity(config.dataDir, {
    revocation: config.revocation,
    key: config.key,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const { identity, trust } = loaded;
  let store: Store | undefined;
  let cards: CardDesk | undefined;
  let metricsServer: Server | undefined;
  let app: App | undefined;
  let crls: CrlRefresher | undefined;
  let paymentPool: PaymentPool | undefined;
  try {
    const rates = await FileRateSource.load(config.ratesFile, { optional: true });
    const https = config.tls ? await readTls(config.tls) : undefined;
    store = await openStore(config, { onThread: true });
    const webhookKeys = await loadWebhookKeys(config.dataDir);
    // The offline variant's desk (card sync, reloads) opens when the data dir holds a card issuer.
    cards = await openCardDesk({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, identity);
    paymentPool = await startPaymentPool(config, identity, trust, rates);
    const clock = opts.clock;
    const metrics = new Metrics({ trust, identity, rates, store, ...(clock ? { now: () => clock.now() } : {}) });
    app = buildApp({
      ...(cards ? { cards } : {}),
      store,
      identity,
      trust,
      rates,
      metrics,
      skewMs: config.clockSkewMs,
      userRequestWindowMs: config.userRequestWindowMs,
      feeBasisPoints: config.feeBasisPoints,
      ...(https ? { https } : {}),
      trustProxy: config.trustProxy,
      publicMetrics: config.metrics.kind === "public",
      bank: config.bank,
      webhookKeys: webhookKeys.ring,
      ...(paymentPool ? { paymentPool } : {}),
      ...(clock ? { clock } : {}),
      logger:
        opts.logs === false || config.logLevel === "silent"
          ? false
          : { level: config.logLevel, ...(opts.logStream ? { stream: opts.logStream } : {}) },
    });
    crls = await startCrlRefresh(app, config, identity, trust, clock ?? systemClock);
    if (paymentPool && !paymentPool.signsOnThreads)
      app.log.warn(
        "the signing key is in a token, which only the event loop's thread may use: the payment threads check, the event loop signs",
      );
    if (webhookKeys.created) app.log.warn({ file: webhookKeys.created }, "made the key ring that seals webhook secrets");
    const resealed = await resealSecrets(store, webhookKeys.ring);
    if (resealed > 0) app.log.info({ endpoints: resealed, key: webhookKeys.ring.currentId }, "webhook secrets sealed");
    const webhooks = startWebhookWorker({
      store,
      keys: webhookKeys.ring,
      clock: clock ?? systemClock,
      log: (fields, message) => app?.log.warn(fields, message),
    });
    app.addHook("onClose", () => webhooks.stop());
    const mandateCounters = startMandatePruning({ store, clock: clock ?? systemClock, log: (f, m) => app?.log.info(f, m) });
    app.addHook("onClose", () => mandateCounters.stop());
    await app.listen({ host: config.host, port: config.port });
    if (config.metrics.kind === "separate")
      metricsServer = await listenMetrics(metrics, config.metrics.host, config.metrics.port);
    await warnIfNotReady(app, config);
    const release = () => loaded.release();
    return running({ config, app, store, identity, rates, cards, metricsServer, crls, paymentPool, release, trust });
  } catch (error) {
    crls?.stop();
    // The metrics port taken, say, after the main one was opened: nothing stays listening.
    metricsServer?.close();
    await app?.close();
    await paymentPool?.close();
    await cards?.close();
    await store?.close();
    loaded.release();
    throw error;
  }
}

interface Parts {
  readonly config: ServerConfig;
  readonly app: App;
  readonly store: Store;
  readonly identity: ServerIdentity;
  readonly trust: TrustStore;
  readonly rates: FileRateSource;
  readonly cards: CardDesk | undefined;
  readonly metricsServer: Server | undefined;
  readonly crls: CrlRefresher;
  readonly paymentPool: PaymentPool | undefined;
  release(): void;
}

function running(parts: Parts): RunningServer {
  const { config, app, store, identity, rates, cards, metricsServer } = parts;
  let closing: Promise<void> | undefined;
  return {
    url: urlOf(app.server.address() as AddressInfo, config.tls ? "https" : "http"),
    metricsUrl: metricsServer ? urlOf(metricsServer.address() as AddressInfo, "http") : undefined,
    app,
    store,
    identity,
    rates,
    paymentPool: parts.paymentPool,
    reload: () => reload(parts),
    close: () => {
      closing ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            app.log.warn("shutdown timeout: closing the connections still open");
            app.server.closeAllConnections();
            resolve();
          }, config.shutdownTimeoutMs);
        });
        await Promise.race([app.close(), timeout]);
        clearTimeout(timer);
        parts.crls.stop();
        await parts.paymentPool?.close();
        await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
        await cards?.close();
        await store.close();
        parts.release();
      })();
      return closing;
    },
  };
}

async function reload(parts: Parts): Promise<ReloadReport> {
  const { config, app, rates } = parts;
  const attempt = async (what: string, work: () => Promise<string>): Promise<string> => {
    try {
      const done = await work();
      app.log.info({ part: what, result: done }, `${what} reloaded`);
      return done;
    } catch (error) {
      app.log.error({ err: error, part: what }, `${what} reload failed: what was in force stays`);
      return `failed: ${(error as Error).message}`;
    }
  };
  return {
    rates: await attempt("rates", async () => `reloaded (${(await rates.reload()).date})`),
    tls: await attempt("tls", async () => {
      if (!config.tls) return "unchanged";
      (app.server as unknown as TlsServer).setSecureContext(await readTls(config.tls));
      return "reloaded";
    }),
    crls: await attempt("crls", async () => {
      const outcomes = await parts.crls.refresh();
      const failed = outcomes.filter((o) => o.error !== undefined).length;
      return `reloaded (${outcomes.reduce((n, o) => n + o.crls, 0)} from ${outcomes.length} source(s)${failed > 0 ? `, ${failed} failed` : ""})`;
    }),
  };
}

/** The payment threads, on SQLite with more than one worker; opened once the writer has migrated the file. */
async function startPaymentPool(
  config: ServerConfig,
  identity: ServerIdentity,
  trust: TrustStore,
  rates: FileRateSource,
): Promise<PaymentPool | undefined> {
  if (config.databaseUrl !== undefined || config.workers <= 1) return undefined;
  return PaymentPool.start({
    threads: config.workers,
    databasePath: join(config.dataDir, DataDirFiles.database),
    identity,
    trust,
    rates,
    skewMs: config.clockSkewMs,
    feeBasisPoints: config.feeBasisPoints,
  });
}

async function readTls(tls: NonNullable<ServerConfig["tls"]>): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path);
    } catch (cause) {
      throw new ConfigError(`cannot read the TLS ${what} ${path} (${(cause as NodeJS.ErrnoException).code ?? "error"})`);
    }
  };
  return { cert: await read(tls.cert, "certificate"), key: await read(tls.key, "key") };
}

/** GET /metrics alone, on its own socket: scraped from this machine (or a private network), never from the public listener. */
async function listenMetrics(metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics here\n");
      return;
    }
    metrics.render().then(
      (text) => response.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(text),
      () => response.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          `the metrics listener cannot listen on ${host}:${port} (${error.code ?? error.message}): choose another with --metrics HOST:PORT, or --metrics off`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** The readiness checks, run once at start: each failing one is a warning in the log (the server still starts). */
async function warnIfNotReady(app: App, config: ServerConfig): Promise<void> {
  for (const check of (await app.peageReadiness()).checks) {
    if (!check.ok) app.log.warn({ check: check.name, ratesFile: config.ratesFile }, `not ready: ${check.name}: ${check.detail}`);
  }
}

function urlOf(address: AddressInfo, scheme: "http" | "https"): string {
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

/**
 * Fetches the CRLs once (the data directory's, the configured sources, the trusted certificates'
 * distribution points), says at start which policy is in force and which CRLs are installed, and
 * fetches them again every crlRefreshSeconds.
 */
async function startCrlRefresh(
  app: App,
  config: ServerConfig,
  identity: ServerIdentity,
  trust: TrustStore,
  clock: Clock,
): Promise<CrlRefresher> {
  const chain = identity.x5c.map((der) => new x509.X509Certificate(Buffer.from(der, "base64")));
  const sources = [...new Set([...config.crlSources, ...distributionPoints([...trust.roots, ...chain])])];
  const refresher = new CrlRefresher({
    trust,
    directory: join(config.dataDir, DataDirFiles.crls),
    sources,
    clock,
    onError: (outcome) =>
      app.log.warn({ source: outcome.source, error: outcome.error }, "CRL source failed: the CRL installed before is kept"),
  });
  await refresher.refresh();
  const report = revocationReport(trust, clock.now());
  app.log.info(
    { policy: report.policy, crls: report.crls, sources, refreshSeconds: config.crlRefreshSeconds },
    `revocation policy ${report.policy}`,
  );
  if (report.crls.length === 0 && report.policy === "best-effort") {
    app.log.warn(
      "revocation is not checked: no CRL is installed and the policy is best-effort; add CRLs to crls/ or crlSources, or set --revocation require",
    );
  }
  if (!report.fresh)
    app.log.warn(
      { crls: report.crls.filter((crl) => crl.stale) },
      "a CRL is stale or missing: payments it covers are refused until a newer one is fetched",
    );
  refresher.start(config.crlRefreshSeconds);
  return refresher;
}
