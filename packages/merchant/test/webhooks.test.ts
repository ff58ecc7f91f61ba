/**
 * Webhooks end to end: the payment server as a separate process (main.js) on a real data
 * directory sends payment.succeeded and payment.refunded to an endpoint; it is killed with SIGKILL
 * while a delivery is in flight and restarted, and every event still arrives at least once, each
 * delivery verified by verifyWebhook. A forged, altered, stale or replayed delivery is refused.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac, webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  generateKeyPair,
  price,
  signCatalog,
  systemClock,
  writePkiDir,
  type PartyId,
} from "@peage/protocol";
import { initDataDir } from "@peage/server";
import { ReplayGuard, verifyWebhook, WebhookError, type WebhookEvent } from "../src/index.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.resolve("@peage/server")));
const PAYMENTS = 6;

interface Child {
  readonly process: ChildProcess;
  readonly url: string;
  readonly exited: Promise<unknown>;
}

async function startChild(dataDir: string, extra: string[] = []): Promise<Child> {
  const child = spawn(process.execPath, [MAIN, "--data", dataDir, "--port", "0", "--host", "127.0.0.1", ...extra], {
    env: { ...process.env, PEAGE_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const event = /^\{/.test(line) ? (JSON.parse(line) as { event?: string; url?: string }) : {};
      if (event.event === "listening" && event.url) resolve(event.url);
    });
    void exited.then(() => reject(new Error(`main.js exited before listening: ${stderr}`)));
  });
  return { process: child, url, exited };
}

async function call(url: string, method: string, body: unknown, key: string): Promise<any> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = await response.json();
  assert.ok(response.ok, `${method} ${url}: ${JSON.stringify(answer)}`);
  return answer;
}

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: Date;
}

/** An endpoint recording every delivery; `answer` decides what each gets (undefined: no answer at all). */
function receiver(
  answer: (delivery: Received, count: number) => number | undefined,
): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      const delivery = { headers: request.headers, body, at: new Date() };
      received.push(delivery);
      const status = answer(delivery, received.length);
      if (status === undefined) hanging.push(response);
      else response.writeHead(status).end();
    });
  });
  server.on("close", () => hanging.forEach((response) => response.destroy()));
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${address.port}/hooks`, received });
    }),
  );
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("webhooks across a server crash", () => {
  let root: string;
  const children: ChildProcess[] = [];
  let endpoint: Awaited<ReturnType<typeof receiver>> | undefined;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "peage-webhook-test-"));
  });
  after(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    endpoint?.server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("delivers every event at least once, signed, though the server is killed mid-delivery", async (t) => {
    const pki = await createDemoPki();
    await writePkiDir(join(root, "pki"), pki);
    const dataDir = join(root, "data");
    await initDataDir({ dataDir, pkiDir: join(root, "pki") });
    const catalog = await signCatalog(
      pki.publisher.identity,
      [{ offerId: "launch", description: "One launch", price: price(100, "EUR"), grant: { kind: "launch" } }],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    const keyFile = join(root, "operator.key");
    let first: Child | undefined = await startChild(dataDir, ["--bootstrap-key", keyFile]);
    children.push(first.process);
    const key = readFileSync(keyFile, "utf8").trim();

    // The first delivery gets no answer, and the server is killed while it waits for one; the
    // second attempt of anything is refused once (500), to be retried after a backoff.
    let killed = false;
    const refusedOnce = new Set<string>();
    endpoint = await receiver((delivery) => {
      const id = delivery.headers["peage-webhook-id"] as string;
      if (!killed) {
        killed = true;
        first?.process.kill("SIGKILL");
        return undefined;
      }
      if (!refusedOnce.has(id) && refusedOnce.size === 0) {
        refusedOnce.add(id);
        return 500;
      }
      return 200;
    });
    const registered = await call(`${first.url}/v1/admin/webhooks`, "POST", { url: endpoint.url, label: "test" }, key);
    assert.match(registered.secret, /^whsec_/);
    assert.deepEqual(registered.events, ["payment.succeeded", "payment.refunded", "payout.scheduled"]);

    const user = "urn:peage:user:webhook-test" as PartyId<"user">;
    const userKey = await generateKeyPair("ES256");
    const publicKey = await webcrypto.subtle.exportKey("jwk", userKey.publicKey);
    await call(`${first.url}/v1/admin/users`, "POST", { user, publicKey, mode: "prepaid", homeCurrency: "EUR" }, key);
    await call(`${first.url}/v1/admin/users/${user}/topups`, "POST", { amount: 10_000, idempotencyKey: "webhook-topup" }, key);
    let acknowledged = 0;
    for (let i = 0; i < PAYMENTS; i++) {
      const offer = createOffer(catalog.offers[0]!, systemClock);
      const request = await createPaymentRequest({ offer, user, server: pki.server.identity, userKey, clock: systemClock });
      // Killed meanwhile: the payments acknowledged so far are what must be delivered.
      const answer = await fetch(`${first.url}/v1/payments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
      }).catch(() => undefined);
      if (!answer?.ok) break;
      acknowledged++;
    }
    await first.exited;
    t.diagnostic(`${acknowledged} payments before the kill; ${endpoint.received.length} delivery seen`);
    assert.ok(killed, "a delivery was in flight when the server was killed");
    first = undefined;

    const second = await startChild(dataDir);
    children.push(second.process);
    const listed = await call(`${second.url}/v1/admin/payments?user=${user}`, "GET", undefined, key);
    const paymentIds = (listed.payments as { paymentId: string }[]).map((p) => p.paymentId);
    assert.ok(paymentIds.length >= acknowledged && paymentIds.length > 0);
    const refund = await call(`${second.url}/v1/admin/payments/${paymentIds[0]}/refund`, "POST", { reason: "test" }, key);
    const expected = paymentIds.length + 1;
    await until("every event is delivered", async () => {
      const { deliveries } = await call(`${second.url}/v1/admin/webhooks`, "GET", undefined, key);
      return deliveries.pending === 0 && deliveries.delivered === expected;
    });

    const events = new Map<string, WebhookEvent>();
    for (const delivery of endpoint.received) {
      const event = verifyWebhook(delivery.headers, delivery.body, { secret: registered.secret, now: delivery.at });
      assert.equal(event.id, delivery.headers["peage-webhook-id"]);
      const before = events.get(event.id);
      if (before) assert.deepEqual(event, before, "every attempt of an event carries the same body");
      events.set(event.id, event);
    }
    const succeeded = [...events.values()].filter((e) => e.type === "payment.succeeded").map((e) => e.data["paymentId"]);
    assert.deepEqual(new Set(succeeded), new Set(paymentIds));
    const refunded = [...events.values()].filter((e) => e.type === "payment.refunded");
    assert.deepEqual(
      refunded.map((e) => e.data["refundId"]),
      [refund.refundId],
    );
    assert.equal(events.size, expected);
    const firstId = endpoint.received[0]!.headers["peage-webhook-id"];
    assert.ok(
      endpoint.received.filter((d) => d.headers["peage-webhook-id"] === firstId).length >= 2,
      "the interrupted delivery was sent again",
    );
    t.diagnostic(`${endpoint.received.length} deliveries for ${events.size} events`);
    second.process.kill("SIGTERM");
    await second.exited;
  });
});

describe("verifyWebhook", () => {
  const secret = "whsec_test-secret-of-the-endpoint";
  const id = `evt_${"ab".repeat(16)}`;
  const body = JSON.stringify({
    id,
    type: "payment.succeeded",
    created: "2026-03-10T12:00:00.000Z",
    data: { paymentId: "pay_1" },
  });
  const at = new Date("2026-03-10T12:00:05.000Z");
  const t = Math.floor(at.getTime() / 1000);
  const sign = (text: string, timestamp = t, key = secret) =>
    `v1=${createHmac("sha256", key).update(`${timestamp}.${id}.${text}`).digest("hex")}`;
  const headers = (over: Record<string, string> = {}) => ({
    "peage-webhook-id": id,
    "peage-webhook-timestamp": String(t),
    "peage-webhook-signature": sign(body),
    ...over,
  });
  const refused = (code: string, run: () => unknown) =>
    assert.throws(run, (error: unknown) => error instanceof WebhookError && error.code === code);

  it("accepts a delivery signed with the endpoint's secret, also among several signatures and as fetch Headers", () => {
    assert.equal(verifyWebhook(headers(), body, { secret, now: at }).id, id);
    const rotating = headers({ "peage-webhook-signature": `${sign(body, t, "whsec_old")}, ${sign(body)}` });
    assert.equal(verifyWebhook(new Headers(rotating), Buffer.from(body), { secret, now: at }).type, "payment.succeeded");
  });

  it("accepts, during a secret's rotation, a delivery signed with either the old or the new secret, and no other", () => {
    const both = ["whsec_old", secret] as const;
    assert.equal(verifyWebhook(headers(), body, { secret: both, now: at }).id, id);
    const old = headers({ "peage-webhook-signature": sign(body, t, "whsec_old") });
    assert.equal(verifyWebhook(old, body, { secret: both, now: at }).id, id);
    refused("ERR_WEBHOOK_SIGNATURE", () => verifyWebhook(old, body, { secret: [secret, "whsec_another"], now: at }));
    assert.throws(() => verifyWebhook(headers(), body, { secret: [], now: at }), TypeError);
  });

  it("refuses a forged, altered, re-timed, stale or replayed delivery", () => {
    refused("ERR_WEBHOOK_SIGNATURE", () => verifyWebhook(headers(), body, { secret: "whsec_another", now: at }));
    refused("ERR_WEBHOOK_SIGNATURE", () => verifyWebhook(headers(), body.replace("pay_1", "pay_2"), { secret, now: at }));
    refused("ERR_WEBHOOK_SIGNATURE", () =>
      verifyWebhook(headers({ "peage-webhook-timestamp": String(t + 60) }), body, { secret, now: at }),
    );
    refused("ERR_WEBHOOK_SIGNATURE", () =>
      verifyWebhook(headers({ "peage-webhook-id": `evt_${"cd".repeat(16)}` }), body, { secret, now: at }),
    );
    refused("ERR_WEBHOOK_STALE", () => verifyWebhook(headers(), body, { secret, now: new Date(at.getTime() + 301_000) }));
    refused("ERR_WEBHOOK_STALE", () => verifyWebhook(headers(), body, { secret, now: new Date(at.getTime() - 301_000) }));
    const replays = new ReplayGuard();
    verifyWebhook(headers(), body, { secret, now: at, replays });
    refused("ERR_WEBHOOK_REPLAYED", () => verifyWebhook(headers(), body, { secret, now: at, replays }));
    refused("ERR_WEBHOOK_MALFORMED", () => verifyWebhook({ "peage-webhook-id": id }, body, { secret, now: at }));
    refused("ERR_WEBHOOK_SIGNATURE", () =>
      verifyWebhook(headers({ "peage-webhook-signature": "v0=abc" }), body, { secret, now: at }),
    );
  });
});
