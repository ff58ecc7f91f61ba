/**
 * The wallet's rules count in the wallet's home currency even when the user's account at the
 * (real) payment server is kept in another one: a wallet in EUR paying from a USD account keeps
 * its 100 EUR cumulative cap and its per-publisher cap, whatever the offers are priced in.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certificateToPem,
  createDemoPki,
  price,
  signCatalog,
  type Catalog,
  type DemoPki,
  type OfferDraft,
} from "@peage/protocol";
import { createWallet, initWallet, ScriptedPrompt, type Rules, type Wallet } from "../src/index.js";
import { TEST_RATES } from "../src/testing/index.js";
import { offerFor, walletCode } from "./helpers.js";
import { startRealServer, type RealServer } from "@peage/server/testing";

const PASSPHRASE = "a passphrase for the currency test";
const drafts: OfferDraft[] = [
  { offerId: "level", description: "A level, in euros", price: price(2500, "EUR"), grant: { kind: "launch" } },
  { offerId: "dollars", description: "A level, in dollars", price: price(2500, "USD"), grant: { kind: "launch" } },
];

let pki: DemoPki;
let dir: string;
let server: RealServer;
let catalog: Catalog;
const open: Wallet[] = [];

before(async () => {
  pki = await createDemoPki();
  dir = await mkdtemp(join(tmpdir(), "peage-currency-"));
  server = await startRealServer(pki, TEST_RATES);
  await writeFile(join(dir, "root.pem"), certificateToPem(pki.root.certificate));
  catalog = await signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
});

after(async () => {
  for (const wallet of open) wallet.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A wallet in EUR for a user whose account is kept in USD, with 1000.00 USD on it. */
async function eurWalletOnUsdAccount(name: string, rules: Rules, prompt: ScriptedPrompt): Promise<Wallet> {
  const user = `urn:peage:user:${name}`;
  const walletDir = join(dir, name);
  const init = await initWallet(walletDir, {
    passphrase: PASSPHRASE,
    user,
    serverUrl: server.url,
    serverId: pki.server.identity,
    homeCurrency: "EUR",
    trustRootsPem: join(dir, "root.pem"),
    rules,
  });
  await server.enrol(user, init.publicJwk, "USD", 100_000);
  const wallet = await createWallet({ dir: walletDir, passphrase: PASSPHRASE, prompt });
  open.push(wallet);
  return wallet;
}

test("the 100 EUR cumulative cap holds when every payment is charged in USD", async () => {
  const prompt = new ScriptedPrompt([false]);
  const wallet = await eurWalletOnUsdAccount(
    "cumulative",
    { autoAccept: { perPayment: price(3000, "EUR"), sinceConfirmation: price(10_000, "EUR"), consecutive: 50 }, refuse: {} },
    prompt,
  );
  assert.equal(await wallet.checkAccount(), "USD");
  for (let i = 0; i < 4; i++) {
    const paid = await wallet.pay(offerFor(catalog, "level"));
    assert.equal(paid.consent, "auto");
    assert.equal(paid.verified.claims.charged.currency, "USD");
  }
  // 4 x 25 EUR = 100 EUR paid without asking; a fifth would make 125 EUR: the user is asked (and says no).
  await assert.rejects(wallet.pay(offerFor(catalog, "level")), walletCode("ERR_DECLINED"));
  assert.equal(prompt.shown.length, 1);
  assert.match(prompt.shown[0]!.reason, /since your last confirmation would exceed 100\.00 EUR/);
  const [declined, ...paid] = wallet.history.list();
  assert.equal(declined?.outcome, "declined");
  assert.equal(paid.filter((entry) => entry.outcome === "paid").length, 4);
});

test("a per-publisher cap in EUR holds over payments priced in EUR and USD and charged in USD", async () => {
  const prompt = new ScriptedPrompt();
  const wallet = await eurWalletOnUsdAccount(
    "publisher-cap",
    { autoAccept: { perPayment: price(5000, "EUR"), consecutive: 50 }, refuse: { perPublisherPerDay: price(6000, "EUR") } },
    prompt,
  );
  await wallet.pay(offerFor(catalog, "level"));
  await wallet.pay(offerFor(catalog, "level"));
  const before = await server.balanceOf("urn:peage:user:publisher-cap");
  // 50 EUR paid today; 25.00 USD is about 23.05 EUR: 73.05 EUR would pass the 60 EUR cap.
  await assert.rejects(wallet.pay(offerFor(catalog, "dollars")), walletCode("ERR_RULE_REFUSED"));
  assert.equal(await server.balanceOf("urn:peage:user:publisher-cap"), before);
  assert.equal(prompt.shown.length, 0);
});
