/**
 * The Express and Fastify adapters over real HTTP, against the reference payment server and the
 * user's wallet service: a 402 round trip in both wire formats, a body bound to its payment
 * (Fastify parses the same bytes that were paid for), a replay refused, a failing handler that
 * releases the acknowledgment for a retry, and Express's guard against a body parser placed first.
 */
import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import express from "express";
import Fastify, { type FastifyInstance } from "fastify";
import { paid as expressPaid } from "../src/adapters/express.js";
import { paid as fastifyPaid } from "../src/adapters/fastify.js";
import { payingFetch } from "../src/index.js";
import { startPaidWorld, USER, type PaidWorld } from "./world.js";

interface Api {
  readonly url: string;
  close(): Promise<void>;
  failNext(): void;
}

async function expressApi(world: PaidWorld): Promise<Api> {
  let fail = false;
  const app = express();
  app.get("/forecast", expressPaid(world.gate, { offerId: "forecast" }), (req, res) => {
    if (fail) {
      fail = false;
      throw new Error("the forecast backend is down");
    }
    res.json({ city: req.query["city"], paymentId: req.peage!.receipt.paymentId });
  });
  app.post("/translate", expressPaid(world.gate, { offerId: "translate" }), (req, res) => {
    res.type("text/plain").send(req.peage!.body.toString("utf8").split("").reverse().join(""));
  });
  app.post("/parsed-first", express.text(), expressPaid(world.gate, { offerId: "translate" }), (_req, res) => {
    res.send("never");
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, "127.0.0.1", () => resolve(listening));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
    failNext: () => void (fail = true),
  };
}

async function fastifyApi(world: PaidWorld): Promise<Api> {
  let fail = false;
  const app: FastifyInstance = Fastify();
  app.get("/forecast", { ...fastifyPaid(world.gate, { offerId: "forecast" }) }, async (request) => {
    if (fail) {
      fail = false;
      throw new Error("the forecast backend is down");
    }
    return { city: (request.query as { city?: string }).city, paymentId: request.peage!.receipt.paymentId };
  });
  app.post("/translate", { ...fastifyPaid(world.gate, { offerId: "translate" }) }, async (request) => {
    const parsed = request.body as { text: string };
    assert.equal(request.peage!.body.toString("utf8"), JSON.stringify(parsed), "Fastify parsed the bytes that were paid for");
    return parsed.text.split("").reverse().join("");
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    close: () => app.close(),
    failNext: () => void (fail = true),
  };
}

for (const [name, start] of [
  ["Express", expressApi],
  ["Fastify", fastifyApi],
] as const) {
  describe(`@peage/http on ${name}, over real HTTP`, () => {
    let world: PaidWorld;
    let api: Api;
    before(async () => {
      world = await startPaidWorld();
      api = await start(world);
    });
    after(async () => {
      await api.close();
      await world.close();
    });

    /** Pays once and returns the response with the credential header the client sent. */
    async function pay(prefer: "x402" | "payment", path: string, init: RequestInit = {}) {
      let sent: Headers | undefined;
      const spy: typeof fetch = async (url, requestInit) => {
        sent = new Headers(requestInit?.headers);
        return fetch(url, requestInit);
      };
      const response = await payingFetch({ wallet: { endpointFile: world.endpointFile }, prefer, fetch: spy })(
        `${api.url}${path}`,
        init,
      );
      return { response, sent: sent! };
    }

    it("answers 402 with both challenges when unpaid", async () => {
      const response = await fetch(`${api.url}/forecast?city=Lyon`);
      assert.equal(response.status, 402);
      assert.ok(response.headers.get("payment-required"));
      assert.match(response.headers.get("www-authenticate") ?? "", /^Payment /);
      assert.equal(((await response.json()) as { code: string }).code, "ERR_PAYMENT_REQUIRED");
    });

    for (const prefer of ["x402", "payment"] as const) {
      it(`${prefer}: paid through the wallet, served once, charged once`, async () => {
        const before = await world.server.balanceOf(USER);
        const { response, sent } = await pay(prefer, "/forecast?city=Lyon");
        assert.equal(response.status, 200, await response.clone().text());
        assert.equal(((await response.json()) as { city: string }).city, "Lyon");
        assert.ok(response.headers.get(prefer === "x402" ? "payment-response" : "payment-receipt"), "the receipt header");
        assert.equal(await world.server.balanceOf(USER), before - 2);
        const header = prefer === "x402" ? "payment-signature" : "authorization";
        const replay = await fetch(`${api.url}/forecast?city=Lyon`, { headers: { [header]: sent.get(header)! } });
        assert.equal(replay.status, prefer === "x402" ? 402 : 401);
        assert.equal(((await replay.json()) as { code: string }).code, "ERR_ALREADY_SERVED");
      });
    }

    it("a body is bound to its payment: the paid body is served, another body with the same credential is refused", async () => {
      const text = name === "Fastify" ? JSON.stringify({ text: "bonjour" }) : "bonjour";
      const headers = { "content-type": name === "Fastify" ? "application/json" : "text/plain" };
      const { response, sent } = await pay("x402", "/translate", { method: "POST", body: text, headers });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(await response.text(), "ruojnob");
      const other = name === "Fastify" ? JSON.stringify({ text: "au revoir" }) : "au revoir";
      const swapped = await fetch(`${api.url}/translate`, {
        method: "POST",
        body: other,
        headers: { ...headers, "payment-signature": sent.get("payment-signature")! },
      });
      assert.equal(swapped.status, 402);
      assert.equal(((await swapped.json()) as { code: string }).code, "ERR_OTHER_REQUEST");
    });

    it("a handler that fails releases the acknowledgment: the retry is served and the user is charged once", async () => {
      const before = await world.server.balanceOf(USER);
      api.failNext();
      const { response, sent } = await pay("payment", "/forecast?city=Lille");
      assert.equal(response.status, 500);
      assert.equal(response.headers.get("payment-receipt"), null, "no receipt on a failed response");
      const retry = await fetch(`${api.url}/forecast?city=Lille`, { headers: { authorization: sent.get("authorization")! } });
      assert.equal(retry.status, 200);
      assert.equal(((await retry.json()) as { city: string }).city, "Lille");
      assert.equal(await world.server.balanceOf(USER), before - 2);
    });

    if (name === "Express") {
      it("a body parser placed before the payment is reported, and nothing is paid", async () => {
        const response = await fetch(`${api.url}/parsed-first`, {
          method: "POST",
          body: "x",
          headers: { "content-type": "text/plain" },
        });
        assert.equal(response.status, 500);
        assert.equal(response.headers.get("payment-required"), null);
      });
    }
  });
}
