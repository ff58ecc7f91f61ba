/**
 * Spending mandates through the wallet, in a real Chromium against the real payment server: a
 * program asks the wallet for a mandate, the user reads its limits in the consent window and
 * approves; the program then pays on its own with its key; the history says which mandate paid
 * what; the user revokes it on the Mandates page and it pays nothing more. Declining signs nothing,
 * and a request the wallet cannot show honestly is refused before anybody is asked.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  agentJwkOf,
  createMandatePayment,
  createOffer,
  generateKeyPair,
  systemClock,
  verifyAcknowledgment,
  type KeyPair,
  type Mandate,
  type MandateClaims,
} from "@peage/protocol";
import type { Page } from "playwright-core";
import { UserPages } from "../src/index.js";
import { mandateOfPayments } from "../src/mandates/server-api.js";
import { launchBrowser, type Browser } from "../src/testing/browser.js";
import { createUiWorld, type UiWorld } from "./ui-world.js";

let world: UiWorld;
let browser: Browser;

before(async () => {
  world = await createUiWorld({ timeoutMs: 8_000, minVisibleMs: 1_500 });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await world?.close();
});

async function walletPage(path = "/ui/"): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(world.service.uiLink());
  if (path !== "/ui/") await page.goto(`${world.service.url}${path}`);
  return page;
}

/** The program's request to the wallet's local service. */
async function askForMandate(agent: KeyPair, limits: Record<string, unknown> = {}, token = world.service.token) {
  const body = {
    mandate: {
      agent: agentJwkOf(agent.publicKey),
      payees: [world.pki.publisher.identity],
      maxPerPayment: { amount: 100, currency: "EUR" },
      budget: { amount: 120, currency: "EUR" },
      maxPayments: 10,
      period: "month",
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      ...limits,
    },
  };
  const response = await fetch(`${world.service.url}/v2/mandates`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** The program paying an offer on its own, straight at the payment server. */
async function agentPays(mandate: Mandate, agent: KeyPair, offerId = "launch") {
  const entry = world.catalog.offers.find((o) => o.terms.offerId === offerId)!;
  const offer = createOffer(entry, systemClock);
  const claims = JSON.parse(Buffer.from(mandate.mandate.split(".")[1]!, "base64url").toString()) as MandateClaims;
  const request = await createMandatePayment({ offer, mandate: claims, agentKey: agent, clock: systemClock });
  const response = await fetch(`${world.server.url}/v2/mandate-payments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  return { offer, claims, status: response.status, body: (await response.json()) as Record<string, any> };
}

test("a mandate is approved in the consent window; the program then pays alone; the history names the mandate; Revoke stops it", async () => {
  const page = await walletPage();
  const agent = await generateKeyPair("ES256");
  const asking = askForMandate(agent);
  await page.locator("#consent-title", { hasText: "Let a program pay for you?" }).waitFor();
  assert.equal(await page.locator("#approve").isDisabled(), true, "Approve waits until the mandate was visible");
  assert.equal(await page.locator("#payees").textContent(), world.pki.publisher.identity);
  assert.equal(await page.locator("#max-per-payment").textContent(), "€1.00");
  assert.equal(await page.locator("#budget").textContent(), "€1.20 per month");
  assert.equal(await page.locator("#max-payments").textContent(), "10 per month");
  await page.locator("#approve:enabled").click();
  const granted = await asking;
  assert.equal(granted.status, 200, JSON.stringify(granted.body));
  const mandate = granted.body["mandate"] as Mandate;
  assert.equal(mandate.type, "peage.mandate");

  // Two payments of 0.50 fit the budget of 1.20; the third does not.
  const first = await agentPays(mandate, agent);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const checked = await verifyAcknowledgment(first.body, first.offer, {
    trust: world.pki.trustStore(),
    clock: systemClock,
    server: world.pki.server.identity,
  });
  assert.ok(checked.ok, "the merchant accepts the acknowledgment as any other");
  assert.equal((await agentPays(mandate, agent)).status, 200);
  const third = await agentPays(mandate, agent);
  assert.equal(third.status, 402);
  assert.equal(third.body["code"], "ERR_MANDATE_BUDGET_EXCEEDED");

  const history = await new UserPages(world.wallet).history();
  const byMandate = history.lines.filter((l) => l.mandate === first.claims.mandateId);
  assert.equal(byMandate.length, 2, JSON.stringify(history.lines));
  // The server's feed read a page at a time: the same payments as in one page.
  const onePage = await mandateOfPayments(world.wallet);
  assert.equal(onePage.size, 2);
  assert.deepEqual(await mandateOfPayments(world.wallet, 1), onePage);
  await page.goto(`${world.service.url}/ui/history`);
  await page.locator(`[data-mandate="${first.claims.mandateId}"]`).first().waitFor();
  assert.equal(await page.locator(`[data-mandate="${first.claims.mandateId}"]`).count(), 2);

  await page.goto(`${world.service.url}/ui/mandates`);
  const card = page.locator(`section[data-mandate="${first.claims.mandateId}"]`);
  await card.waitFor();
  assert.equal(await card.locator(".mandate-status").textContent(), "active");
  await card.locator("button.revoke").click();
  await page.locator("text=Mandate revoked: it pays nothing more.").waitFor();
  // The page says so, then reads the mandates again: the card shows the new status once that read is in.
  await card.locator(".mandate-status", { hasText: "revoked" }).waitFor();
  assert.equal(await card.locator(".mandate-status").textContent(), "revoked");
  const after = await agentPays(mandate, agent);
  assert.equal(after.status, 403);
  assert.equal(after.body["code"], "ERR_MANDATE_REVOKED");
  await page.close();
});

test("a declined mandate is not signed; a program without the token, or with limits in another currency, is refused unasked", async () => {
  const page = await walletPage();
  const agent = await generateKeyPair("EdDSA");
  const asking = askForMandate(agent);
  await page.locator("#decline").click();
  const declined = await asking;
  assert.equal(declined.status, 403);
  assert.equal(declined.body["code"], "ERR_DECLINED");

  assert.equal((await askForMandate(agent, {}, "not-the-token")).status, 401);
  const otherCurrency = await askForMandate(agent, { budget: { amount: 500, currency: "USD" } });
  assert.equal(otherCurrency.status, 400);
  assert.equal(otherCurrency.body["code"], "ERR_BAD_REQUEST");
  assert.equal(world.consent.pending().length, 0, "nobody was asked");
  await page.close();
});
