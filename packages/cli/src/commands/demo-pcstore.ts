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
import { join } from "node:path";
import { certificateToPem, createDemoPki, formatPrice, partyId, price, writePkiDir } from "@peage/protocol";
import type { Options } from "../args.js";
import {
  DEMO_PIN,
  LOAD,
  OfflineDemoFiles,
  TOP_UP,
  USER,
  demoCatalog,
  freePort,
  offlineChecks,
  offlineResult,
  registerWithTopUp,
  runOfflineDemo,
  sellFourOffers,
  startDemoWallet,
  startIssuingServer,
  syncTwice,
  type OfflineRun,
} from "../demo/offline.js";

const STORE = "urn:peage:card:alice-pc";

export const PcStoreDemoFiles = { ...OfflineDemoFiles, tpm: "swtpm", store: "pcstore", result: "demo-pc-store.json" } as const;

/** The seven checks in the store's words. */
const CHECKS = {
  acknowledged: "every payment was acknowledged by the PC store with no server running",
  refused: "the store refused the offer its balance could not cover",
  recorded: "the server recorded each payment once",
  credited: "the publisher was credited what the store paid",
  cleared: "the store's log was cleared up to what the server recorded",
  reloaded: "the top-up was loaded once",
  agree: "the store's balance and the server's books agree",
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

export async function runPcStoreDemo(o: Options): Promise<void> {
  await runOfflineDemo(
    o,
    {
      prefix: "peage-demo-pcstore-",
      notATerminal:
        "the wallet asks the user and the store's PIN on the terminal, and standard input is not one: run it in a terminal, or add --yes",
      stopping: "stopping the wallet, the server and swtpm…",
      resultFile: PcStoreDemoFiles.result,
      keptNote: "",
    },
    pcStoreDemo,
  );
}

async function pcStoreDemo(run: OfflineRun) {
  const pcstore = await import("@peage/pcstore");
  const messages: Messages = { offers: [], acknowledgments: [], logEntries: [], logHeads: [], commands: [], receipts: [] };
  run.say(
    "Péage demonstration, the PC store: a protected store on the PC, anchored in its TPM, pays instead of the payment server",
  );
  run.say("");

  // 1. The issuing desk's PKI; the PC's TPM (swtpm); the store made in it.
  const { pki, issued, opened } = await makeStore(run);

  // 2. The wallet, pointed at a server that is not running, paying with the store.
  const port = await freePort();
  const access = new pcstore.PcStoreAccess(opened);
  await startDemoWallet({ run, pki, port, card: {}, access, paying: "paying with the PC store as with a card" });

  // 3. The merchant sells; the store pays, offline.
  const { Merchant } = await import("@peage/merchant");
  const catalog = await demoCatalog(pki, run.dir);
  messages.offers.push(...catalog.offers.map((entry) => ({ offerId: entry.terms.offerId, signature: entry.signature })));
  const merchant = await Merchant.create({
    catalog,
    trustRoots: certificateToPem(pki.root.certificate),
    server: pki.server.identity,
    wallet: { endpointFile: join(run.dir, PcStoreDemoFiles.walletEndpoint) },
  });
  run.say(
    run.scripted
      ? `The store pays four offers; --yes answers for the user and types the PIN ${DEMO_PIN}.`
      : `Answer y, then type the store's PIN (${DEMO_PIN}).`,
  );
  const paid = (id: string, balance: string) => `acknowledged by the store (${id}), balance ${balance}`;
  const steps = await sellFourOffers(merchant, catalog, run.say, paid, (token) => messages.acknowledgments.push(token));
  run.say("");

  // 4. The server starts, the store is registered with a top-up, and the wallet syncs store and server twice.
  const { store, apiKey, serverUrl } = await startIssuingServer(run, port, "peage demo --pc-store operator");
  const desk = await recordingDesk(serverUrl, apiKey, messages);
  const registered = await registerWithTopUp(desk, issued.chain, STORE);
  run.say(
    `  server     now running on ${serverUrl}; the store registered (${registered.account.user}'s funds) and a ${formatPrice(price(TOP_UP, "EUR"))} top-up made for it`,
  );
  const { synced, again } = await syncTwice(access, desk, run.say, { noun: "store", recorded: "payments recorded" });
  const checks = await offlineChecks(store, pki, { steps, synced, again }, CHECKS, run.say);
  return { ...offlineResult("store", STORE, { pki, serverUrl, steps, synced, again, checks }), messages };
}

/** The issuing desk's PKI, swtpm standing for the PC's TPM, and the user's store made in it. */
async function makeStore(run: OfflineRun) {
  const { dir, say, cleanup } = run;
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
    pin: DEMO_PIN,
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
    `  store      ${STORE} for ${USER}: prepaid, ${formatPrice(price(LOAD, "EUR"))}, PIN ${DEMO_PIN}; key made in the TPM, assurance ${issued.config.assurance}`,
  );
  say(
    `  fragments  its state as ${n} encrypted fragments (any ${k} rebuild it) in ${issued.config.places.length} places, anchored to a TPM counter`,
  );
  return { pki, issued, opened };
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
