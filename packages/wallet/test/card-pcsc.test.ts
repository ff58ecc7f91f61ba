/**
 * The wallet paying with the user's smart card over the real PC/SC stack: pcscd, vsmartcard's
 * virtual reader, the card emulator in it, found by the wallet as any reader would be (the first
 * one whose card answers the Péage AID). No payment server is reachable: the card pays alone,
 * after the user's yes and the PIN. A wrong PIN is asked again and counted by the card; a user
 * who gives none, or says no, pays nothing; a card that cannot pay is refused before anyone is
 * asked; without a card the wallet pays online.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certificateToPem,
  createDemoPki,
  createOffer,
  FixedClock,
  partyId,
  price,
  signCatalog,
  verifyAcknowledgment,
  type Catalog,
  type DemoPki,
  type Offer,
} from "@peage/protocol";
import { cardIssuerFromDemo, FileMedium, issueCard } from "@peage/card";
import { startPcscStack, type PcscStack } from "@peage/card/testing";
import {
  AutoYesPrompt,
  createWallet,
  initWallet,
  readConfig,
  ScriptedPrompt,
  writeConfig,
  type ConsentPrompt,
  type Wallet,
} from "../src/index.js";
import { readCardStatus, walletCode } from "./helpers.js";

const NOW = new Date("2026-07-01T08:00:00.000Z");
const PIN = "8642";
const PASSPHRASE = "a passphrase for the card tests";
const USER = "urn:peage:user:card-holder";
/** Nothing listens here: every payment must come from the card. */
const DEAD_SERVER = "http://127.0.0.1:9";

describe("the wallet pays with the card through pcscd", () => {
  let pki: DemoPki;
  let clock: FixedClock;
  let dir: string;
  let stack: PcscStack;
  let catalog: Catalog;
  const wallets: Wallet[] = [];

  const offer = (offerId: string): Offer =>
    createOffer(
      catalog.offers.find((e) => e.terms.offerId === offerId)!,
      clock,
    );
  const openWallet = async (
    prompt: ConsentPrompt,
    card: Record<string, unknown> = { waitMs: 5000, extendedLength: true },
  ): Promise<Wallet> => {
    const config = await readConfig(join(dir, "wallet"));
    await writeConfig(join(dir, "wallet"), { ...config, card });
    const wallet = await createWallet({
      dir: join(dir, "wallet"),
      passphrase: PASSPHRASE,
      prompt,
      clock,
      server: { retries: 0, attemptTimeoutMs: 2000 },
    });
    wallets.push(wallet);
    return wallet;
  };
  const cardStatus = () => readCardStatus(stack.reader);

  before(async () => {
    clock = new FixedClock(NOW);
    pki = await createDemoPki({ now: NOW, cardIssuer: true });
    dir = mkdtempSync(join(tmpdir(), "peage-wallet-card-"));
    await issueCard(new FileMedium(join(dir, "card")), {
      issuer: cardIssuerFromDemo(pki),
      card: partyId("card", "holder-1"),
      user: partyId("user", "card-holder"),
      pin: PIN,
      mode: "prepaid",
      currency: "EUR",
      balance: 500,
      roots: [pki.root.certificate],
      now: NOW,
    });
    catalog = await signCatalog(
      pki.publisher.identity,
      [
        { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" } },
        { offerId: "dear", description: "More than the card holds", price: price(5000, "EUR"), grant: { kind: "launch" } },
      ],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    writeFileSync(join(dir, "root.pem"), certificateToPem(pki.root.certificate));
    await initWallet(join(dir, "wallet"), {
      passphrase: PASSPHRASE,
      user: USER,
      serverUrl: DEAD_SERVER,
      serverId: pki.server.identity,
      homeCurrency: "EUR",
      trustRootsPem: join(dir, "root.pem"),
      rules: { autoAccept: { perPayment: price(0, "EUR") }, refuse: {} },
      scrypt: { N: 2 ** 14, r: 8, p: 1 },
    });
    stack = await startPcscStack({ dir: join(dir, "card"), clock });
  });

  after(async () => {
    for (const wallet of wallets) wallet.close();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("finds the card, asks yes then the PIN, and hands back the card's acknowledgment, which verifies for the merchant", async () => {
    const prompt = new ScriptedPrompt([true], { pins: [PIN] });
    const wallet = await openWallet(prompt);
    const paid = offer("launch");
    const result = await wallet.pay(paid);
    assert.equal(prompt.shown.length, 1);
    assert.equal(prompt.pinRequests.length, 1);
    assert.deepEqual(
      { card: prompt.pinRequests[0]!.card, triesLeft: prompt.pinRequests[0]!.triesLeft, retry: prompt.pinRequests[0]!.retry },
      { card: "urn:peage:card:holder-1", triesLeft: 3, retry: false },
    );
    assert.deepEqual(result.card, { card: "urn:peage:card:holder-1", debit: { counter: 1, balance: 450 } });
    // What the merchant does with it: the card chains through the issuing server to the root.
    const merchant = await verifyAcknowledgment(result.acknowledgment, paid, {
      trust: pki.trustStore(),
      clock,
      server: pki.server.identity,
    });
    assert.ok(merchant.ok, merchant.ok ? "" : merchant.error.message);
    assert.equal(merchant.value.card?.issuer, pki.server.identity);
    assert.equal(wallet.history.list(1)[0]?.outcome, "paid");
    // The same offer again gets the same acknowledgment back, before the card or the user is asked: nothing is debited twice.
    const again = await wallet.pay(paid);
    assert.deepEqual(again.acknowledgment, result.acknowledgment);
    assert.deepEqual(again.card, result.card);
    assert.equal(prompt.shown.length, 1);
    assert.equal(prompt.pinRequests.length, 1);
  });

  it("asks again after a wrong PIN; gives up without debiting when no right PIN comes; the card counts the tries", async () => {
    const retried = new ScriptedPrompt([true], { pins: ["0000", PIN] });
    const first = await (await openWallet(retried)).pay(offer("launch"));
    assert.deepEqual(
      retried.pinRequests.map((r) => [r.retry, r.triesLeft]),
      [
        [false, 3],
        [true, 2],
      ],
    );
    assert.deepEqual(first.card?.debit, { counter: 2, balance: 400 });

    const wrong = new ScriptedPrompt([true], { pins: ["1111"] });
    const wallet = await openWallet(wrong);
    await assert.rejects(wallet.pay(offer("launch")), walletCode("ERR_DECLINED"));
    assert.equal(wrong.pinRequests.length, 2, "asked again once, and got nothing");
    const status = await cardStatus();
    assert.equal(status.pinTriesLeft, 2, "the wrong PIN was counted (the right one before reset the count)");
    assert.equal(status.balance, 400, "nothing was debited");
    assert.equal(status.counter, 2);
    assert.equal(wallet.history.list(1)[0]?.outcome, "declined");
  });

  it("pays nothing when the user says no, and refuses what the card cannot pay before asking", async () => {
    const no = new ScriptedPrompt([false], { pins: [PIN] });
    await assert.rejects((await openWallet(no)).pay(offer("launch")), walletCode("ERR_DECLINED"));
    assert.equal(no.pinRequests.length, 0, "no PIN is asked after a no");

    const dear = new ScriptedPrompt([true], { pins: [PIN] });
    await assert.rejects((await openWallet(dear)).pay(offer("dear")), walletCode("ERR_INSUFFICIENT_FUNDS"));
    assert.equal(dear.shown.length, 0, "nobody is asked for a payment the card would refuse");
    assert.equal((await cardStatus()).balance, 400);
  });

  it("with --yes types the demonstration PIN of the config", async () => {
    const wallet = await openWallet(new AutoYesPrompt(), { waitMs: 5000, extendedLength: true, pin: PIN });
    const result = await wallet.pay(offer("launch"));
    assert.deepEqual(result.card?.debit, { counter: 3, balance: 350 });
    assert.equal((await cardStatus()).pinTriesLeft, 3);
  });

  it("without its card in the named reader, pays online (here: no server, so nothing is paid)", async () => {
    const prompt = new ScriptedPrompt([true], { pins: [PIN] });
    const wallet = await openWallet(prompt, { reader: "No Such Reader 00 00", waitMs: 200 });
    await assert.rejects(wallet.pay(offer("launch")), walletCode("ERR_SERVER_UNAVAILABLE"));
    assert.equal(prompt.pinRequests.length, 0);
    assert.equal((await cardStatus()).balance, 350);
  });
});
