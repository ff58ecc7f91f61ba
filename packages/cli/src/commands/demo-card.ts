/**
 * `peage demo --card`: the offline variant of the patent (claims 3-10) on this machine, with the
 * real parts. A demonstration PKI whose payment server is a card issuer; a prepaid card issued
 * to the user (its key made on the card); pcscd with vsmartcard's virtual reader and the card
 * emulator inserted in it; the user's wallet configured to pay with the card; a merchant (the
 * SDK) selling three offers and a fourth the card cannot cover. The payment server is NOT
 * running while the card pays: every acknowledgment is the card's. Then the server starts, the
 * card is registered with its load, a top-up is made for it, and the wallet synchronises card and
 * server: the log is uploaded and recorded once, the publisher credited, the card's log cleared
 * and the top-up loaded. Loaded by commands/demo.ts only when --card is given.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
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
  type Offer,
  type Price,
} from "@peage/protocol";
import type { Options } from "../args.js";
import { Cleanup } from "../demo/cleanup.js";
import { CommandError } from "../errors.js";
import { print, printJson } from "../output.js";

/** The demonstration card's PIN: typed for the user with --yes. */
export const DEMO_CARD_PIN = "2468";
const USER = "urn:peage:user:alice";
const CARD = "urn:peage:card:alice-1";
const LOAD = 500;
const TOP_UP = 300;

export const CardDemoFiles = {
  pki: "pki",
  card: "card",
  wallet: "wallet",
  walletEndpoint: join("wallet", "endpoint.json"),
  walletPassphrase: "wallet-passphrase",
  server: "server",
  operatorKey: "operator-key",
  catalog: "catalog.json",
  result: "demo-card.json",
} as const;

interface CardStep {
  readonly step: string;
  readonly offerId?: string;
  readonly price?: Price;
  readonly outcome: string;
  readonly paymentId?: string;
  readonly debit?: unknown;
  readonly detail?: string;
}

/**
 * Every signed message of the run, in order, as it went over the wire, so that anyone can check
 * them with `peage inspect`: the merchant's offers (message 1), the card's acknowledgments
 * (message 3), the server's SYNC and RELOAD commands and the card's receipts of them.
 */
interface SignedMessage {
  readonly message: "offer" | "acknowledgment" | "sync-command" | "reload-command" | "card-receipt";
  readonly offerId?: string;
  readonly sync?: "first" | "second";
  readonly value: unknown;
}

/** SYNC or RELOAD, from the type in the body of a command the server signed (a card token, body.signature). */
function commandKind(body: unknown): "sync-command" | "reload-command" {
  return (body as { type?: string } | undefined)?.type === "peage.card-reload" ? "reload-command" : "sync-command";
}

export async function runCardDemo(o: Options): Promise<void> {
  const scripted = o.flag("yes");
  const json = o.flag("json");
  if (!scripted && !process.stdin.isTTY) {
    throw o.usage(
      "the wallet asks the user and the card's PIN on the terminal, and standard input is not one: run it in a terminal, or add --yes to let the demo answer",
    );
  }
  const say = json ? () => undefined : (line: string) => print(line);
  const { dir, temporary } = await demoDir(o.string("data"));
  const cleanup = new Cleanup();
  let stopping: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = signal;
    process.stderr.write(`\n${signal}: stopping the card, the wallet and the server…\n`);
    void cleanup
      .close()
      .then(() => (temporary ? rm(dir, { recursive: true, force: true }) : undefined))
      .finally(() => process.exit(1));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const steps: CardStep[] = [];
  const messages: SignedMessage[] = [];
  try {
    const result = await demo();
    if (!temporary) await writeFile(join(dir, CardDemoFiles.result), `${JSON.stringify(result, null, 2)}\n`);
    if (json) printJson(result);
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

  async function demo() {
    const merchantModule = import("@peage/merchant");
    const { HttpWalletTransport } = await merchantModule;
    /** Message 1 as the merchant sent it and what the wallet answered (the card's acknowledgment), for `messages`. */
    class RecordingTransport {
      constructor(
        readonly inner: InstanceType<typeof HttpWalletTransport>,
        readonly log: SignedMessage[],
      ) {}
      async submit(offer: Offer, options: { readonly signal: AbortSignal }): Promise<unknown> {
        this.log.push({ message: "offer", offerId: offer.terms.offerId, value: offer });
        const answer = await this.inner.submit(offer, options);
        this.log.push({ message: "acknowledgment", offerId: offer.terms.offerId, value: answer });
        return answer;
      }
    }
    const [
      { cardIssuerFromDemo, decodeToken, FileMedium, issueCard, PcscCardClient },
      { startPcscStack },
      wallet,
      { Merchant, MerchantError },
      server,
      cards,
    ] = await Promise.all([
      import("@peage/card"),
      import("@peage/card/emulator"),
      import("@peage/wallet"),
      merchantModule,
      import("@peage/server"),
      import("@peage/server/cards"),
    ]);
    say("Péage demonstration, offline variant: the user's smart card pays instead of the payment server (patent claims 3-10)");
    say("");

    // 1. The issuing desk: PKI, card.
    const pki = await createDemoPki({ cardIssuer: true });
    await writePkiDir(join(dir, CardDemoFiles.pki), pki);
    const issued = await issueCard(new FileMedium(join(dir, CardDemoFiles.card)), {
      issuer: cardIssuerFromDemo(pki),
      card: partyId("card", CARD.split(":")[3]!),
      user: partyId("user", USER.split(":")[3]!),
      pin: DEMO_CARD_PIN,
      mode: "prepaid",
      currency: "EUR",
      balance: LOAD,
      roots: [pki.root.certificate],
    });
    say(
      `  PKI        a root CA, the publisher ${pki.publisher.identity}, the payment server ${pki.server.identity} and its card issuer`,
    );
    say(
      `  card       ${CARD} for ${USER}: prepaid, ${formatPrice(price(LOAD, "EUR"))} loaded, PIN ${DEMO_CARD_PIN}; its key pair made on the card, certified by the card issuer`,
    );

    // 2. The card in the virtual reader.
    const stack = await startPcscStack({ dir: join(dir, CardDemoFiles.card) });
    cleanup.defer("take the card out and stop pcscd", () => stack.stop());
    say(
      `  reader     the card emulator in vsmartcard's virtual reader, seen by pcscd like any card (${stack.pcscd.owned ? "pcscd started for the demo" : "the running pcscd"})`,
    );

    // 3. The wallet, pointed at a server that is not running.
    const port = await freePort();
    const serverUrl = `http://127.0.0.1:${port}`;
    const passphrase = randomBytes(18).toString("base64url");
    await writeFile(join(dir, CardDemoFiles.walletPassphrase), `${passphrase}\n`, { mode: 0o600 });
    await wallet.initWallet(join(dir, CardDemoFiles.wallet), {
      passphrase,
      user: USER,
      serverUrl,
      serverId: pki.server.identity,
      homeCurrency: "EUR",
      trustRootsPem: certificateToPem(pki.root.certificate),
      rules: { autoAccept: { perPayment: price(0, "EUR") }, refuse: {} },
    });
    const config = await wallet.readConfig(join(dir, CardDemoFiles.wallet));
    await wallet.writeConfig(join(dir, CardDemoFiles.wallet), {
      ...config,
      card: { extendedLength: true, waitMs: 5000, ...(scripted && { pin: DEMO_CARD_PIN }) },
    });
    const prompt = scripted ? new wallet.AutoYesPrompt() : new wallet.TerminalPrompt({ output: process.stderr });
    const service = await wallet.startWallet({
      wallet: { dir: join(dir, CardDemoFiles.wallet), passphrase, prompt },
      endpointFile: join(dir, CardDemoFiles.walletEndpoint),
    });
    cleanup.defer("stop the wallet", () => service.close());
    say(`  wallet     the user's wallet on ${service.url}, paying with the card in whichever reader holds it`);
    say(`  server     ${serverUrl}: nothing listens there yet — ${await reachable(serverUrl)}`);
    say("");

    // 4. The merchant sells; the card pays, offline.
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
      { servers: [pki.server.identity] },
    );
    await writeFile(join(dir, CardDemoFiles.catalog), `${JSON.stringify(catalog, null, 2)}\n`);
    const transport = new RecordingTransport(
      new HttpWalletTransport({ endpointFile: join(dir, CardDemoFiles.walletEndpoint) }),
      messages,
    );
    const merchant = await Merchant.create({
      catalog,
      trustRoots: certificateToPem(pki.root.certificate),
      server: pki.server.identity,
      wallet: transport,
    });
    say(
      scripted
        ? `The card pays four offers; --yes answers for the user and types the PIN ${DEMO_CARD_PIN}.`
        : `Answer y, then type the card's PIN (${DEMO_CARD_PIN}).`,
    );
    for (const [offerId, pay] of [
      ["launch", () => merchant.atLaunch()],
      ["level-2", () => merchant.onEvent("level-2")],
      ["level-3", () => merchant.onEvent("level-3")],
      ["level-4", () => merchant.onEvent("level-4")],
    ] as const) {
      const offer = catalog.offers.find((e) => e.terms.offerId === offerId)!;
      try {
        const granted = await pay();
        const debit = (
          JSON.parse(Buffer.from(granted.acknowledgment.acknowledgment.split(".")[1]!, "base64url").toString()) as {
            debit?: { balance?: number };
          }
        ).debit;
        steps.push({ step: "pay", offerId, price: granted.price, outcome: "paid", paymentId: granted.paymentId, debit });
        say(
          `  paid       ${offerId.padEnd(8)} ${formatPrice(granted.price).padStart(9)}  acknowledged by the card (${granted.paymentId}), card balance ${formatPrice(price(debit?.balance ?? 0, "EUR"))}`,
        );
      } catch (error) {
        const code = error instanceof MerchantError ? error.code : "ERR_INTERNAL";
        steps.push({ step: "pay", offerId, price: offer.terms.price, outcome: code, detail: (error as Error).message });
        say(
          `  refused    ${offerId.padEnd(8)} ${formatPrice(offer.terms.price).padStart(9)}  ${code}: ${(error as Error).message}`,
        );
      }
    }
    const paid = steps.filter((s) => s.outcome === "paid");
    say("");

    // 5. The server starts; the card is registered with its load; a top-up is made for it.
    const dataDir = join(dir, CardDemoFiles.server);
    // The PKI has a card issuer, so initDataDir also installs it: the desk below finds it.
    await server.initDataDir({ dataDir, pkiDir: join(dir, CardDemoFiles.pki) });
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
    const apiKey = await server.createApiKey(store, server.ApiScopes, "peage demo --card operator");
    await writeFile(join(dir, CardDemoFiles.operatorKey), `${apiKey}\n`, { mode: 0o600 });
    const deskClient = new wallet.CardDeskClient(serverUrl, apiKey);
    const registered = await deskClient.register({
      chain: issued.chain,
      user: USER,
      mode: "prepaid",
      currency: "EUR",
      balance: LOAD,
    });
    await deskClient.reload(CARD, TOP_UP, `demo-${randomBytes(6).toString("hex")}`);
    say(
      `  server     now running on ${serverUrl}; the card registered with its ${formatPrice(price(LOAD, "EUR"))} load (${registered.account.user}'s card float), and a ${formatPrice(price(TOP_UP, "EUR"))} top-up made for it`,
    );

    // 6. The wallet connects card and server.
    const client = await PcscCardClient.open({ reader: stack.reader, timeoutMs: 15_000, extendedLength: true });
    let synced: Awaited<ReturnType<typeof wallet.syncCard>>;
    let again: Awaited<ReturnType<typeof wallet.syncCard>>;
    try {
      synced = await wallet.syncCard({ card: client, desk: deskClient });
      again = await wallet.syncCard({ card: client, desk: deskClient });
    } finally {
      client.close();
    }
    for (const [round, result] of [
      ["first", synced],
      ["second", again],
    ] as const) {
      for (const command of result.commands)
        messages.push({ message: commandKind(decodeToken(command)?.body), sync: round, value: command });
      for (const receipt of result.receipts) messages.push({ message: "card-receipt", sync: round, value: receipt });
    }
    say(
      `  sync       ${synced.uploaded} log entries uploaded, ${synced.recorded} payments recorded by the server; the card applied ${synced.applied.map((a) => a.kind.toUpperCase()).join(" and ")}`,
    );
    for (const credit of synced.credited) say(`  credited   ${credit.publisher} ${formatPrice(credit.amount as Price)}`);
    say(
      `  card       log ${synced.after.logLength} of ${synced.after.logCapacity} entries, balance ${formatPrice(price(synced.after.balance ?? 0, "EUR"))}`,
    );
    say(`  again      a second sync uploads ${again.uploaded} entries and records ${again.recorded}: nothing is recorded twice`);

    const recorded = (await store.listPayments({ publisher: pki.publisher.identity, limit: 1000 })).payments;
    const userId = partyId("user", USER.split(":")[3]!);
    const user = await store.getUser(userId);
    const float = await store.cardFloat(userId, parseCurrency("EUR"));
    const spent = paid.reduce((sum, s) => sum + (s.price?.amount ?? 0), 0);
    const checks = [
      {
        check: "every payment was acknowledged by the card with no server running",
        ok: paid.length === 3 && paid.every((s) => s.paymentId?.startsWith("card_")),
      },
      {
        check: "the card refused the offer its balance could not cover",
        ok: steps.find((s) => s.offerId === "level-4")?.outcome === "ERR_INSUFFICIENT_FUNDS",
      },
      {
        check: "the server recorded each card payment once",
        ok:
          recorded.length === paid.length &&
          new Set(recorded.map((p) => p.id)).size === paid.length &&
          paid.every((s) => recorded.some((p) => p.id === s.paymentId)),
      },
      { check: "the publisher was credited what the card paid", ok: (synced.credited[0]?.amount.amount ?? 0) === spent },
      {
        check: "the card's log was cleared up to what the server recorded",
        ok: synced.after.logLength === 0 && synced.account.syncedCounter === paid.length,
      },
      {
        check: "the top-up was loaded onto the card once",
        ok: synced.applied.filter((a) => a.kind === "reload").length === 1 && again.applied.length === 0,
      },
      // The money loaded onto the card is the user's card float in the books, none of it online.
      {
        check: "the card's balance and the server's books agree",
        ok: synced.after.balance === LOAD - spent + TOP_UP && float === synced.after.balance && user?.balance === 0,
      },
    ];
    say("");
    for (const check of checks) say(`  ${check.ok ? "ok  " : "FAIL"}  ${check.check}`);
    if (!temporary) say(`\nThe demo's data is kept in ${dir} (server database ${join(CardDemoFiles.server, "peage.db")}).`);
    return {
      ok: checks.every((c) => c.ok),
      card: CARD,
      user: USER,
      publisher: pki.publisher.identity,
      server: { id: pki.server.identity, url: serverUrl },
      steps,
      sync: {
        uploaded: synced.uploaded,
        recorded: synced.recorded,
        applied: synced.applied,
        credited: synced.credited,
        card: synced.after,
      },
      again: { uploaded: again.uploaded, recorded: again.recorded },
      messages,
      checks,
    };
  }
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

export async function demoDir(
  data: string | undefined,
  prefix = "peage-demo-card-",
): Promise<{ dir: string; temporary: boolean }> {
  if (data === undefined) return { dir: await mkdtemp(join(tmpdir(), prefix)), temporary: true };
  const dir = resolve(data);
  if (existsSync(dir) && (await readdir(dir)).length > 0)
    throw new CommandError("ERR_EXISTS", `--data ${dir} is not empty: give a new or empty directory for the demo's data`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { dir, temporary: false };
}
