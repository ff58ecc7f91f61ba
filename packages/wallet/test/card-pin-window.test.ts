/**
 * The card's PIN typed in the consent window, in Debian's Chromium, with the card in vsmartcard's
 * virtual reader behind the real pcscd (run under the machine's PC/SC lock). After Approve the
 * window asks for the PIN with the card's tries left; a wrong PIN debits nothing, is counted by the
 * card and asked again with the tries that remain; the right one pays, and the card's own count
 * starts again; Cancel pays nothing; a PIN that is not 4 to 12 digits never reaches the card.
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
  partyId,
  price,
  signCatalog,
  systemClock,
  type Catalog,
  type DemoPki,
} from "@peage/protocol";
import { cardIssuerFromDemo, FileMedium, issueCard } from "@peage/card";
import { startPcscStack, type PcscStack } from "@peage/card/testing";
import type { Page } from "playwright-core";
import {
  ConsentWindow,
  createWallet,
  initWallet,
  readConfig,
  startWallet,
  writeConfig,
  type Wallet,
  type WalletService,
} from "../src/index.js";
import { launchBrowser, type Browser } from "../src/testing/browser.js";
import { readCardStatus, walletCode } from "./helpers.js";

const PIN = "8642";
const PASSPHRASE = "a passphrase for the PIN window";
/** Nothing listens here: every payment must come from the card. */
const DEAD_SERVER = "http://127.0.0.1:9";

describe("the card's PIN in the consent window", () => {
  let pki: DemoPki;
  let dir: string;
  let stack: PcscStack;
  let catalog: Catalog;
  let wallet: Wallet;
  let service: WalletService;
  let browser: Browser;
  let page: Page;

  const cardStatus = () => readCardStatus(stack.reader);
  const pay = () => wallet.pay(createOffer(catalog.offers[0]!, systemClock));

  before(async () => {
    pki = await createDemoPki({ cardIssuer: true });
    dir = mkdtempSync(join(tmpdir(), "peage-wallet-pin-"));
    await issueCard(new FileMedium(join(dir, "card")), {
      issuer: cardIssuerFromDemo(pki),
      card: partyId("card", "window-1"),
      user: partyId("user", "window-holder"),
      pin: PIN,
      mode: "prepaid",
      currency: "EUR",
      balance: 500,
      roots: [pki.root.certificate],
    });
    catalog = await signCatalog(
      pki.publisher.identity,
      [{ offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" } }],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    writeFileSync(join(dir, "root.pem"), certificateToPem(pki.root.certificate));
    const walletDir = join(dir, "wallet");
    await initWallet(walletDir, {
      passphrase: PASSPHRASE,
      user: "urn:peage:user:window-holder",
      serverUrl: DEAD_SERVER,
      serverId: pki.server.identity,
      homeCurrency: "EUR",
      trustRootsPem: join(dir, "root.pem"),
      scrypt: { N: 2 ** 14, r: 8, p: 1 },
    });
    await writeConfig(walletDir, { ...(await readConfig(walletDir)), card: { waitMs: 5000, extendedLength: true } });
    stack = await startPcscStack({ dir: join(dir, "card") });
    const consent = new ConsentWindow({ timeoutMs: 30_000, minVisibleMs: 300 });
    wallet = await createWallet({ dir: walletDir, passphrase: PASSPHRASE, prompt: consent, server: { retries: 0 } });
    service = await startWallet({ wallet, endpointFile: join(dir, "run", "wallet.json"), consentWindow: consent });
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.goto(service.uiLink());
  });

  after(async () => {
    await browser?.close();
    await service?.close();
    wallet?.close();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Approves the offer on screen, then waits for the PIN form. */
  async function approveThenPinForm(): Promise<void> {
    await page.locator("#consent-title", { hasText: "Approve this payment?" }).waitFor();
    await page.locator("#approve:enabled").click();
    await page.locator("#consent-title", { hasText: "Your card's PIN" }).waitFor();
  }

  it("a wrong PIN pays nothing and is asked again with the tries left; the right one pays", async () => {
    const paying = pay();
    await approveThenPinForm();
    assert.equal(await page.locator("#pin-tries").textContent(), "3 tries left before the card blocks.");
    assert.match(String(await page.locator("#pin-for").textContent()), /urn:peage:card:window-1 pays €0\.50 for: Start the game/);
    assert.equal(await page.locator("#pin").getAttribute("type"), "password");

    // Not a PIN: refused on the page, the card is not asked.
    await page.locator("#pin").fill("12");
    await page.locator("#approve").click();
    await page.locator("#status", { hasText: "A PIN is 4 to 12 digits." }).waitFor();

    await page.locator("#pin").fill("0000");
    await page.locator("#approve").click();
    await page.locator("#pin-tries", { hasText: "Wrong PIN: nothing was paid. 2 tries left before the card blocks." }).waitFor();
    assert.equal(await page.locator("#pin").inputValue(), "", "the field is emptied");
    const afterWrong = await cardStatus();
    assert.deepEqual(
      [afterWrong.balance, afterWrong.counter, afterWrong.logLength, afterWrong.pinTriesLeft],
      [500, 0, 0, 2],
      "a wrong PIN changes nothing but the card's count of tries",
    );

    await page.locator("#pin").fill(PIN);
    await page.locator("#approve").click();
    const paid = await paying;
    assert.deepEqual(paid.card, { card: "urn:peage:card:window-1", debit: { counter: 1, balance: 450 } });
    assert.equal(paid.consent, "explicit");
    const status = await cardStatus();
    assert.deepEqual([status.balance, status.pinTriesLeft], [450, 3], "the right PIN paid and reset the count");
  });

  it("Cancel in the PIN form pays nothing and spends no try", async () => {
    const paying = pay();
    await approveThenPinForm();
    await page.locator("#decline").click();
    await assert.rejects(paying, walletCode("ERR_DECLINED"));
    const status = await cardStatus();
    assert.deepEqual([status.balance, status.counter, status.pinTriesLeft], [450, 1, 3]);
    assert.equal(wallet.history.list(1)[0]?.outcome, "declined");
  });

  it("the decide route refuses a PIN that is not 4 to 12 digits before the card sees it", async () => {
    const paying = pay();
    await approveThenPinForm();
    const answer = await page.evaluate(async () => {
      const csrf = document.querySelector<HTMLMetaElement>('meta[name="peage-csrf"]')!.content;
      const pending = (await (await fetch("/ui/api/pending")).json()) as { pending: { id: string }[] };
      const response = await fetch("/ui/api/decide", {
        method: "POST",
        headers: { "content-type": "application/json", "x-peage-csrf": csrf },
        body: JSON.stringify({ id: pending.pending[0]!.id, approve: true, pin: "12ab" }),
      });
      return { status: response.status, body: (await response.json()) as { code: string } };
    });
    assert.deepEqual([answer.status, answer.body.code], [400, "ERR_BAD_REQUEST"]);
    assert.equal((await cardStatus()).pinTriesLeft, 3, "the card was not asked");
    await page.locator("#decline").click();
    await assert.rejects(paying, walletCode("ERR_DECLINED"));
  });
});
