/**
 * What `peage demo --card` and `peage demo --pc-store` share. Both pay offline with a device the
 * server's card issuer certified (a card in the virtual reader, a PC store in the TPM) while no
 * payment server runs, then start the server, register the device with its load, make a top-up
 * for it and sync twice. The run's frame (data directory, Ctrl-C, result file, exit status), the
 * four offers sold, the wallet, the issuing server, the two syncs and the checks are written once
 * here; each demo brings its device and the words it is named with.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  certificateToPem,
  formatPrice,
  parseCurrency,
  partyId,
  price,
  rateTable,
  signCatalog,
  type Catalog,
  type createDemoPki,
  type Price,
} from "@peage/protocol";
import type { Options } from "../args.js";
import { CommandError } from "../errors.js";
import { print, printJson } from "../output.js";
import { Cleanup } from "./cleanup.js";

/** The device's PIN: typed for the user with --yes. */
export const DEMO_PIN = "2468";
export const USER = "urn:peage:user:alice";
/** What is loaded on the device when it is made, and the top-up made for it once the server runs (minor units, EUR). */
export const LOAD = 500;
export const TOP_UP = 300;

/** The files both demos keep in their data directory. */
export const OfflineDemoFiles = {
  pki: "pki",
  wallet: "wallet",
  walletEndpoint: join("wallet", "endpoint.json"),
  walletPassphrase: "wallet-passphrase",
  server: "server",
  operatorKey: "operator-key",
  catalog: "catalog.json",
} as const;

export type Say = (line: string) => void;
export type DemoPki = Awaited<ReturnType<typeof createDemoPki>>;
type Wallet = typeof import("@peage/wallet");
type SyncResult = Awaited<ReturnType<Wallet["syncCard"]>>;

/** One offer the merchant sold, and what came of it. */
export interface OfflineStep {
  readonly step: string;
  readonly offerId?: string;
  readonly price?: Price;
  readonly outcome: string;
  readonly paymentId?: string;
  readonly debit?: unknown;
  readonly detail?: string;
}

/** The run as the frame hands it to a demo. */
export interface OfflineRun {
  readonly dir: string;
  readonly temporary: boolean;
  readonly scripted: boolean;
  readonly say: Say;
  readonly cleanup: Cleanup;
}

/** How a demo's frame differs: its directory prefix, its usage and stop messages, its result file. */
export interface OfflineFrame {
  readonly prefix: string;
  readonly notATerminal: string;
  readonly stopping: string;
  readonly resultFile: string;
  /** Said after the checks when the data is kept, after "The demo's data is kept in DIR". */
  readonly keptNote: string;
}

/**
 * Runs a demo in its frame: the data directory (temporary unless --data), Ctrl-C stopping what it
 * started, the result written with --data and printed with --json, ERR_DEMO_FAILED on a failed check.
 */
export async function runOfflineDemo(
  o: Options,
  frame: OfflineFrame,
  demo: (run: OfflineRun) => Promise<{ readonly checks: readonly { check: string; ok: boolean }[] }>,
): Promise<void> {
  const scripted = o.flag("yes");
  const json = o.flag("json");
  if (!scripted && !process.stdin.isTTY) throw o.usage(frame.notATerminal);
  const say: Say = json ? () => undefined : (line: string) => print(line);
  const { dir, temporary } = await demoDir(o.string("data"), frame.prefix);
  const cleanup = new Cleanup();
  let stopping: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = signal;
    process.stderr.write(`\n${signal}: ${frame.stopping}\n`);
    void cleanup
      .close()
      .then(() => (temporary ? rm(dir, { recursive: true, force: true }) : undefined))
      .finally(() => process.exit(1));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const result = await demo({ dir, temporary, scripted, say, cleanup });
    if (!temporary) await writeFile(join(dir, frame.resultFile), `${JSON.stringify(result, null, 2)}\n`);
    if (json) printJson(result);
    if (!temporary) say(`\nThe demo's data is kept in ${dir}${frame.keptNote}.`);
    const failed = result.checks.filter((c) => !c.ok);
    if (failed.length > 0)
      throw new CommandError("ERR_DEMO_FAILED", `${failed.length} check(s) failed: ${failed.map((c) => c.check).join("; ")}`);
  } finally {
    const failures = await cleanup.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (temporary) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    for (const failure of failures) process.stderr.write(`warning: could not ${failure}\n`);
  }
}

/** The example's four offers, signed by the publisher: the fourth is more than the device holds by then. */
export async function demoCatalog(
  pki: DemoPki,
  dir: string,
  servers?: readonly DemoPki["server"]["identity"][],
): Promise<Catalog> {
  const level = (n: number, place: string, amount: number) => ({
    offerId: `level-${n}`,
    description: `Unlock level ${n}: ${place}`,
    price: price(amount, "EUR"),
    grant: { kind: "event" as const, event: `level-${n}` },
  });
  const catalog = await signCatalog(
    pki.publisher.identity,
    [
      { offerId: "launch", description: "Start The Lighthouse Quest", price: price(50, "EUR"), grant: { kind: "launch" } },
      level(2, "the cliffs", 120),
      level(3, "the lighthouse", 200),
      level(4, "the island", 200),
    ],
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
    ...(servers ? [{ servers }] : []),
  );
  await writeFile(join(dir, OfflineDemoFiles.catalog), `${JSON.stringify(catalog, null, 2)}\n`);
  return catalog;
}

/**
 * The merchant sells the four offers through the wallet; the device acknowledges (or refuses)
 * each. `paid` words the line of an acknowledged payment; `onAcknowledgment` sees each token.
 */
export async function sellFourOffers(
  merchant: import("@peage/merchant").Merchant,
  catalog: Catalog,
  say: Say,
  paid: (paymentId: string, balance: string) => string,
  onAcknowledgment: (token: string) => void = () => undefined,
): Promise<OfflineStep[]> {
  const { MerchantError } = await import("@peage/merchant");
  const steps: OfflineStep[] = [];
  for (const [offerId, pay] of [
    ["launch", () => merchant.atLaunch()],
    ["level-2", () => merchant.onEvent("level-2")],
    ["level-3", () => merchant.onEvent("level-3")],
    ["level-4", () => merchant.onEvent("level-4")],
  ] as const) {
    const offer = catalog.offers.find((e) => e.terms.offerId === offerId)!;
    try {
      const granted = await pay();
      const token = granted.acknowledgment.acknowledgment;
      onAcknowledgment(token);
      const debit = (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { debit?: { balance?: number } })
        .debit;
      steps.push({ step: "pay", offerId, price: granted.price, outcome: "paid", paymentId: granted.paymentId, debit });
      const balance = formatPrice(price(debit?.balance ?? 0, "EUR"));
      say(`  paid       ${offerId.padEnd(8)} ${formatPrice(granted.price).padStart(9)}  ${paid(granted.paymentId, balance)}`);
    } catch (error) {
      const code = error instanceof MerchantError ? error.code : "ERR_INTERNAL";
      steps.push({ step: "pay", offerId, price: offer.terms.price, outcome: code, detail: (error as Error).message });
      say(
        `  refused    ${offerId.padEnd(8)} ${formatPrice(offer.terms.price).padStart(9)}  ${code}: ${(error as Error).message}`,
      );
    }
  }
  return steps;
}

/** How the wallet of a demo is set up: its card settings, and the device it pays with when not a reader's card. */
export interface DemoWalletOptions {
  readonly run: OfflineRun;
  readonly pki: DemoPki;
  readonly port: number;
  readonly card: Record<string, unknown>;
  readonly access?: import("@peage/pcstore").PcStoreAccess;
  /** Said after "wallet     the user's wallet on URL, ". */
  readonly paying: string;
}

/** The user's wallet, pointed at a server that is not running yet, asking before every payment. */
export async function startDemoWallet(options: DemoWalletOptions): Promise<void> {
  const { run, pki, port, access } = options;
  const wallet = await import("@peage/wallet");
  const serverUrl = `http://127.0.0.1:${port}`;
  const passphrase = randomBytes(18).toString("base64url");
  await writeFile(join(run.dir, OfflineDemoFiles.walletPassphrase), `${passphrase}\n`, { mode: 0o600 });
  const walletDir = join(run.dir, OfflineDemoFiles.wallet);
  await wallet.initWallet(walletDir, {
    passphrase,
    user: USER,
    serverUrl,
    serverId: pki.server.identity,
    homeCurrency: "EUR",
    trustRootsPem: certificateToPem(pki.root.certificate),
    rules: { autoAccept: { perPayment: price(0, "EUR") }, refuse: {} },
  });
  const config = await wallet.readConfig(walletDir);
  await wallet.writeConfig(walletDir, { ...config, card: { ...options.card, ...(run.scripted && { pin: DEMO_PIN }) } });
  const prompt = run.scripted ? new wallet.AutoYesPrompt() : new wallet.TerminalPrompt({ output: process.stderr });
  const service = await wallet.startWallet({
    wallet: { dir: walletDir, passphrase, prompt, ...(access && { card: access }) },
    endpointFile: join(run.dir, OfflineDemoFiles.walletEndpoint),
  });
  run.cleanup.defer("stop the wallet", () => service.close());
  run.say(`  wallet     the user's wallet on ${service.url}, ${options.paying}`);
  run.say(`  server     ${serverUrl}: nothing listens there yet — ${await reachable(serverUrl)}`);
  run.say("");
}

/** The issuing payment server with its card desk, on the port the wallet was told; the operator's API key. */
export async function startIssuingServer(run: OfflineRun, port: number, keyLabel: string) {
  const [server, cards] = await Promise.all([import("@peage/server"), import("@peage/server/cards")]);
  const dataDir = join(run.dir, OfflineDemoFiles.server);
  // The PKI has a card issuer, so initDataDir also installs it: the desk below finds it.
  await server.initDataDir({ dataDir, pkiDir: join(run.dir, OfflineDemoFiles.pki) });
  const { identity, trust } = await server.loadServerIdentity(dataDir);
  const store = server.SqliteStore.open(join(dataDir, server.DataDirFiles.database));
  run.cleanup.defer("close the server's database", () => store.close());
  const desk = await cards.openCardDesk({ dataDir }, identity);
  if (!desk) throw new CommandError("ERR_NO_CARD_ISSUER", "the server's data directory has no card issuer");
  run.cleanup.defer("close the card desk", () => desk.close());
  const app = server.buildApp({
    store,
    identity,
    trust,
    rates: server.staticRates(rateTable("EUR", new Date().toISOString().slice(0, 10), {})),
    cards: desk,
  });
  await app.listen({ host: "127.0.0.1", port });
  run.cleanup.defer("stop the payment server", () => app.close());
  const apiKey = await server.createApiKey(store, server.ApiScopes, keyLabel);
  await writeFile(join(run.dir, OfflineDemoFiles.operatorKey), `${apiKey}\n`, { mode: 0o600 });
  return { store, apiKey, serverUrl: `http://127.0.0.1:${port}` };
}

/** Registers the device at the desk with its load, then makes a top-up for it (a fresh idempotency key). */
export async function registerWithTopUp(desk: InstanceType<Wallet["CardDeskClient"]>, chain: readonly string[], device: string) {
  const registered = await desk.register({ chain, user: USER, mode: "prepaid", currency: "EUR", balance: LOAD });
  await desk.reload(device, TOP_UP, `demo-${randomBytes(6).toString("hex")}`);
  return registered;
}

/** How the two syncs' lines name the device: "card" or "store", and what the server did. */
export interface SyncWords {
  readonly noun: string;
  readonly recorded: string;
}

/** The wallet syncs device and server, then once more to show nothing is recorded twice. */
export async function syncTwice(
  card: Parameters<Wallet["syncCard"]>[0]["card"],
  desk: InstanceType<Wallet["CardDeskClient"]>,
  say: Say,
  words: SyncWords,
): Promise<{ synced: SyncResult; again: SyncResult }> {
  const { syncCard } = await import("@peage/wallet");
  const synced = await syncCard({ card, desk });
  const again = await syncCard({ card, desk });
  const applied = synced.applied.map((a) => a.kind.toUpperCase()).join(" and ");
  say(
    `  sync       ${synced.uploaded} log entries uploaded, ${synced.recorded} ${words.recorded}; the ${words.noun} applied ${applied}`,
  );
  for (const credit of synced.credited) say(`  credited   ${credit.publisher} ${formatPrice(credit.amount as Price)}`);
  say(
    `  ${words.noun.padEnd(11)}log ${synced.after.logLength} of ${synced.after.logCapacity} entries, balance ${formatPrice(price(synced.after.balance ?? 0, "EUR"))}`,
  );
  say(`  again      a second sync uploads ${again.uploaded} entries and records ${again.recorded}: nothing is recorded twice`);
  return { synced, again };
}

/** The sentences of the seven checks, in the device's words. */
export interface CheckSentences {
  readonly acknowledged: string;
  readonly refused: string;
  readonly recorded: string;
  readonly credited: string;
  readonly cleared: string;
  readonly reloaded: string;
  readonly agree: string;
}

/** What the run must show, checked against the server's books: said one line each, and returned. */
export async function offlineChecks(
  books: Pick<import("@peage/server").SqliteStore, "listPayments" | "getUser" | "cardFloat">,
  pki: DemoPki,
  run: { readonly steps: readonly OfflineStep[]; readonly synced: SyncResult; readonly again: SyncResult },
  sentences: CheckSentences,
  say: Say,
) {
  const { steps, synced, again } = run;
  const recorded = (await books.listPayments({ publisher: pki.publisher.identity, limit: 1000 })).payments;
  const userId = partyId("user", USER.split(":")[3]!);
  const user = await books.getUser(userId);
  const float = await books.cardFloat(userId, parseCurrency("EUR"));
  const paid = steps.filter((s) => s.outcome === "paid");
  const spent = paid.reduce((sum, s) => sum + (s.price?.amount ?? 0), 0);
  const checks = [
    { check: sentences.acknowledged, ok: paid.length === 3 && paid.every((s) => s.paymentId?.startsWith("card_")) },
    { check: sentences.refused, ok: steps.find((s) => s.offerId === "level-4")?.outcome === "ERR_INSUFFICIENT_FUNDS" },
    {
      check: sentences.recorded,
      ok:
        recorded.length === paid.length &&
        new Set(recorded.map((p) => p.id)).size === paid.length &&
        paid.every((s) => recorded.some((p) => p.id === s.paymentId)),
    },
    { check: sentences.credited, ok: (synced.credited[0]?.amount.amount ?? 0) === spent },
    { check: sentences.cleared, ok: synced.after.logLength === 0 && synced.account.syncedCounter === paid.length },
    {
      check: sentences.reloaded,
      ok: synced.applied.filter((a) => a.kind === "reload").length === 1 && again.applied.length === 0,
    },
    // The money loaded onto the device is the user's card float in the books, none of it online.
    {
      check: sentences.agree,
      ok: synced.after.balance === LOAD - spent + TOP_UP && float === synced.after.balance && user?.balance === 0,
    },
  ];
  say("");
  for (const check of checks) say(`  ${check.ok ? "ok  " : "FAIL"}  ${check.check}`);
  return checks;
}

/** The result of a run: the parties, the steps, the two syncs and the checks; the device under `key` ("card", "store"). */
export function offlineResult(
  key: "card" | "store",
  device: string,
  run: {
    readonly pki: DemoPki;
    readonly serverUrl: string;
    readonly steps: readonly OfflineStep[];
    readonly synced: SyncResult;
    readonly again: SyncResult;
    readonly checks: readonly { check: string; ok: boolean }[];
  },
) {
  const { pki, synced, again, checks } = run;
  return {
    ok: checks.every((c) => c.ok),
    [key]: device,
    user: USER,
    publisher: pki.publisher.identity,
    server: { id: pki.server.identity, url: run.serverUrl },
    steps: run.steps,
    sync: {
      uploaded: synced.uploaded,
      recorded: synced.recorded,
      applied: synced.applied,
      credited: synced.credited,
      [key]: synced.after,
    },
    again: { uploaded: again.uploaded, recorded: again.recorded },
    checks,
  };
}

/** A port nothing listens on now (the kernel's pick), for the server that starts later. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

export async function reachable(url: string): Promise<string> {
  try {
    await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(2000) });
    return "it answers (unexpected)";
  } catch {
    return "unreachable, as intended";
  }
}

export async function demoDir(data: string | undefined, prefix: string): Promise<{ dir: string; temporary: boolean }> {
  if (data === undefined) return { dir: await mkdtemp(join(tmpdir(), prefix)), temporary: true };
  const dir = resolve(data);
  if (existsSync(dir) && (await readdir(dir)).length > 0)
    throw new CommandError("ERR_EXISTS", `--data ${dir} is not empty: give a new or empty directory for the demo's data`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { dir, temporary: false };
}
