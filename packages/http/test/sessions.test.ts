/**
 * Metered sessions over real HTTP: the user's wallet consents once to a cap and a tick price and
 * opens a PayWord chain; each later call is paid by the next word, checked by the resource server
 * with one SHA-256; the session is settled at the payment server for the highest tick, once. A
 * replayed or forged word is refused by the resource server and by the payment server, and a second
 * settlement is refused.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { randomBytes } from "node:crypto";
import { HttpWalletTransport } from "@peage/merchant";
import { certificateToPem, price } from "@peage/protocol";
import { paidRoute, payingFetch, PaymentGate, TICK_HEADER, tickHeader, type PaidRequest } from "../src/index.js";
import { startPaidWorld, USER, type PaidWorld } from "./world.js";

describe("@peage/http: metered sessions paid by a hash chain", () => {
  let world: PaidWorld;
  let gate: PaymentGate;
  let api: Server;
  let apiUrl: string;
  let settlementBody: Record<string, unknown> | undefined;
  let paymentId = "";

  before(async () => {
    world = await startPaidWorld(1000, [
      {
        offerId: "stream",
        description: "Live weather, 1 cent a reading, at most 5",
        price: price(5, "EUR"),
        upto: true,
        tick: price(1, "EUR"),
      },
    ]);
    const spy: typeof fetch = async (url, init) => {
      settlementBody = JSON.parse(String(init!.body)) as Record<string, unknown>;
      return fetch(url, init);
    };
    gate = await PaymentGate.create({
      catalog: world.catalog,
      trustRoots: certificateToPem(world.pki.root.certificate),
      servers: [world.pki.server.identity],
      settleAt: world.server.url,
      fetch: spy,
    });
    const stream = paidRoute(gate, { offerId: "stream" }, (req: PaidRequest, res) => {
      paymentId = req.peage!.receipt.paymentId;
      res.end(JSON.stringify(req.peage!.session));
    });
    api = createServer((req, res) => void stream(req, res));
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => api.close(resolve));
    await world.close();
  });

  it("one consent, then a tick per call; the session's chain is settled once for the highest tick", async () => {
    const before = await world.server.balanceOf(USER);
    const client = payingFetch({ wallet: { endpointFile: world.endpointFile } });
    const seen: { id: string; ticks: number; length: number }[] = [];
    for (let call = 1; call <= 3; call++) {
      const response = await client(`${apiUrl}/stream?reading=${call}`);
      assert.equal(response.status, 200, await response.clone().text());
      seen.push((await response.json()) as { id: string; ticks: number; length: number });
    }
    assert.deepEqual(
      seen.map((s) => s.ticks),
      [1, 2, 3],
    );
    assert.equal(new Set(seen.map((s) => s.id)).size, 1, "one session");
    assert.equal(seen[0]!.length, 5, "the cap holds five ticks");
    assert.equal(await world.server.balanceOf(USER), before - 5, "the cap is held while the session runs");

    const id = seen[0]!.id;
    const settled = await gate.settleSession(id);
    assert.deepEqual(settled.maximum, { amount: 5, currency: "EUR" });
    assert.deepEqual(settled.used, { amount: 3, currency: "EUR" });
    assert.equal(settled.ticks, 3);
    assert.equal(await world.server.balanceOf(USER), before - 3, "three ticks paid, the rest given back");
    assert.deepEqual(await gate.settleSession(id), settled, "settling again answers the same and moves nothing");

    // The resource server takes no tick of a settled session: the client pays a new one.
    const wallet = new HttpWalletTransport({ endpointFile: world.endpointFile });
    const fourth = await wallet.tick(id, 4, { signal: AbortSignal.timeout(5000) });
    const late = await fetch(`${apiUrl}/stream`, { headers: { [TICK_HEADER]: tickHeader({ session: id, ...fourth }) } });
    assert.equal(late.status, 402);
    assert.equal(((await late.json()) as { code: string }).code, "ERR_UNKNOWN_SESSION");

    // The payment server settles once: a settlement for another tick is refused; a forged word first of all.
    const post = (body: unknown) =>
      fetch(`${world.server.url}/v1/payments/${paymentId}/settlement`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const chain = settlementBody!["chain"] as Record<string, unknown>;
    const forged = await post({ ...settlementBody, chain: { ...chain, ticks: 5, word: randomBytes(32).toString("base64url") } });
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { code: string }).code, "ERR_NOT_ON_CHAIN");
    const twice = await post({ ...settlementBody, chain: { ...chain, ticks: 4, word: fourth.word } });
    assert.equal(twice.status, 409);
    assert.equal(((await twice.json()) as { code: string }).code, "ERR_ALREADY_SETTLED");
    assert.equal(await world.server.balanceOf(USER), before - 3);
  });

  it("a replayed or forged tick is refused by the resource server, offline", async () => {
    const client = payingFetch({ wallet: { endpointFile: world.endpointFile } });
    const opened = await client(`${apiUrl}/stream`);
    const { id } = (await opened.json()) as { id: string };
    const wallet = new HttpWalletTransport({ endpointFile: world.endpointFile });
    const second = await wallet.tick(id, 2, { signal: AbortSignal.timeout(5000) });
    const send = (ticks: number, word: string) =>
      fetch(`${apiUrl}/stream`, { headers: { [TICK_HEADER]: tickHeader({ session: id, ticks, word }) } });
    assert.equal((await send(2, second.word)).status, 200);
    const replayed = await send(2, second.word);
    assert.equal(replayed.status, 402);
    assert.equal(((await replayed.json()) as { code: string }).code, "ERR_NOT_ON_CHAIN");
    const forged = await send(3, randomBytes(32).toString("base64url"));
    assert.equal(((await forged.json()) as { code: string }).code, "ERR_NOT_ON_CHAIN");
    const beyond = await send(6, second.word);
    assert.equal(((await beyond.json()) as { code: string }).code, "ERR_NOT_ON_CHAIN", "never beyond the cap");
    assert.equal((await gate.settleSession(id)).ticks, 2);
  });
});
