/**
 * `upto` over real HTTP: the user's wallet consents to a maximum, the resource server settles the
 * payment for the amount it reports, and the payment server records both figures and gives the
 * rest back. An attacker resource server reporting more than the maximum is refused and the user
 * is never charged above it; a settlement is made once, and only by the server that made the offer.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { certificateToPem, newSettlementKey, price } from "@peage/protocol";
import {
  paidRoute,
  payingFetch,
  PaymentGate,
  SettlementRefused,
  x402,
  type PaidRequest,
  type UsageSettlement,
} from "../src/index.js";
import { UserPages } from "@peage/wallet";
import { startPaidWorld, USER, type PaidWorld } from "./world.js";

describe("@peage/http: upto offers, settled for the amount used", () => {
  let world: PaidWorld;
  let api: Server;
  let apiUrl: string;
  const settled: (UsageSettlement | SettlementRefused)[] = [];

  before(async () => {
    world = await startPaidWorld(1000, [
      { offerId: "search", description: "A search, up to 10 cents by the pages read", price: price(10, "EUR"), upto: true },
    ]);
    // The resource server reports what the query says it used: an honest one reports 0 … 10, an attacker more.
    const search = paidRoute(world.gate, { offerId: "search" }, async (req: PaidRequest, res) => {
      const used = Number(new URL(req.url!, "http://x").searchParams.get("pages"));
      try {
        settled.push(await req.peage!.settle!(used));
      } catch (error) {
        if (!(error instanceof SettlementRefused)) throw error;
        settled.push(error);
      }
      res.end(`searched ${used} pages`);
    });
    api = createServer((req, res) => void search(req, res));
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => api.close(resolve));
    await world.close();
  });

  const pay = () => payingFetch({ wallet: { endpointFile: world.endpointFile } });

  it("the 402 offers the maximum, with the commitment the client checks the nonce against", async () => {
    const response = await fetch(`${apiUrl}/search?pages=1`);
    const challenge = x402.challengeFromRequired(response.headers.get("payment-required")!) as {
      offer: { terms: { upto: boolean; price: unknown } };
      commitment: string;
    };
    assert.equal(challenge.offer.terms.upto, true);
    assert.deepEqual(challenge.offer.terms.price, { amount: 10, currency: "EUR" });
    assert.match(challenge.commitment, /^[A-Za-z0-9_-]{43}$/);
  });

  it("the wallet consents to the maximum, the server charges what the resource server reports, recorded with both figures", async () => {
    const before = await world.server.balanceOf(USER);
    const response = await pay()(`${apiUrl}/search?pages=3`);
    assert.equal(response.status, 200, await response.clone().text());
    const settlement = settled.at(-1) as UsageSettlement;
    assert.deepEqual(settlement.maximum, { amount: 10, currency: "EUR" });
    assert.deepEqual(settlement.used, { amount: 3, currency: "EUR" });
    assert.deepEqual(settlement.chargedUsed, { amount: 3, currency: "EUR" });
    assert.equal(await world.server.balanceOf(USER), before - 3);
    const asked = world.prompt.shown.at(-1);
    assert.equal(asked?.price, "up to 0.10 EUR", "the user is shown the price as the maximum it is");
    assert.equal(asked?.facts.upto, true);
    // The wallet's history and statement show the settlement the server recorded.
    const pages = new UserPages(world.wallet);
    const line = (await pages.history()).lines.find((l) => l.paymentId === settlement.paymentId);
    assert.deepEqual(
      [line?.usage?.maximum.decimal, line?.usage?.used.decimal, line?.usage?.charged.decimal, line?.usage?.returned.decimal],
      ["0.10", "0.03", "0.03", "0.07"],
    );
    const statement = await pages.statement(new Date().toISOString().slice(0, 7));
    const lines = statement["lines"] as { paymentId: string; charged: { amount: number } }[];
    assert.equal(
      lines.find((l) => l.paymentId === settlement.paymentId)?.charged.amount,
      3,
      "the statement counts what was used",
    );
  });

  it("upto never above the maximum: an attacker reporting more is refused and the user pays the maximum at most", async () => {
    const before = await world.server.balanceOf(USER);
    const response = await pay()(`${apiUrl}/search?pages=15`);
    assert.equal(response.status, 200);
    const refusal = settled.at(-1);
    assert.ok(refusal instanceof SettlementRefused, "the settlement above the maximum is refused");
    assert.equal(refusal.code, "ERR_ABOVE_MAXIMUM");
    assert.equal(await world.server.balanceOf(USER), before - 10, "charged the maximum consented to, not 15");
  });

  it("settled once: a second settlement is refused, another key cannot settle, and nothing moves", async () => {
    let captured: { paymentId: string; body: Record<string, unknown> } | undefined;
    const spy: typeof fetch = async (url, init) => {
      const path = new URL(String(url)).pathname;
      const match = /^\/v1\/payments\/([^/]+)\/settlement$/.exec(path);
      if (match) captured = { paymentId: match[1]!, body: JSON.parse(String(init!.body)) as Record<string, unknown> };
      return fetch(url, init);
    };
    // A gate whose settlements the test can watch, over the same catalog and server.
    const gate = await PaymentGate.create({
      catalog: world.catalog,
      trustRoots: certificateToPem(world.pki.root.certificate),
      servers: [world.pki.server.identity],
      settleAt: world.server.url,
      fetch: spy,
    });
    const route = paidRoute(gate, { offerId: "search" }, async (req: PaidRequest, res) => {
      await req.peage!.settle!(4);
      res.end("ok");
    });
    const watched = createServer((req, res) => void route(req, res));
    await new Promise<void>((resolve) => watched.listen(0, "127.0.0.1", resolve));
    try {
      const before = await world.server.balanceOf(USER);
      const url = `http://127.0.0.1:${(watched.address() as AddressInfo).port}/search`;
      assert.equal((await pay()(url)).status, 200);
      assert.equal(await world.server.balanceOf(USER), before - 4);
      const settle = (body: Record<string, unknown>) =>
        fetch(`${world.server.url}/v1/payments/${captured!.paymentId}/settlement`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      const again = await settle(captured!.body);
      assert.equal(again.status, 200, "the identical settlement again is answered the same (a retry)");
      assert.deepEqual(((await again.json()) as UsageSettlement).used, { amount: 4, currency: "EUR" });
      const other = await settle({ ...captured!.body, used: { amount: 1, currency: "EUR" } });
      assert.equal(other.status, 409);
      assert.equal(((await other.json()) as { code: string }).code, "ERR_ALREADY_SETTLED");
      const forged = await settle({ ...captured!.body, key: newSettlementKey(), used: { amount: 0, currency: "EUR" } });
      assert.equal(forged.status, 403);
      assert.equal(((await forged.json()) as { code: string }).code, "ERR_FORBIDDEN");
      assert.equal(await world.server.balanceOf(USER), before - 4, "nothing moved after the first settlement");
    } finally {
      await new Promise((resolve) => watched.close(resolve));
    }
  });
});
