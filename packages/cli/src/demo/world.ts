/**
 * Everything the demo sets up before the program runs, with the real packages and the same steps
 * an operator, a publisher and a user would take: a demonstration PKI, the payment server's data
 * directory and the server itself, an operator API key, the user's wallet, the user's enrolment
 * and top-up through the operator's HTTP API, the example's offers signed into a catalog, and the
 * wallet's local service.
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  convert,
  createDemoPki,
  formatPrice,
  PkiFiles,
  price,
  signCatalog,
  writePkiDir,
  type Catalog,
  type CurrencyCode,
  type Grant,
  type OfferDraft,
  type PartyId,
  type Price,
  type RateTable,
} from "@peage/protocol";
import { ApiScopes, buildConfig, createApiKey, initDataDir, startServer, type RunningServer } from "@peage/server";
import { initWallet, startWallet, type ConsentPrompt, type ConsentWindow, type Rules, type WalletService } from "@peage/wallet";
import { CommandError } from "../errors.js";
import { Operator } from "../operator-api.js";
import { checkpoint, type Cleanup } from "./cleanup.js";
import { createPostpaidUser, setUpPayouts, type PostpaidUser } from "./postpaid.js";
import type { DemoPaths } from "./layout.js";

export interface WorldOptions {
  readonly paths: DemoPaths;
  /** urn:peage:user:<name> */
  readonly user: string;
  readonly homeCurrency: CurrencyCode;
  /** Replaces the length of the example's period offers. */
  readonly periodSeconds: number;
  /** The example's offer drafts (offers.json). */
  readonly offersFile: string;
  readonly prompt: ConsentPrompt;
  /** The consent window `prompt` is, when the user answers in the browser: served by the wallet. */
  readonly consentWindow?: ConsentWindow;
  /** The wallet service's console: one line per offer handled. */
  readonly walletLog: (line: string) => void;
  /** What is being set up, for the reader. */
  readonly progress: (text: string) => void;
  readonly cleanup: Cleanup;
  readonly signal: AbortSignal;
}

/** An offer of the signed catalog, with its price in the user's home currency. */
export interface OfferSummary {
  readonly offerId: string;
  readonly description: string;
  readonly price: Price;
  /** The price in the home currency at the server's reference rates (the price itself when no conversion is needed). */
  readonly home: Price | undefined;
  readonly grant: Grant;
}

export interface World {
  readonly publisher: PartyId<"publisher">;
  readonly serverId: PartyId<"server">;
  readonly user: PartyId<"user">;
  readonly homeCurrency: CurrencyCode;
  readonly server: RunningServer;
  readonly operator: Operator;
  readonly rates: RateTable;
  readonly catalog: Catalog;
  readonly offers: readonly OfferSummary[];
  /** The prepaid top-up, and the offer it is one minor unit short of paying in the end. */
  readonly topup: Price;
  readonly shortOf: OfferSummary;
  readonly wallet: WalletService;
  readonly rootFile: string;
  /** A second user, postpaid with a SEPA mandate, so that settlement has a direct debit to write. */
  readonly postpaid: PostpaidUser;
}

/** The demo wallet asks before every payment (no amount passes on its own), so each one is shown. */
export function askEveryTime(home: CurrencyCode): Rules {
  return { autoAccept: { perPayment: price(0, home) }, refuse: {} };
}

export async function createWorld(options: WorldOptions): Promise<World> {
  const { paths, cleanup, signal, progress } = options;

  const pki = await createDemoPki();
  await writePkiDir(paths.pki, pki);
  progress(
    `PKI        a demonstration root CA certifying the publisher ${pki.publisher.identity} and the payment server ${pki.server.identity}`,
  );
  checkpoint(signal);
  const { server, operator, rates } = await startDemoServer(options);
  checkpoint(signal);
  const { catalog, offers } = await signOffers(options, pki, rates);
  const { topup, shortOf } = planTopup(offers, options.homeCurrency);
  checkpoint(signal);

  const rootFile = join(paths.pki, `${PkiFiles.root}.crt`);
  const rootPem = await readFile(rootFile, "utf8");
  const { wallet, passphrase } = await makeUserWallet(options, { url: server.url, id: pki.server.identity, rootPem });
  checkpoint(signal);
  const credited = await enrolUser(operator, wallet, topup, options.homeCurrency);
  progress(
    `user       ${wallet.user}, home currency ${options.homeCurrency}, enrolled by the operator with a prepaid balance of ${formatPrice(credited)}` +
      ` (the launch and the levels together, less ${formatPrice(price(1, options.homeCurrency))}: with play time paid too, ${shortOf.offerId} cannot be paid)`,
  );
  checkpoint(signal);

  const service = await startWallet({
    wallet: { dir: paths.wallet, passphrase, prompt: options.prompt },
    endpointFile: paths.walletEndpoint,
    log: options.walletLog,
    ...(options.consentWindow ? { consentWindow: options.consentWindow } : {}),
  });
  cleanup.defer("stop the wallet", () => service.close());
  progress(`wallet     the user's wallet service on ${service.url}, found by programs through ${service.endpointFile}`);

  await setUpPayouts(operator, paths, pki.publisher.identity);
  const postpaid = await createPostpaidUser(operator, paths, { url: server.url, id: pki.server.identity, rootPem }, cleanup);
  progress(
    `settlement ${pki.publisher.identity} paid out to a demonstration bank account; ${postpaid.user} postpaid ` +
      `(limit ${formatPrice(postpaid.monthlyLimit)} a month) with a SEPA direct debit mandate on a demonstration account`,
  );
  checkpoint(signal);

  return {
    publisher: pki.publisher.identity,
    serverId: pki.server.identity,
    user: wallet.user,
    homeCurrency: options.homeCurrency,
    server,
    operator,
    rates,
    catalog,
    offers,
    topup: credited,
    shortOf,
    wallet: service,
    rootFile,
    postpaid,
  };
}

/** The payment server on a free port of 127.0.0.1, the operator's API key for it, and its reference rates. */
async function startDemoServer(options: WorldOptions) {
  const { paths, cleanup, progress } = options;
  await initDataDir({ dataDir: paths.server, pkiDir: paths.pki });
  const server = await startServer(buildConfig({ dataDir: paths.server }, { host: "127.0.0.1", port: 0, logLevel: "silent" }), {
    logs: false,
  });
  cleanup.defer("stop the payment server", () => server.close());
  checkpoint(options.signal);
  const secret = await createApiKey(server.store, ApiScopes, "the demo's operator");
  await writeFile(paths.operatorKey, `${secret}\n`, { mode: 0o600, flag: "wx" });
  const operator = new Operator(server.url, secret);
  const rates = await operator.rates();
  const eurRate = rates.rates[options.homeCurrency];
  progress(
    `server     the payment server on ${server.url}, data in ${paths.server}, sample ECB reference rates of ${rates.date}` +
      (eurRate && options.homeCurrency !== rates.base ? ` (1 ${rates.base} = ${eurRate} ${options.homeCurrency})` : ""),
  );
  return { server, operator, rates };
}

/** The example's offers signed by the publisher for this server, each with its price in the user's currency. */
async function signOffers(options: WorldOptions, pki: Awaited<ReturnType<typeof createDemoPki>>, rates: RateTable) {
  const catalog = await signCatalog(
    pki.publisher.identity,
    await readDrafts(options.offersFile, options.periodSeconds),
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
    {
      servers: [pki.server.identity],
    },
  );
  await writeFile(options.paths.catalog, `${JSON.stringify(catalog, null, 2)}\n`);
  const offers = catalog.offers.map(({ terms }): OfferSummary => ({
    offerId: terms.offerId,
    description: terms.description,
    price: terms.price,
    home: inHome(terms.price, options.homeCurrency, rates),
    grant: terms.grant,
  }));
  options.progress(
    `catalog    ${offers.length} offers of the example signed by ${pki.publisher.identity} (play time in ${options.periodSeconds}-second periods)`,
  );
  return { catalog, offers };
}

/** The user's wallet, its passphrase in a file of its own, trusting the demo's root and asking before every payment. */
async function makeUserWallet(options: WorldOptions, server: { url: string; id: PartyId<"server">; rootPem: string }) {
  const passphrase = randomBytes(18).toString("base64url");
  await writeFile(options.paths.walletPassphrase, `${passphrase}\n`, { mode: 0o600, flag: "wx" });
  const wallet = await initWallet(options.paths.wallet, {
    passphrase,
    user: options.user,
    serverUrl: server.url,
    serverId: server.id,
    homeCurrency: options.homeCurrency,
    trustRootsPem: server.rootPem,
    rules: askEveryTime(options.homeCurrency),
  });
  return { wallet, passphrase };
}

/** The operator enrols the user's wallet key, prepaid, and tops the balance up; the balance credited. */
async function enrolUser(
  operator: Operator,
  wallet: { readonly user: PartyId<"user">; readonly publicJwk: unknown },
  topup: Price,
  homeCurrency: CurrencyCode,
): Promise<Price> {
  await operator.call("POST", "/v1/admin/users", {
    user: wallet.user,
    publicKey: wallet.publicJwk,
    mode: "prepaid",
    homeCurrency,
  });
  const credited = await operator.call<{ balance: Price }>("POST", `/v1/admin/users/${wallet.user}/topups`, {
    amount: topup.amount,
    idempotencyKey: `demo-topup-${randomBytes(8).toString("hex")}`,
  });
  return credited.balance;
}

/**
 * The top-up: the launch and every event offer together, less one minor unit. The program pays
 * play time as well, so the last event offer (the last level) is always short of funds, while
 * everything before it is paid as long as play time costs less than that last offer.
 */
export function planTopup(offers: readonly OfferSummary[], home: CurrencyCode): { topup: Price; shortOf: OfferSummary } {
  const counted = offers.filter((o) => o.grant.kind === "launch" || o.grant.kind === "event");
  const shortOf = counted.filter((o) => o.grant.kind === "event").at(-1);
  if (!shortOf)
    throw new CommandError(
      "ERR_BAD_OFFER",
      "the example's catalog has no event offer: the demo needs one to run out of funds on",
    );
  let total = 0;
  for (const offer of counted) {
    if (!offer.home)
      throw new CommandError("ERR_RATE_UNAVAILABLE", `the server's rates have no rate from ${offer.price.currency} to ${home}`);
    total += offer.home.amount;
  }
  return { topup: price(total - 1, home), shortOf };
}

/** The price in `home` at the reference rates, as the server will charge it. */
export function inHome(p: Price, home: CurrencyCode, rates: RateTable): Price | undefined {
  return convert(p, home, rates)?.price;
}

/**
 * Reads offers.json; shortens every period grant to `periodSeconds` and says so in its signed
 * description, since the user consents to what the description says.
 */
async function readDrafts(path: string, periodSeconds: number): Promise<OfferDraft[]> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, "utf8"));
  } catch (cause) {
    throw new CommandError("ERR_NOT_FOUND", `the example's offers ${path} cannot be read: ${(cause as Error).message}`);
  }
  if (!Array.isArray(value)) throw new CommandError("ERR_BAD_OFFER", `${path} must hold a JSON array of offer drafts`);
  return (value as OfferDraft[]).map((draft) => {
    if (draft?.grant?.kind !== "period") return draft;
    const span = `${periodSeconds} second${periodSeconds === 1 ? "" : "s"}`;
    const described = /\b\d+ (?:minute|second|hour)s?\b/.test(draft.description)
      ? draft.description.replace(/\b\d+ (?:minute|second|hour)s?\b/, span)
      : `${draft.description} (${span})`;
    return { ...draft, description: described, grant: { kind: "period" as const, seconds: periodSeconds } };
  });
}
