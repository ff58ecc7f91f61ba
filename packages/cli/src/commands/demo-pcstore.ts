/**
 * `peage demo --pc-store`: the third way to pay offline, on this machine, with the real parts.
 * A software TPM 2.0 (swtpm, started here on free ports) stands for the PC's chip; the user's PC
 * store is made in it — key created in the TPM, files as encrypted fragments anchored to its
 * counter — and certified by the server's card issuer. The wallet pays with the store while NO
 * payment server is running: three offers paid and acknowledged by the store, a fourth refused for
 * lack of balance. Then the server starts, the store is registered with its load and a top-up is
 * made; the wallet syncs store and server: the payments recorded once, the publisher credited,
 * the log cleared, the top-up loaded. With --json every signed message is printed: the offers,
 * the acknowledgments, the log entries and head uploaded, the server's commands and the store's
 * receipts. Loaded by commands/demo.ts only when --pc-store is given.
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  certificateToPem,
  createDemoPki,
  formatPrice,
  parseCurrency,
  partyId,
  price,
  rateTable,
  signCatalog,
  writePkiDir,
  type Catalog,
  type Price,
} from "@peage/protocol";
import type { Options } from "../args.js";
import { Cleanup } from "../demo/cleanup.js";
import { CommandError } from "../errors.js";
import { print, printJson } from "../output.js";
import { demoDir, freePort, reachable } from "./demo-card.js";

const PIN = "2468";
const USER = "urn:peage:user:alice";
const STORE = "urn:peage:card:alice-pc";
const LOAD = 500;
const TOP_UP = 300;

export const PcStoreDemoFiles = {
  pki: "pki",
  tpm: "swtpm",
  store: "pcstore",
  wallet: "wallet",
  walletEndpoint: join("wallet", "endpoint.json"),
  walletPassphrase: "wallet-passphrase",
  server: "server",
  operatorKey: "operator-key",
  catalog: "catalog.json",
  result: "demo-pc-store.json",
} as const;

/** Every signed message of the run, as it travelled. */
interface Messages {
  offers: { offerId: string; signature: string }[];
  acknowledgments: string[];
  logEntries: string[];
  logHeads: string[];
  commands: string[];
  receipts: string[];
}

interface Step {
  readonly step: string;
  readonly offerId?: string;
  readonly price?: Price;
  readonly outcome: string;
  readonly paymentId?: string;
  readonly debit?: unknown;
  readonly detail?: string;
}

export async function runPcStoreDemo(o: Options): Promise<void> {
  const scripted = o.flag("yes");
  const json = o.flag("json");
  if (!scripted && !process.stdin.isTTY) {
    throw o.usage(
      "the wallet asks the user and the store's PIN on the terminal, and standard input is not one: run it in a terminal, or add --yes",
    );
  }
  const say = json ? () => undefined : (line: string) => print(line);
  const { dir, temporary } = await demoDir(o.string("data"), "peage-demo-pcstore-");
  const cleanup = new Cleanup();
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the wallet, the server and swtpm…\n`);
    void cleanup
      .close()
      .then(() => (temporary ? rm(dir, { recursive: true, force: true }) : undefined))
      .finally(() => process.exit(1));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const result = await demo(dir, scripted, say, cleanup);
    if (!temporary) await writeFile(join(dir, PcStoreDemoFiles.result), `${JSON.stringify(result, null, 2)}\n`);
    if (json) printJson(result);
    if (!temporary) say(`\nThe demo's data is kept in ${dir}.`);
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

async function demo(dir: string, scripted: boolean, say: (line: string) => void, cleanup: Cleanup) {
  const [pcstore, { Merchant, MerchantError }] = await Promise.all([import("@peage/pcstore"), import("@peage/merchant")]);
  const messages: Messages = { offers: [], acknowledgments: [], logEntries: [], logHeads: [], commands: [], receipts: [] };
  say("Péage demonstration, the PC store: a protected store on the PC, anchored in its TPM, pays instead of the payment server");
  say("");

  // 1. The issuing desk's PKI; the PC's TPM (swtpm); the store made in it.
  const { pki, issued, opened } = await makeStore(dir, say, cleanup);

  // 2. The wallet, pointed at a server that is not running, paying with the store.
  const port = await freePort();
  const access = new pcstore.PcStoreAccess(opened);
  await startDemoWallet(dir, pki, access, scripted, port, say, cleanup);

  // 3. The merchant sells; the store pays, offline.
  const catalog = await signCatalog(
    pki.publisher.identity,
    [
      { offerId: "launch", description: "Start The Lighthouse Quest", price: price(50, "EUR"), grant: { kind: "launch" } },
      {
        offerId: "level-2",
        description: "Unlock level 2: the cliffs",
        price: price(120, "EUR"),
        grant: { kind: "event", event: "level-2" },
      },
      {
        offerId: "level-3",
        description: "Unlock level 3: the lighthouse",
        price: price(200, "EUR"),
        grant: { kind: "event", event: "level-3" },
      },
      {
        offerId: "level-4",
        description: "Unlock level 4: the island",
        price: price(200, "EUR"),
        grant: { kind: "event", event: "level-4" },
      },
    ],
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
  );
  await writeFile(join(dir, PcStoreDemoFiles.catalog), `${JSON.stringify(catalog, null, 2)}\n`);
  messages.offers.push(...catalog.offers.map((entry) => ({ offerId: entry.terms.offerId, signature: entry.signature })));
  const merchant = await Merchant.create({
    catalog,
    trustRoots: certificateToPem(pki.root.certificate),
    server: pki.server.identity,
    wallet: { endpointFile: join(dir, PcStoreDemoFiles.walletEndpoint) },
  });
  say(
    scripted
      ? `The store pays four offers; --yes answers for the user and types the PIN ${PIN}.`
      : `Answer y, then type the store's PIN (${PIN}).`,
  );
  const steps = await sell(merchant, catalog, messages, say, MerchantError);
  say("");
  const sync = await serverAndSync(dir, pki, issued.chain, access, messages, say, cleanup, port);
  return { ...sync.result(steps), messages };
}

/** The merchant sells the four offers through the wallet; the store acknowledges (or refuses) each. */
async function sell(
  merchant: import("@peage/merchant").Merchant,
  catalog: Catalog,
  messages: Messages,
  say: (line: string) => void,
  MerchantError: typeof import("@peage/merchant").MerchantError,
): Promise<Step[]> {
  const steps: Step[] = [];
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
      messages.acknowledgments.push(token);
      const debit = (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { debit?: { balance?: number } })
        .debit;
      steps.push({ step: "pay", offerId, price: granted.price, outcome: "paid", paymentId: granted.paymentId, debit });
      const balance = formatPrice(price(debit?.balance ?? 0, "EUR"));
      say(
        `  paid       ${offerId.padEnd(8)} ${formatPrice(granted.price).padStart(9)}  acknowledged by the store (${granted.paymentId}), balance ${balance}`,
      );
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

/** Starts the server, registers the store, makes a top-up, and syncs twice; then the checks. */
async function serverAndSync(
  dir: string,
  pki: Awaited<ReturnType<typeof createDemoPki>>,
  chain: readonly string[],
  access: import("@peage/pcstore").PcStoreAccess,
  messages: Messages,
  say: (line: string) => void,
  cleanup: Cleanup,
  port: number,
) {
  const serverUrl = `http://127.0.0.1:${port}`;
  const { store, apiKey } = await startIssuingServer(dir, port, cleanup);
  const deskClient = await recordingDesk(serverUrl, apiKey, messages);
  const registered = await deskClient.register({ chain, user: USER, mode: "prepaid", currency: "EUR", balance: LOAD });
  await deskClient.reload(STORE, TOP_UP, `demo-${randomBytes(6).toString("hex")}`);
  say(
    `  server     now running on ${serverUrl}; the store registered (${registered.account.user}'s funds) and a ${formatPrice(price(TOP_UP, "EUR"))} top-up made for it`,
  );
  const { synced, again } = await syncTwice(access, deskClient, say);
  const recorded = (await store.listPayments({ publisher: pki.publisher.identity, limit: 1000 })).payments;
  const userId = partyId("user", USER.split(":")[3]!);
  const user = await store.getUser(userId);
  const float = await store.cardFloat(userId, parseCurrency("EUR"));
  return {
    result(steps: readonly Step[]) {
      const paid = steps.filter((s) => s.outcome === "paid");
      const spent = paid.reduce((sum, s) => sum + (s.price?.amount ?? 0), 0);
      const checks = [
        {
          check: "every payment was acknowledged by the PC store with no server running",
          ok: paid.length === 3 && paid.every((s) => s.paymentId?.startsWith("card_")),
        },
        {
          check: "the store refused the offer its balance could not cover",
          ok: steps.find((s) => s.offerId === "level-4")?.outcome === "ERR_INSUFFICIENT_FUNDS",
        },
        {
          check: "the server recorded each payment once",
          ok: recorded.length === paid.length && paid.every((s) => recorded.some((p) => p.id === s.paymentId)),
        },
        { check: "the publisher was credited what the store paid", ok: (synced.credited[0]?.amount.amount ?? 0) === spent },
        {
          check: "the store's log was cleared up to what the server recorded",
          ok: synced.after.logLength === 0 && synced.account.syncedCounter === paid.length,
        },
        {
          check: "the top-up was loaded once",
          ok: synced.applied.filter((a) => a.kind === "reload").length === 1 && again.applied.length === 0,
        },
        // The money loaded onto the store is the user's card float in the books, none of it online.
        {
          check: "the store's balance and the server's books agree",
          ok: synced.after.balance === LOAD - spent + TOP_UP && float === synced.after.balance && user?.balance === 0,
        },
      ];
      say("");
      for (const check of checks) say(`  ${check.ok ? "ok  " : "FAIL"}  ${check.check}`);
      return {
        ok: checks.every((c) => c.ok),
        store: STORE,
        user: USER,
        publisher: pki.publisher.identity,
        server: { id: pki.server.identity, url: serverUrl },
        steps,
        sync: {
          uploaded: synced.uploaded,
          recorded: synced.recorded,
          applied: synced.applied,
          credited: synced.credited,
          store: synced.after,
        },
        again: { uploaded: again.uploaded, recorded: again.recorded },
        checks,
      };
    },
  };
}

/** The issuing desk's PKI, swtpm standing for the PC's TPM, and the user's store made in it. */
async function makeStore(dir: string, say: (line: string) => void, cleanup: Cleanup) {
  const [{ cardIssuerFromDemo }, pcstore, { startSwtpm }] = await Promise.all([
    import("@peage/card"),
    import("@peage/pcstore"),
    import("@peage/pcstore/simulator"),
  ]);
  const pki = await createDemoPki({ cardIssuer: true });
  await writePkiDir(join(dir, PcStoreDemoFiles.pki), pki);
  const swtpm = await startSwtpm(join(dir, PcStoreDemoFiles.tpm));
  cleanup.defer("stop swtpm", () => swtpm.stop());
  const storeDir = join(dir, PcStoreDemoFiles.store);
  const issued = await pcstore.createPcStore({
    dir: storeDir,
    tpm: swtpm.tpm,
    issuer: cardIssuerFromDemo(pki),
    card: partyId("card", STORE.split(":")[3]!),
    user: partyId("user", USER.split(":")[3]!),
    pin: PIN,
    mode: "prepaid",
    currency: "EUR",
    balance: LOAD,
    roots: [pki.root.certificate],
  });
  const opened = await pcstore.openPcStore(storeDir, { tpm: swtpm.tpm });
  const { k, n } = issued.config.coding;
  say(
    `  PKI        a root CA, the publisher ${pki.publisher.identity}, the payment server ${pki.server.identity} and its card issuer`,
  );
  say(`  TPM        swtpm at ${swtpm.tcti}, driven through tpm2-tools`);
  say(
    `  store      ${STORE} for ${USER}: prepaid, ${formatPrice(price(LOAD, "EUR"))}, PIN ${PIN}; key made in the TPM, assurance ${issued.config.assurance}`,
  );
  say(
    `  fragments  its state as ${n} encrypted fragments (any ${k} rebuild it) in ${issued.config.places.length} places, anchored to a TPM counter`,
  );
  return { pki, issued, opened };
}

/** The user's wallet, pointed at a server that is not running yet, paying with the store. */
async function startDemoWallet(
  dir: string,
  pki: Awaited<ReturnType<typeof createDemoPki>>,
  access: import("@peage/pcstore").PcStoreAccess,
  scripted: boolean,
  port: number,
  say: (line: string) => void,
  cleanup: Cleanup,
): Promise<void> {
  const wallet = await import("@peage/wallet");
  const serverUrl = `http://127.0.0.1:${port}`;
  const passphrase = randomBytes(18).toString("base64url");
  await writeFile(join(dir, PcStoreDemoFiles.walletPassphrase), `${passphrase}\n`, { mode: 0o600 });
  const walletDir = join(dir, PcStoreDemoFiles.wallet);
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
  await wallet.writeConfig(walletDir, { ...config, card: { ...(scripted && { pin: PIN }) } });
  const prompt = scripted ? new wallet.AutoYesPrompt() : new wallet.TerminalPrompt({ output: process.stderr });
  const service = await wallet.startWallet({
    wallet: { dir: walletDir, passphrase, prompt, card: access },
    endpointFile: join(dir, PcStoreDemoFiles.walletEndpoint),
  });
  cleanup.defer("stop the wallet", () => service.close());
  say(`  wallet     the user's wallet on ${service.url}, paying with the PC store as with a card`);
  say(`  server     ${serverUrl}: nothing listens there yet — ${await reachable(serverUrl)}`);
  say("");
}

/** The issuing payment server with its card desk, on the port the wallet was told; the operator's API key. */
async function startIssuingServer(dir: string, port: number, cleanup: Cleanup) {
  const [server, cards] = await Promise.all([import("@peage/server"), import("@peage/server/cards")]);
  const dataDir = join(dir, PcStoreDemoFiles.server);
  await server.initDataDir({ dataDir, pkiDir: join(dir, PcStoreDemoFiles.pki) });
  const { identity, trust } = await server.loadServerIdentity(dataDir);
  const store = server.SqliteStore.open(join(dataDir, server.DataDirFiles.database));
  cleanup.defer("close the server's database", () => store.close());
  const desk = await cards.openCardDesk({ dataDir }, identity);
  if (!desk) throw new CommandError("ERR_NO_CARD_ISSUER", "the server's data directory has no card issuer");
  cleanup.defer("close the card desk", () => desk.close());
  const app = server.buildApp({
    store,
    identity,
    trust,
    rates: server.staticRates(rateTable("EUR", new Date().toISOString().slice(0, 10), {})),
    cards: desk,
  });
  await app.listen({ host: "127.0.0.1", port });
  cleanup.defer("stop the payment server", () => app.close());
  const apiKey = await server.createApiKey(store, server.ApiScopes, "peage demo --pc-store operator");
  await writeFile(join(dir, PcStoreDemoFiles.operatorKey), `${apiKey}\n`, { mode: 0o600 });
  return { store, apiKey };
}

/** The desk client, keeping what crosses it: the store's log and head, the server's commands, the store's receipts. */
async function recordingDesk(serverUrl: string, apiKey: string, messages: Messages) {
  const wallet = await import("@peage/wallet");
  class RecordingDesk extends wallet.CardDeskClient {
    override async sync(card: string, upload: { challenge: string; entries: readonly string[]; head: string }) {
      messages.logEntries.push(...upload.entries);
      messages.logHeads.push(upload.head);
      const answer = await super.sync(card, upload);
      messages.commands.push(...answer.commands);
      return answer;
    }
    override async receipts(card: string, receipts: readonly string[]) {
      messages.receipts.push(...receipts);
      return super.receipts(card, receipts);
    }
  }
  return new RecordingDesk(serverUrl, apiKey);
}

/** The wallet syncs store and server, then once more to show nothing is recorded twice. */
async function syncTwice(
  access: import("@peage/pcstore").PcStoreAccess,
  deskClient: import("@peage/wallet").CardDeskClient,
  say: (line: string) => void,
) {
  const wallet = await import("@peage/wallet");
  const synced = await wallet.syncCard({ card: access, desk: deskClient });
  const again = await wallet.syncCard({ card: access, desk: deskClient });
  say(
    `  sync       ${synced.uploaded} log entries uploaded, ${synced.recorded} payments recorded; the store applied ${synced.applied.map((a) => a.kind.toUpperCase()).join(" and ")}`,
  );
  for (const credit of synced.credited) say(`  credited   ${credit.publisher} ${formatPrice(credit.amount as Price)}`);
  say(
    `  store      log ${synced.after.logLength} of ${synced.after.logCapacity} entries, balance ${formatPrice(price(synced.after.balance ?? 0, "EUR"))}`,
  );
  say(`  again      a second sync uploads ${again.uploaded} entries and records ${again.recorded}: nothing is recorded twice`);
  return { synced, again };
}
