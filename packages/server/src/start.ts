/** Starts the payment server on a socket from a config: identity, rates, database, application. */
import type { AddressInfo } from "node:net";
import type { Clock } from "@peage/protocol";
import { buildApp, type App } from "./app.js";
import { openCardDesk, type CardDesk } from "./card-sync.js";
import type { ServerConfig } from "./config.js";
import { loadServerIdentity, type ServerIdentity } from "./data-dir.js";
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
}

/** Loads everything the config names and listens; throws DataDirError, RatesError or ConfigError naming what is wrong. */
export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const { identity, trust } = await loadServerIdentity(config.dataDir, { revocation: config.revocation, ...(opts.clock ? { clock: opts.clock } : {}) });
  const rates = await FileRateSource.load(config.ratesFile, { optional: true });
  const store = await openStore(config, { onThread: true });
  let app: App;
  // The offline variant's desk (card sync, reloads) opens when the data dir holds a card issuer.
  let cards: CardDesk | undefined;
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
      logger: opts.logs === false || config.logLevel === "silent" ? false : { level: config.logLevel },
    });
    if (!rates.current()) app.log.warn({ ratesFile: config.ratesFile }, "no rates file: only payments in the user's home currency will work");
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
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
        await cards?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
