/**
 * A paid HTTP API over real HTTP: the reference payment server, the user's real wallet service (it
 * verifies each offer and pays with the user's key), and a resource server whose routes are paid
 * per request through @peage/http. Both wire formats, and what an attacker or a flaky network tries.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { certificateToPem, systemClock, TrustStore, verifyAcknowledgment, type DemoPki, type Offer } from "@peage/protocol";
import type { RealServer } from "@peage/server/testing";
import { paidRoute, payingFetch, PaymentRefused, paymentAuth, x402, type PaidRequest } from "../src/index.js";
import { startPaidWorld, USER, type PaidWorld } from "./world.js";

describe("@peage/http: a paid API, per request, over real HTTP", () => {
  let world: PaidWorld;
  let pki: DemoPki;
  let server: RealServer;
  let api: Server;
  let apiUrl: string;
  let endpointFile: string;
  let failNext = false;

  before(async () => {
    world = await startPaidWorld();
    ({ pki, server, endpointFile } = world);
    const gate = world.gate;
    const forecast = paidRoute(gate, { offerId: "forecast" }, (req: PaidRequest, res) => {
      if (failNext) {
        failNext = false;
        throw new Error("the forecast backend is down");
      }
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          city: new URL(req.url!, "http://x").searchParams.get("city"),
          sky: "clear",
          paymentId: req.peage!.receipt.paymentId,
        }),
      );
    });
    const translate = paidRoute(gate, { offerId: "translate" }, (req: PaidRequest, res) => {
      res.end(req.peage!.body.toString("utf8").split("").reverse().join(""));
    });
    api = createServer((req, res) => void (req.url?.startsWith("/forecast") ? forecast(req, res) : translate(req, res)));
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => api.close(resolve));
    await world.close();
  });

  const paying = (prefer: "x402" | "payment") => payingFetch({ wallet: { endpointFile }, prefer });

  /** Pays once and returns the credential header the client sent, to replay it. */
  async function payAndCapture(prefer: "x402" | "payment", path: string, init: RequestInit = {}) {
    let sent: Headers | undefined;
    const spy: typeof fetch = async (url, requestInit) => {
      sent = new Headers(requestInit?.headers);
      return fetch(url, requestInit);
    };
    const response = await payingFetch({ wallet: { endpointFile }, prefer, fetch: spy })(`${apiUrl}${path}`, init);
    return { response, sent: sent! };
  }

  it("without a credential: 402 with both challenges and a problem document", async () => {
    const response = await fetch(`${apiUrl}/forecast?city=Lyon`);
    assert.equal(response.status, 402);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.equal(((await response.json()) as { code: string }).code, "ERR_PAYMENT_REQUIRED");
    const fromX402 = x402.challengeFromRequired(response.headers.get("payment-required")!) as {
      offer: { terms: { price: unknown } };
    };
    assert.deepEqual(fromX402.offer.terms.price, { amount: 2, currency: "EUR" });
    const fromAuth = paymentAuth.challengeFromWwwAuthenticate(response.headers.get("www-authenticate")!);
    assert.deepEqual(fromAuth, fromX402, "both formats carry the same challenge");
  });

  for (const prefer of ["x402", "payment"] as const) {
    it(`${prefer}: the client pays through the wallet, the route serves, the receipt holds a verifiable acknowledgment`, async () => {
      const before = await server.balanceOf(USER);
      const response = await paying(prefer)(`${apiUrl}/forecast?city=Lyon`);
      assert.equal(response.status, 200, await response.clone().text());
      const body = (await response.json()) as { city: string; paymentId: string };
      assert.equal(body.city, "Lyon");
      const ack =
        prefer === "x402"
          ? x402.acknowledgmentFromResponse(response.headers.get("payment-response")!)
          : paymentAuth.acknowledgmentFromReceipt(response.headers.get("payment-receipt")!);
      assert.ok(ack, "the receipt header carries the acknowledgment");
      const claims = JSON.parse(
        Buffer.from((ack as { acknowledgment: string }).acknowledgment.split(".")[1]!, "base64url").toString("utf8"),
      ) as { paymentId: string };
      assert.equal(claims.paymentId, body.paymentId);
      assert.equal(await server.balanceOf(USER), before - 2, "charged exactly once");
    });
  }

  it("a credential serves one response: presented again it is refused, with a fresh challenge", async () => {
    const { response, sent } = await payAndCapture("payment", "/forecast?city=Nice");
    assert.equal(response.status, 200);
    const again = await fetch(`${apiUrl}/forecast?city=Nice`, { headers: { authorization: sent.get("authorization")! } });
    assert.equal(again.status, 401);
    assert.equal(((await again.json()) as { code: string }).code, "ERR_ALREADY_SERVED");
    assert.ok(paymentAuth.challengeFromWwwAuthenticate(again.headers.get("www-authenticate")!), "a fresh challenge to pay again");
  });

  it("an acknowledgment paid for one request is refused for another (query, body or route)", async () => {
    const { sent } = await payAndCapture("x402", "/forecast?city=Paris");
    const credential = sent.get("payment-signature")!;
    for (const path of ["/forecast?city=Paris&days=7", "/forecast?city=Lyon"]) {
      const other = await fetch(`${apiUrl}${path}`, { headers: { "payment-signature": credential } });
      assert.equal(other.status, 402, path);
      assert.equal(((await other.json()) as { code: string }).code, "ERR_OTHER_REQUEST", path);
    }
    const posted = await payAndCapture("x402", "/translate", { method: "POST", body: "bonjour" });
    assert.equal(await posted.response.text(), "ruojnob");
    const swapped = await fetch(`${apiUrl}/translate`, {
      method: "POST",
      body: "au revoir",
      headers: { "payment-signature": posted.sent.get("payment-signature")! },
    });
    assert.equal(((await swapped.json()) as { code: string }).code, "ERR_OTHER_REQUEST", "another body");
    const rerouted = await fetch(`${apiUrl}/translate`, { method: "GET", headers: { "payment-signature": credential } });
    assert.equal(((await rerouted.json()) as { code: string }).code, "ERR_OTHER_REQUEST", "another route's offer");
  });

  it("a challenge the server did not make, or an acknowledgment that does not verify, is refused", async () => {
    const { sent } = await payAndCapture("x402", "/forecast?city=Brest");
    const decoded = JSON.parse(Buffer.from(sent.get("payment-signature")!, "base64").toString("utf8")) as {
      payload: { challenge: { offer: { terms: { price: { amount: number } } } }; acknowledgment: { acknowledgment: string } };
    };
    const cheaper = structuredClone(decoded);
    cheaper.payload.challenge.offer.terms.price.amount = 1;
    const forged = await fetch(`${apiUrl}/forecast?city=Brest`, {
      headers: { "payment-signature": Buffer.from(JSON.stringify(cheaper)).toString("base64") },
    });
    assert.equal(((await forged.json()) as { code: string }).code, "ERR_NOT_OUR_CHALLENGE");

    const tampered = structuredClone(decoded);
    const [h, p, s] = tampered.payload.acknowledgment.acknowledgment.split(".");
    tampered.payload.acknowledgment.acknowledgment = [h, p, `${s!.slice(0, -2)}AA`].join(".");
    const bad = await fetch(`${apiUrl}/forecast?city=Brest`, {
      headers: { "payment-signature": Buffer.from(JSON.stringify(tampered)).toString("base64") },
    });
    assert.equal(((await bad.json()) as { code: string }).code, "ERR_INVALID_ACKNOWLEDGMENT");

    const garbage = await fetch(`${apiUrl}/forecast?city=Brest`, { headers: { authorization: "Payment not*base64url" } });
    assert.equal(garbage.status, 401);
    assert.equal(((await garbage.json()) as { code: string }).code, "ERR_MALFORMED_CREDENTIAL");
  });

  it("serve-then-settle without the race: a failed response releases the acknowledgment, the retry is served, paid once", async () => {
    const before = await server.balanceOf(USER);
    failNext = true;
    const { response, sent } = await payAndCapture("payment", "/forecast?city=Lille");
    assert.equal(response.status, 500);
    assert.equal(response.headers.get("payment-receipt"), null, "no receipt for a response that failed");
    const retry = await fetch(`${apiUrl}/forecast?city=Lille`, { headers: { authorization: sent.get("authorization")! } });
    assert.equal(retry.status, 200);
    assert.equal(((await retry.json()) as { city: string }).city, "Lille");
    assert.equal(await server.balanceOf(USER), before - 2);
  });

  it("the client refuses to pay a challenge made for another request, and nothing is paid", async () => {
    const before = await server.balanceOf(USER);
    const replaying: typeof fetch = async (_url, init) => fetch(`${apiUrl}/forecast?city=Elsewhere`, init);
    const client = payingFetch({ wallet: { endpointFile }, fetch: replaying });
    await assert.rejects(client(`${apiUrl}/forecast?city=Here`), PaymentRefused);
    assert.equal(await server.balanceOf(USER), before);
  });

  it("the acknowledgment in a receipt verifies offline against the offer the client paid", async () => {
    const { response, sent } = await payAndCapture("x402", "/forecast?city=Metz");
    const ack = x402.acknowledgmentFromResponse(response.headers.get("payment-response")!);
    const credential = x402.credentialFromSignature(sent.get("payment-signature")!);
    assert.ok(typeof credential !== "string");
    const offer = (credential.challenge as { offer: Offer }).offer;
    const trust = TrustStore.fromPem([certificateToPem(pki.root.certificate)], []);
    const verified = await verifyAcknowledgment(ack, offer, { trust, clock: systemClock, server: pki.server.identity });
    assert.ok(verified.ok, verified.ok ? "" : verified.error.message);
    assert.deepEqual(verified.value.claims.price, { amount: 2, currency: "EUR" });
  });
});
