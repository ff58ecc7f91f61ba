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
import { join } from "node:path";
import { certificateToPem, createDemoPki, formatPrice, partyId, price, writePkiDir, type Offer } from "@peage/protocol";
import type { Options } from "../args.js";
import {
  DEMO_PIN,
  LOAD,
  TOP_UP,
  OfflineDemoFiles,
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
  type DemoPki,
  type OfflineRun,
  type Say,
} from "../demo/offline.js";

const CARD = "urn:peage:card:alice-1";

export const CardDemoFiles = { ...OfflineDemoFiles, card: "card", result: "demo-card.json" } as const;

/** The seven checks in the card's words. */
const CHECKS = {
  acknowledged: "every payment was acknowledged by the card with no server running",
  refused: "the card refused the offer its balance could not cover",
  recorded: "the server recorded each card payment once",
  credited: "the publisher was credited what the card paid",
  cleared: "the card's log was cleared up to what the server recorded",
  reloaded: "the top-up was loaded onto the card once",
  agree: "the card's balance and the server's books agree",
} as const;

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
  await runOfflineDemo(
    o,
    {
      prefix: "peage-demo-card-",
      notATerminal:
        "the wallet asks the user and the card's PIN on the terminal, and standard input is not one: run it in a terminal, or add --yes to let the demo answer",
      stopping: "stopping the card, the wallet and the server…",
      resultFile: CardDemoFiles.result,
      keptNote: ` (server database ${join(CardDemoFiles.server, "peage.db")})`,
    },
    cardDemo,
  );
}

async function cardDemo(run: OfflineRun) {
  const messages: SignedMessage[] = [];
  run.say("Péage demonstration, offline variant: the user's smart card pays instead of the payment server (patent claims 3-10)");
  run.say("");
  const { pki, chain } = await issueDemoCard(run);
  const reader = await insertCard(run);
  const port = await freePort();
  await startDemoWallet({
    run,
    pki,
    port,
    card: { extendedLength: true, waitMs: 5000 },
    paying: "paying with the card in whichever reader holds it",
  });
  const steps = await payOffline(run, pki, messages);
  run.say("");

  const { store, apiKey, serverUrl } = await startIssuingServer(run, port, "peage demo --card operator");
  const { CardDeskClient } = await import("@peage/wallet");
  const desk = new CardDeskClient(serverUrl, apiKey);
  const registered = await registerWithTopUp(desk, chain, CARD);
  run.say(
    `  server     now running on ${serverUrl}; the card registered with its ${formatPrice(price(LOAD, "EUR"))} load (${registered.account.user}'s card float), and a ${formatPrice(price(TOP_UP, "EUR"))} top-up made for it`,
  );
  const { synced, again } = await syncInReader(reader, desk, messages, run.say);
  const checks = await offlineChecks(store, pki, { steps, synced, again }, CHECKS, run.say);
  return { ...offlineResult("card", CARD, { pki, serverUrl, steps, synced, again, checks }), messages };
}

/** The issuing desk: the PKI with its card issuer, and the card personalised (its key pair made on the card). */
async function issueDemoCard(run: OfflineRun) {
  const { cardIssuerFromDemo, FileMedium, issueCard } = await import("@peage/card");
  const pki = await createDemoPki({ cardIssuer: true });
  await writePkiDir(join(run.dir, CardDemoFiles.pki), pki);
  const issued = await issueCard(new FileMedium(join(run.dir, CardDemoFiles.card)), {
    issuer: cardIssuerFromDemo(pki),
    card: partyId("card", CARD.split(":")[3]!),
    user: partyId("user", USER.split(":")[3]!),
    pin: DEMO_PIN,
    mode: "prepaid",
    currency: "EUR",
    balance: LOAD,
    roots: [pki.root.certificate],
  });
  run.say(
    `  PKI        a root CA, the publisher ${pki.publisher.identity}, the payment server ${pki.server.identity} and its card issuer`,
  );
  run.say(
    `  card       ${CARD} for ${USER}: prepaid, ${formatPrice(price(LOAD, "EUR"))} loaded, PIN ${DEMO_PIN}; its key pair made on the card, certified by the card issuer`,
  );
  return { pki, chain: issued.chain };
}

/** The card in vsmartcard's virtual reader, seen by pcscd; the pattern of the reader's name. */
async function insertCard(run: OfflineRun): Promise<RegExp> {
  const { startPcscStack } = await import("@peage/card/emulator");
  const stack = await startPcscStack({ dir: join(run.dir, CardDemoFiles.card) });
  run.cleanup.defer("take the card out and stop pcscd", () => stack.stop());
  run.say(
    `  reader     the card emulator in vsmartcard's virtual reader, seen by pcscd like any card (${stack.pcscd.owned ? "pcscd started for the demo" : "the running pcscd"})`,
  );
  return stack.reader;
}

/** The merchant sells through the wallet while no server runs: the card pays, offline. */
async function payOffline(run: OfflineRun, pki: DemoPki, messages: SignedMessage[]) {
  const { Merchant } = await import("@peage/merchant");
  const catalog = await demoCatalog(pki, run.dir, [pki.server.identity]);
  const merchant = await Merchant.create({
    catalog,
    trustRoots: certificateToPem(pki.root.certificate),
    server: pki.server.identity,
    wallet: await recordingTransport(join(run.dir, CardDemoFiles.walletEndpoint), messages),
  });
  run.say(
    run.scripted
      ? `The card pays four offers; --yes answers for the user and types the PIN ${DEMO_PIN}.`
      : `Answer y, then type the card's PIN (${DEMO_PIN}).`,
  );
  return sellFourOffers(merchant, catalog, run.say, (id, balance) => `acknowledged by the card (${id}), card balance ${balance}`);
}

/** The wallet's transport to the merchant, keeping message 1 as sent and what the wallet answered (the card's acknowledgment). */
async function recordingTransport(endpointFile: string, log: SignedMessage[]) {
  const { HttpWalletTransport } = await import("@peage/merchant");
  const inner = new HttpWalletTransport({ endpointFile });
  return {
    async submit(offer: Offer, options: { readonly signal: AbortSignal }): Promise<unknown> {
      log.push({ message: "offer", offerId: offer.terms.offerId, value: offer });
      const answer = await inner.submit(offer, options);
      log.push({ message: "acknowledgment", offerId: offer.terms.offerId, value: answer });
      return answer;
    },
  };
}

/** The wallet connects the card in the reader and the server, twice; the server's commands and the card's receipts kept. */
async function syncInReader(
  reader: RegExp,
  desk: InstanceType<typeof import("@peage/wallet").CardDeskClient>,
  messages: SignedMessage[],
  say: Say,
) {
  const { decodeToken, PcscCardClient } = await import("@peage/card");
  const client = await PcscCardClient.open({ reader, timeoutMs: 15_000, extendedLength: true });
  let syncs: Awaited<ReturnType<typeof syncTwice>>;
  try {
    syncs = await syncTwice(client, desk, say, { noun: "card", recorded: "payments recorded by the server" });
  } finally {
    client.close();
  }
  for (const [round, result] of [
    ["first", syncs.synced],
    ["second", syncs.again],
  ] as const) {
    for (const command of result.commands)
      messages.push({ message: commandKind(decodeToken(command)?.body), sync: round, value: command });
    for (const receipt of result.receipts) messages.push({ message: "card-receipt", sync: round, value: receipt });
  }
  return syncs;
}
