/**
 * Refunds and opening balances on the wallet's pages, in Debian's Chromium, from the real payment
 * server's records of the user (GET /v1/me/transactions): a payment the operator refunded is
 * marked with what it gave back, in the history and the statement; a month's statement opens with
 * the balance the month before left, lists its top-ups and refunds, and closes with the balance
 * the server holds, to the minor unit.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDemoPki, createOffer, price, signCatalog, type Catalog, type Clock, type DemoPki } from "@peage/protocol";
import { startRealServer, type RealServer } from "@peage/server/testing";
import { AutoYesPrompt, createWallet, startWallet, UserPages, type Wallet, type WalletService } from "../src/index.js";
import { launchBrowser, type Browser } from "../src/testing/browser.js";
import { TEST_RATES } from "../src/testing/index.js";
import { initServedWallet } from "./helpers.js";
import { UI_DRAFTS } from "./ui-world.js";

const USER = "urn:peage:user:refunded-alice";
const PASSPHRASE = "a passphrase for the refund pages";
const now = new Date();
/** The month before this one, on its 20th: where the account was opened. */
const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 20, 10));
const period = now.toISOString().slice(0, 7);
const euros = (minor: number) => new Intl.NumberFormat("en-GB", { style: "currency", currency: "EUR" }).format(minor / 100);

let at = lastMonth;
const clock: Clock = { now: () => new Date(at) };
let pki: DemoPki;
let server: RealServer;
let dir: string;
let catalog: Catalog;
let wallet: Wallet;
let service: WalletService;
let browser: Browser;
let refundedId: string;

async function operator(path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.operatorKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const value = (await response.json()) as Record<string, unknown>;
  assert.ok(response.status < 300, `${path}: ${response.status} ${JSON.stringify(value)}`);
  return value;
}

const pay = async (offerId: string) =>
  (
    await wallet.pay(
      createOffer(
        catalog.offers.find((e) => e.terms.offerId === offerId)!,
        clock,
      ),
    )
  ).verified.claims.paymentId;

before(async () => {
  pki = await createDemoPki({ now: lastMonth });
  server = await startRealServer(pki, TEST_RATES, { clock });
  dir = await mkdtemp(join(tmpdir(), "peage-refunds-"));
  const init = await initServedWallet(server, pki, dir, {
    user: USER,
    passphrase: PASSPHRASE,
    rules: { autoAccept: { perPayment: price(100, "EUR") }, refuse: {} },
  });
  catalog = await signCatalog(pki.publisher.identity, UI_DRAFTS, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
  wallet = await createWallet({ dir: join(dir, "wallet"), passphrase: PASSPHRASE, prompt: new AutoYesPrompt(), clock });
  service = await startWallet({ wallet, endpointFile: join(dir, "run", "wallet.json") });
  browser = await launchBrowser();

  // Last month: the account opened with 50.00, one launch paid.
  await server.enrol(USER, init.publicJwk, "EUR", 5000);
  await pay("launch");
  // This month: two payments, the launch refunded by the operator, a top-up of 3.00.
  at = now;
  await pay("play-time");
  refundedId = await pay("launch");
  await operator(`/v1/admin/payments/${refundedId}/refund`, { reason: "the game did not start" });
  await operator(`/v1/admin/users/${USER}/topups`, { amount: 300, idempotencyKey: "refund-pages-topup-1" });
});

after(async () => {
  await browser?.close();
  await service?.close();
  wallet?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

test("the server lists only the signed-in user's movements, and none without a signature", async () => {
  const { publicKey } = await import("node:crypto").then((c) => c.generateKeyPairSync("ec", { namedCurve: "P-256" }));
  await server.enrol("urn:peage:user:someone-else", publicKey.export({ format: "jwk" }), "EUR", 777);
  const mine = (await wallet.serverRecords("/v1/me/transactions?limit=500")) as {
    transactions: { kind: string; change: number }[];
  };
  assert.deepEqual(
    mine.transactions.filter((t) => t.kind === "topup").map((t) => t.change),
    [5000, 300],
    "the other user's top-up is not listed",
  );
  const unsigned = await fetch(`${server.url}/v1/me/transactions`);
  assert.equal(unsigned.status, 401);
  const bad = await wallet.serverRecords("/v1/me/transactions?limit=0").catch((error: Error) => error);
  assert.ok(bad instanceof Error, "a limit out of range is refused");
});

test("the history marks the refunded payment with what it gave back; the others are not marked", async () => {
  const history = await new UserPages(wallet).history();
  const refunded = history.lines.filter((l) => l.refunded);
  assert.deepEqual(
    refunded.map((l) => [l.paymentId, l.refunded!.amount.amount]),
    [[refundedId, 50]],
  );
  const page = await browser.context.newPage();
  await page.goto(service.uiLink());
  await page.goto(`${service.url}/ui/history`);
  const mark = page.locator(`[data-refunded="${refundedId}"]`);
  await mark.waitFor();
  assert.equal(await mark.textContent(), `refunded: ${euros(50)} given back`);
  assert.equal(await page.locator("[data-refunded]").count(), 1);
  await page.close();
});

test("the statement opens with last month's closing balance, lists the top-up and the refund, and closes with the server's balance", async () => {
  const page = await browser.context.newPage();
  await page.goto(service.uiLink());
  await page.goto(`${service.url}/ui/statement`);
  await page.locator("#period").fill(period);
  await page.locator("#show").click();
  await page.locator("#opening-balance").waitFor();
  assert.equal(await page.locator("#opening-balance td.num").textContent(), euros(5000 - 50));
  assert.equal(await page.locator("[id^=topup-] td.num").textContent(), euros(300));
  assert.equal(await page.locator("[id^=refund-] th").textContent(), "Refund: Start the game");
  assert.equal(await page.locator("[id^=refund-] td.num").textContent(), euros(50));
  assert.equal(await page.locator(`#statement [data-refunded="${refundedId}"]`).count(), 1);
  const balance = await server.balanceOf(USER);
  assert.equal(balance, 5000 - 50 - 20 - 50 + 50 + 300);
  assert.equal(await page.locator("#closing-balance td.num").textContent(), euros(balance));
  assert.equal(await page.locator("#account-balance").textContent(), euros(balance));

  // Last month's statement opens at zero and closes where this one opens.
  const previous = await new UserPages(wallet).statement(lastMonth.toISOString().slice(0, 7));
  assert.deepEqual(
    [(previous["openingBalance"] as { amount: number }).amount, (previous["closingBalance"] as { amount: number }).amount],
    [0, 4950],
  );
  await page.close();
});
