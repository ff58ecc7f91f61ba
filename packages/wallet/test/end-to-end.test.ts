/**
 * The wallet against the real payment server (packages/server): enrolment by the operator with
 * the JWK initWallet returned, then offers through the wallet's local service, paid and
 * acknowledged by the server, verified by the wallet.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certificateToPem,
  createDemoPki,
  price,
  signCatalog,
  verifyAcknowledgment,
  type Catalog,
  type DemoPki,
  type OfferDraft,
} from "@peage/protocol";
import { AutoYesPrompt, createWallet, initWallet, startWallet, type Wallet, type WalletService } from "../src/index.js";
import { TEST_RATES } from "../src/testing/index.js";
import { initServedWallet, offerFor } from "./helpers.js";
import { startRealServer, type RealServer } from "@peage/server/testing";

const USER = "urn:peage:user:e2e-alice";
const PASSPHRASE = "a passphrase for the end-to-end test";
const drafts: OfferDraft[] = [
  { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" } },
  { offerId: "dollars", description: "Priced in dollars", price: price(1000, "USD"), grant: { kind: "launch" } },
  { offerId: "dear", description: "More than the balance", price: price(2500, "EUR"), grant: { kind: "launch" } },
];

let pki: DemoPki;
let dir: string;
let server: RealServer;
let catalog: Catalog;
let wallet: Wallet;
let service: WalletService;

before(async () => {
  pki = await createDemoPki();
  dir = await mkdtemp(join(tmpdir(), "peage-e2e-"));
  server = await startRealServer(pki, TEST_RATES);
  await initServedWallet(server, pki, dir, { user: USER, passphrase: PASSPHRASE, balance: 2000 });
  catalog = await signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
  wallet = await createWallet({ dir: join(dir, "wallet"), passphrase: PASSPHRASE, prompt: new AutoYesPrompt() });
  service = await startWallet({ wallet, endpointFile: join(dir, "run", "wallet.json") });
});

after(async () => {
  await service?.close();
  wallet?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function postOffer(offer: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${service.url}/v1/offers`, {
    method: "POST",
    headers: { authorization: `Bearer ${service.token}`, "content-type": "application/json" },
    body: JSON.stringify({ offer }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test("end to end: an offer through the wallet service is paid by the real server, and its acknowledgment verifies", async () => {
  const offer = offerFor(catalog, "launch");
  const answer = await postOffer(offer);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const verified = await verifyAcknowledgment(answer.body["acknowledgment"], offer, {
    trust: pki.trustStore(),
    clock: { now: () => new Date() },
    server: pki.server.identity,
  });
  assert.ok(verified.ok, verified.ok ? "" : verified.error.message);
  assert.equal(verified.value.claims.user, USER);
  assert.deepEqual(verified.value.claims.charged, { amount: 50, currency: "EUR" });
  assert.equal(await server.balanceOf(USER), 2000 - 50);
  const [entry] = wallet.history.list();
  assert.equal(entry?.outcome, "paid");
  assert.equal(entry?.paymentId, verified.value.claims.paymentId);
});

test("end to end: a price in another currency is converted by the server into the home currency", async () => {
  const before = await server.balanceOf(USER);
  const answer = await postOffer(offerFor(catalog, "dollars"));
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const [entry] = wallet.history.list();
  // 10.00 USD at 1.0845 USD per EUR: 9.2208... EUR, rounded to 9.22 EUR.
  assert.deepEqual(entry?.charged, { amount: 922, currency: "EUR" });
  assert.equal(await server.balanceOf(USER), before - 922);
});

test("end to end: the server's refusal comes back through the wallet with its code", async () => {
  const answer = await postOffer(offerFor(catalog, "dear"));
  assert.equal(answer.body["code"], "ERR_INSUFFICIENT_FUNDS", JSON.stringify(answer.body));
  assert.equal(answer.status, 402);
  assert.equal(wallet.history.list()[0]?.outcome, "failed");
});

test("end to end: a wallet whose key the server does not know is refused with ERR_UNKNOWN_KEY", async () => {
  const strangerDir = join(dir, "stranger");
  await initWallet(strangerDir, {
    passphrase: PASSPHRASE,
    user: "urn:peage:user:stranger",
    serverUrl: server.url,
    serverId: pki.server.identity,
    homeCurrency: "EUR",
    trustRootsPem: certificateToPem(pki.root.certificate),
  });
  const stranger = await createWallet({ dir: strangerDir, passphrase: PASSPHRASE, prompt: new AutoYesPrompt() });
  try {
    await assert.rejects(
      stranger.pay(offerFor(catalog, "launch")),
      (error: unknown) => (error as { code: string }).code === "ERR_UNKNOWN_KEY",
    );
  } finally {
    stranger.close();
  }
});
