/**
 * The merchant accepts message 3 signed by a user's smart card (offline variant, patent claims
 * 3-10) exactly as it accepts a payment server's: the card's chain must lead through the card
 * issuer of the payment server the merchant deals with to a trusted root, for this very offer.
 * A card of another payment server, an acknowledgment replayed for another offer, and a card
 * certified by an issuer that is not the server's are refused. The last test runs the whole
 * path: the merchant SDK, the wallet's local service, pcscd, the virtual reader and the card.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certificateToPem,
  createDemoPki,
  FixedClock,
  partyId,
  price,
  signCatalog,
  type Catalog,
  type DemoPki,
  type Offer,
  type PartyId,
} from "@peage/protocol";
import {
  cardIssuerFromDemo,
  CardClient,
  FileMedium,
  InProcessTransport,
  issueCard,
  MemoryMedium,
  payWithCard,
} from "@peage/card";
import { startPcscStack, type PcscStack } from "@peage/card/testing";
import {
  createWallet,
  initWallet,
  readConfig,
  ScriptedPrompt,
  startWallet,
  writeConfig,
  type Wallet,
  type WalletService,
} from "@peage/wallet";
import { Merchant, type WalletTransport } from "../src/index.js";
import { merchantCode } from "./helpers.js";

const NOW = new Date("2026-08-03T10:00:00.000Z");
const PIN = "1357";

async function catalogOf(pki: DemoPki, servers?: PartyId<"server">[]): Promise<Catalog> {
  return signCatalog(
    pki.publisher.identity,
    [
      { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" } },
      { offerId: "level-2", description: "Unlock level 2", price: price(100, "EUR"), grant: { kind: "event", event: "level-2" } },
    ],
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
    servers ? { servers } : {},
  );
}

/** A card of `pki`'s card issuer, in memory, with a client talking to it in-process. */
async function cardOf(pki: DemoPki, clock: FixedClock, name: string, roots = [pki.root.certificate]): Promise<CardClient> {
  const medium = new MemoryMedium();
  await issueCard(medium, {
    issuer: cardIssuerFromDemo(pki),
    card: partyId("card", name),
    user: partyId("user", "alice"),
    pin: PIN,
    mode: "prepaid",
    currency: "EUR",
    balance: 1000,
    roots,
    now: NOW,
  });
  return new CardClient(await InProcessTransport.open(medium, { clock }));
}

/** The wallet's part played by a card directly: what reaches the merchant is the card's message 3. */
function cardTransport(card: CardClient, clock: FixedClock, tamper?: (ack: unknown, offer: Offer) => unknown): WalletTransport {
  return {
    async submit(offer) {
      const ack = await payWithCard(card, { offer, pin: PIN, clock });
      return tamper ? tamper(ack, offer) : ack;
    },
  };
}

describe("the merchant and card acknowledgments", () => {
  let pki: DemoPki;
  let clock: FixedClock;
  let catalog: Catalog;
  let roots: string;

  before(async () => {
    clock = new FixedClock(NOW);
    pki = await createDemoPki({ now: NOW, cardIssuer: true });
    catalog = await catalogOf(pki);
    roots = certificateToPem(pki.root.certificate);
  });

  it("unlocks on a card's acknowledgment when the card's issuer is the merchant's payment server", async () => {
    const card = await cardOf(pki, clock, "alice-1");
    const merchant = await Merchant.create({
      catalog,
      trustRoots: roots,
      server: pki.server.identity,
      clock,
      wallet: cardTransport(card, clock),
    });
    const granted = await merchant.atLaunch();
    assert.match(granted.paymentId, /^card_/);
    assert.deepEqual(granted.price, price(50, "EUR"));
    assert.equal(granted.serverTime.toISOString(), NOW.toISOString(), "periods count from the card's time");
    // The catalog names the server itself: without the option, its cards are accepted too.
    const signed = await catalogOf(pki, [pki.server.identity]);
    const bySignedCatalog = await Merchant.create({
      catalog: signed,
      trustRoots: roots,
      clock,
      wallet: cardTransport(card, clock),
    });
    assert.equal((await bySignedCatalog.onEvent("level-2")).price.amount, 100);
  });

  it("refuses a card issued by another payment server than the merchant's", async () => {
    const other = await createDemoPki({ now: NOW, cardIssuer: true, serverName: "pay-us" });
    // Both PKIs' roots are trusted: the refusal is about who issued the card, not about trust.
    const bothRoots = roots + certificateToPem(other.root.certificate);
    // The card checks publishers against its own roots: it is given this catalog's publisher's.
    const foreignCard = await cardOf(other, clock, "bob-1", [pki.root.certificate]);
    const merchant = await Merchant.create({
      catalog,
      trustRoots: bothRoots,
      server: pki.server.identity,
      clock,
      wallet: cardTransport(foreignCard, clock),
    });
    await assert.rejects(merchant.atLaunch(), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_WRONG_AUDIENCE"));
    // The same when the catalog names the merchant's server and no option is given.
    const bySignedCatalog = await Merchant.create({
      catalog: await catalogOf(pki, [pki.server.identity]),
      trustRoots: bothRoots,
      clock,
      wallet: cardTransport(foreignCard, clock),
    });
    await assert.rejects(bySignedCatalog.atLaunch(), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_WRONG_AUDIENCE"));
  });

  it("refuses a card's acknowledgment replayed for another offer", async () => {
    const card = await cardOf(pki, clock, "alice-2");
    let first: unknown;
    const merchant = await Merchant.create({
      catalog,
      trustRoots: roots,
      server: pki.server.identity,
      clock,
      wallet: cardTransport(card, clock, (ack) => (first ??= ack)),
    });
    await merchant.atLaunch();
    await assert.rejects(merchant.atLaunch(), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_NONCE_MISMATCH"));
  });
});

describe("merchant → wallet service → pcscd → card", () => {
  let pki: DemoPki;
  let clock: FixedClock;
  let dir: string;
  let stack: PcscStack;
  let wallet: Wallet;
  let service: WalletService;

  before(async () => {
    clock = new FixedClock(NOW);
    pki = await createDemoPki({ now: NOW, cardIssuer: true });
    dir = mkdtempSync(join(tmpdir(), "peage-merchant-card-"));
    await issueCard(new FileMedium(join(dir, "card")), {
      issuer: cardIssuerFromDemo(pki),
      card: partyId("card", "alice-1"),
      user: partyId("user", "alice"),
      pin: PIN,
      mode: "prepaid",
      currency: "EUR",
      balance: 120,
      roots: [pki.root.certificate],
      now: NOW,
    });
    writeFileSync(join(dir, "root.pem"), certificateToPem(pki.root.certificate));
    await initWallet(join(dir, "wallet"), {
      passphrase: "the merchant's card test passphrase",
      user: "urn:peage:user:alice",
      // No payment server listens: the card pays offline.
      serverUrl: "http://127.0.0.1:9",
      serverId: pki.server.identity,
      homeCurrency: "EUR",
      trustRootsPem: join(dir, "root.pem"),
      rules: { autoAccept: { perPayment: price(0, "EUR") }, refuse: {} },
      scrypt: { N: 2 ** 14, r: 8, p: 1 },
    });
    const config = await readConfig(join(dir, "wallet"));
    await writeConfig(join(dir, "wallet"), { ...config, card: { extendedLength: true, waitMs: 5000 } });
    stack = await startPcscStack({ dir: join(dir, "card"), clock });
    wallet = await createWallet({
      dir: join(dir, "wallet"),
      passphrase: "the merchant's card test passphrase",
      prompt: new ScriptedPrompt([true, true], { pins: [PIN, PIN] }),
      clock,
    });
    service = await startWallet({ wallet, endpointFile: join(dir, "wallet.json") });
  });

  after(async () => {
    await service?.close();
    wallet?.close();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("pays through the wallet's card and unlocks; the card's balance then refuses what it cannot cover", async () => {
    const merchant = await Merchant.create({
      catalog: await catalogOf(pki),
      trustRoots: join(dir, "root.pem"),
      server: pki.server.identity,
      clock,
      wallet: { endpointFile: join(dir, "wallet.json") },
    });
    const launch = await merchant.atLaunch();
    assert.match(launch.paymentId, /^card_/);
    assert.equal(wallet.history.list(1)[0]?.paymentId, launch.paymentId);
    await assert.rejects(merchant.onEvent("level-2"), merchantCode("ERR_INSUFFICIENT_FUNDS"));
  });
});
