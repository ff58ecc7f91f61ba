/** Starts the payment server on a socket from a config: identity, rates, database, application. */
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { systemClock, x509, type Clock, type TrustStore } from "@peage/protocol";
import { buildApp, type App, type LogStream } from "./app.js";
import { openCardDesk, type CardDesk } from "./card-sync.js";
import { CrlRefresher, distributionPoints, revocationReport } from "./crl-refresh.js";
import type { ServerConfig } from "./config.js";
import { DataDirFiles, loadServerIdentity, type ServerIdentity } from "./data-dir.js";
import { FileRateSource } from "./rates/rate-source.js";
import { openStore } from "./store/open.js";
import type { Store } from "./store/store.js";

export interface RunningServer {
  /** http://host:port of the listening socket. */
  readonly url: string;
  readonly app: App;
  readonly store: Store;
  readonly identity: ServerIdentity;
  readonly rates: FileRateSource;
  /** Stops accepting connections, lets requests in flight finish (up to the shutdown timeout), closes the database. Idempotent. */
  close(): Promise<void>;
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
  const { identity, trust } = await loadServerIdentity(config.dataDir, { revocation: config.revocation, ...(opts.clock ? { clock: opts.clock } : {}) });
  const rates = await FileRateSource.load(config.ratesFile, { optional: true });
  const store = await openStore(config, { onThread: true });
  let app: App;
  // The offline variant's desk (card sync, reloads) opens when the data dir holds a card issuer.
  let cards: CardDesk | undefined;
  let crls: CrlRefresher | undefined;
  try {
    cards = await openCardDesk({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, identity);
    app = buildApp({
      ...(cards ? { cards } : {}),
      store,
      identity,
      trust,
      rates,
      skewMs: config.clockSkewMs,
      userRequestWindowMs: config.userRequestWindowMs,
      feeBasisPoints: config.feeBasisPoints,
      ...(opts.clock ? { clock: opts.clock } : {}),
      logger: opts.logs === false || config.logLevel === "silent" ? false : { level: config.logLevel, ...(opts.logStream ? { stream: opts.logStream } : {}) },
    });
    if (!rates.current()) app.log.warn({ ratesFile: config.ratesFile }, "no rates file: only payments in the user's home currency will work");
    crls = await startCrlRefresh(app, config, identity, trust, opts.clock ?? systemClock);
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    crls?.stop();
    await cards?.close();
    await store.close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    app,
    store,
    identity,
    rates,
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
        crls?.stop();
        await cards?.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/**
 * Fetches the CRLs once (the data directory's, the configured sources, the trusted certificates'
 * distribution points), says at start which policy is in force and which CRLs are installed, and
 * fetches them again every crlRefreshSeconds.
 */
async function startCrlRefresh(app: App, config: ServerConfig, identity: ServerIdentity, trust: TrustStore, clock: Clock): Promise<CrlRefresher> {
  const chain = identity.x5c.map((der) => new x509.X509Certificate(Buffer.from(der, "base64")));
  const sources = [...new Set([...config.crlSources, ...distributionPoints([...trust.roots, ...chain])])];
  const refresher = new CrlRefresher({
    trust,
    directory: join(config.dataDir, DataDirFiles.crls),
    sources,
    clock,
    onError: (outcome) => app.log.warn({ source: outcome.source, error: outcome.error }, "CRL source failed: the CRL installed before is kept"),
  });
  await refresher.refresh();
  const report = revocationReport(trust, clock.now());
  app.log.info({ policy: report.policy, crls: report.crls, sources, refreshSeconds: config.crlRefreshSeconds }, `revocation policy ${report.policy}`);
  if (report.crls.length === 0 && report.policy === "best-effort") {
    app.log.warn("revocation is not checked: no CRL is installed and the policy is best-effort; add CRLs to crls/ or crlSources, or set --revocation require");
  }
  if (!report.fresh) app.log.warn({ crls: report.crls.filter((crl) => crl.stale) }, "a CRL is stale or missing: payments it covers are refused until a newer one is fetched");
  refresher.start(config.crlRefreshSeconds);
  return refresher;
}
