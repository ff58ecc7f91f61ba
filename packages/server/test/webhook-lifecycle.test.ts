/**
 * The webhook outbox's lifecycle on both engines, with the clock injected (never slept): a
 * delivery refused for the whole retry window is given up and its endpoint disabled with the
 * reason, new events for a disabled endpoint wait as failures, the operator puts them back; an
 * endpoint that succeeded meanwhile stays enabled; what is done is pruned in bounded batches,
 * pending deliveries never; secrets are sealed in the database (a clear one from before is sealed
 * at start, a new key re-seals them) and a rotated secret signs beside its successor during the
 * overlap; a process that dies holding a delivery leaves it to be sent once the lease ends.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDemoPki, FixedClock, rateTable, type PartyId } from "@peage/protocol";
import { ApiScopes, buildApp, createApiKey, staticRates, type App } from "../src/index.js";
import { Metrics } from "../src/metrics.js";
import { WebhookKeyRing } from "../src/webhooks/secret-box.js";
import { resealSecrets, startWebhookWorker, type WebhookWorker } from "../src/webhooks/worker.js";
import { Books, eur } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";
import { demoServerIdentity } from "./helpers/identity.js";

const ACME = "urn:peage:publisher:acme" as PartyId<"publisher">;
const START = new Date("2026-04-01T10:00:00.000Z");
const DAY = 86_400_000;

interface Got {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A receiver answering what `status` says for each event id. */
async function receiver(status: (eventId: string) => number): Promise<{ server: Server; url: string; got: Got[] }> {
  const got: Got[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      got.push({ headers: request.headers, body });
      response.writeHead(status(String(request.headers["peage-webhook-id"]))).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, got };
}

/**
 * The receiver's check (as @peage/merchant's verifyWebhook does it, which this package cannot
 * depend on): some v1 signature is the HMAC of `timestamp.id.body` under one of the secrets.
 */
function verifyWebhook(
  headers: IncomingHttpHeaders,
  body: string,
  opts: { secret: string | readonly string[]; now: Date },
): { id: string; data: unknown } {
  const signed = `${headers["peage-webhook-timestamp"]}.${headers["peage-webhook-id"]}.${body}`;
  const given = String(headers["peage-webhook-signature"]).split(",");
  const secrets = typeof opts.secret === "string" ? [opts.secret] : opts.secret;
  if (!secrets.some((secret) => given.includes(`v1=${createHmac("sha256", secret).update(signed).digest("hex")}`)))
    throw new Error("no v1 signature matches");
  assert.ok(Math.abs(Number(headers["peage-webhook-timestamp"]) * 1000 - opts.now.getTime()) <= 300_000);
  return JSON.parse(body) as { id: string; data: unknown };
}

for (const engine of ENGINES) {
  describe(`webhook lifecycle (${engine})`, () => {
    let work: string;
    let t: TestStore;
    let books: Books;
    let app: App;
    let key: string;
    let user: PartyId<"user">;
    const clock = new FixedClock(START);
    const keys = WebhookKeyRing.generate("k1");
    const servers: Server[] = [];
    const workers: WebhookWorker[] = [];

    const call = async (method: "GET" | "POST", url: string, body?: unknown, secret = key) => {
      const response = await app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: response.statusCode, body: response.json() as Record<string, unknown> };
    };
    const worker = (extra: Partial<Parameters<typeof startWebhookWorker>[0]> = {}) => {
      const w = startWebhookWorker({ store: t.store, keys, clock, intervalMs: 3_600_000, backoffMs: 60_000, ...extra });
      workers.push(w);
      return w;
    };
    const addEndpoint = async (url: string, label: string) => {
      const added = await call("POST", "/v1/admin/webhooks", { url, label, events: ["payment.succeeded"] });
      assert.equal(added.status, 201);
      return added.body as { id: string; secret: string };
    };
    const pay = async (amount: number) => books.pay(user, ACME, eur(amount), clock.now().toISOString());
    /** Runs passes, moving the clock an hour after each, until `done` or `hours` ran out. */
    const runFor = async (w: WebhookWorker, hours: number, done: () => Promise<boolean> = async () => false) => {
      for (let h = 0; h < hours && !(await done()); h++) {
        await w.runOnce();
        clock.advance(3_600_000);
      }
    };

    before(async () => {
      work = mkdtempSync(join(tmpdir(), "peage-webhook-lifecycle-"));
      t = await openTestStore(engine, work);
      books = new Books(t.store);
      const pki = await createDemoPki({ now: START });
      app = buildApp({
        store: t.store,
        identity: demoServerIdentity(pki),
        trust: pki.trustStore(),
        rates: staticRates(rateTable("EUR", "2026-03-31", {})),
        clock,
        webhookKeys: keys,
      });
      await app.ready();
      key = await createApiKey(t.store, ApiScopes, "webhook lifecycle tests");
      user = await books.user(`lifecycle-${engine}`);
      await books.topUp(user, 10_000_000, "2026-03-01T08:00:00.000Z");
    });
    after(async () => {
      for (const w of workers) await w.stop();
      servers.forEach((server) => server.close());
      await app.close();
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    it("gives a delivery up after the retry window, disables the endpoint with the reason, and puts it all back on request", async () => {
      let up = false;
      const hook = await receiver(() => (up ? 200 : 503));
      servers.push(hook.server);
      const endpoint = await addEndpoint(hook.url, "down for days");
      const w = worker();
      const first = await pay(100);
      await runFor(w, 80);
      const counts = await t.store.runExtension("deliveryCounts");
      assert.equal(counts.failed, 1, "given up after three days, not retried forever");
      const attempts = hook.got.length;
      assert.ok(attempts > 10 && attempts < 80, `${attempts} attempts over three days, backing off`);
      await runFor(w, 48);
      assert.equal(hook.got.length, attempts, "a delivery given up is attempted no more");

      const listed = await call("GET", "/v1/admin/webhooks");
      const shown = (listed.body["endpoints"] as { id: string; disabled?: { reason: string } }[]).find(
        (e) => e.id === endpoint.id,
      )!;
      assert.match(shown.disabled!.reason, /no delivery succeeded since .*; last error: answered 503/);
      const failures = listed.body["failures"] as { eventId: string; endpointId: string; lastError: string }[];
      assert.ok(failures.some((f) => f.endpointId === endpoint.id && f.lastError === "answered 503"));

      // An event for a disabled endpoint is kept as a failure, not sent.
      await pay(200);
      await w.runOnce();
      assert.equal(hook.got.length, attempts);
      assert.equal((await t.store.runExtension("deliveryCounts")).failed, 2);
      // What an operator's alert reads: deliveries given up, an endpoint disabled.
      const metrics = new Metrics({ store: t.store });
      const scraped = await metrics.render();
      assert.match(scraped, /^peage_webhook_deliveries\{state="failed"\} 2$/m);
      assert.match(scraped, /^peage_webhook_endpoints\{state="disabled"\} 1$/m);

      // Wrong scope, unknown endpoint, unknown event: refused, nothing changes.
      const reader = await createApiKey(t.store, ["webhooks:read"], "reader");
      assert.equal((await call("POST", `/v1/admin/webhooks/${endpoint.id}/redeliver`, {}, reader)).status, 403);
      assert.equal((await call("POST", "/v1/admin/webhooks/whe_nobody/redeliver", {})).status, 404);
      const unknown = await call("POST", `/v1/admin/webhooks/${endpoint.id}/redeliver`, { event: "evt_0123" });
      assert.equal(unknown.status, 404);
      assert.match(unknown.body["detail"] as string, /peage admin webhooks/);
      assert.equal((await t.store.runExtension("deliveryCounts")).failed, 2);

      up = true;
      const back = await call("POST", `/v1/admin/webhooks/${endpoint.id}/redeliver`, {});
      assert.deepEqual(back.body, { endpoint: endpoint.id, deliveries: 2, reenabled: true });
      assert.equal(await w.runOnce(), 2);
      const after = await metrics.render();
      assert.match(after, /^peage_webhook_deliveries\{state="failed"\} 0$/m);
      assert.match(after, /^peage_webhook_deliveries\{state="delivered"\} 2$/m);
      assert.match(after, /^peage_webhook_endpoints\{state="disabled"\} 0$/m);
      assert.match(after, /^peage_webhook_endpoints\{state="active"\} 1$/m);
      const delivered = hook.got
        .slice(attempts)
        .map((g) => verifyWebhook(g.headers, g.body, { secret: endpoint.secret, now: clock.now() }));
      assert.equal(delivered.length, 2);
      assert.ok(delivered.some((event) => (event.data as { paymentId: string }).paymentId === first.id));

      // One event again, though delivered: the same id, the same body.
      const again = await call("POST", `/v1/admin/webhooks/${endpoint.id}/redeliver`, { event: delivered[0]!.id });
      assert.deepEqual(again.body, { endpoint: endpoint.id, deliveries: 1, reenabled: false });
      assert.equal(await w.runOnce(), 1);
      assert.equal(hook.got.at(-1)!.headers["peage-webhook-id"], delivered[0]!.id);
      await app.inject({
        method: "DELETE",
        url: `/v1/admin/webhooks/${endpoint.id}`,
        headers: { authorization: `Bearer ${key}` },
      });
    });

    it("keeps an endpoint that succeeded during the window enabled when one delivery is given up", async () => {
      let bad: string | undefined;
      const hook = await receiver((id) => (bad === undefined || id === bad ? ((bad ??= id), 500) : 200));
      servers.push(hook.server);
      const endpoint = await addEndpoint(hook.url, "one poisoned event");
      const w = worker();
      await pay(300);
      await w.runOnce();
      clock.advance(DAY);
      await pay(400);
      await runFor(w, 80);
      const listed = await call("GET", "/v1/admin/webhooks");
      const shown = (listed.body["endpoints"] as { id: string; disabled?: unknown }[]).find((e) => e.id === endpoint.id)!;
      assert.equal(shown.disabled, undefined);
      assert.deepEqual(
        (listed.body["failures"] as { eventId: string; endpointId: string }[])
          .filter((f) => f.endpointId === endpoint.id)
          .map((f) => f.eventId),
        [bad],
      );
      await app.inject({
        method: "DELETE",
        url: `/v1/admin/webhooks/${endpoint.id}`,
        headers: { authorization: `Bearer ${key}` },
      });
    });

    it("prunes delivered and given-up rows after the retention period in bounded batches, never a pending one", async () => {
      const hook = await receiver(() => 200);
      servers.push(hook.server);
      const endpoint = await addEndpoint(hook.url, "pruned");
      const w = worker({ retentionMs: 7 * DAY, pruneBatch: 2, pruneEveryMs: Infinity });
      for (let i = 0; i < 5; i++) await pay(500 + i);
      await w.runOnce();
      clock.advance(8 * DAY);
      // A delivery still pending (its endpoint down) stays, however old.
      const down = await receiver(() => 503);
      servers.push(down.server);
      await addEndpoint(down.url, "down");
      await pay(600);
      await w.runOnce();
      clock.advance(8 * DAY);
      const before = await t.raw.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM webhook_deliveries");
      // One batch deletes at most its size of deliveries, and of events.
      const cutoff = new Date(clock.now().getTime() - 7 * DAY).toISOString();
      const batch = await t.store.runExtension("pruneOutbox", cutoff, 1);
      assert.ok(batch >= 1 && batch <= 2, `${batch} rows in a batch of 1`);
      const pruned = await w.prune();
      assert.ok(pruned >= 4, `${pruned} rows pruned`);
      const left = await t.raw.query<{ endpoint_id: string; delivered_at: string | null; failed_at: string | null }>(
        "SELECT endpoint_id, delivered_at, failed_at FROM webhook_deliveries",
      );
      assert.ok(Number(before[0]!.n) > left.length);
      assert.ok(
        left.every((row) => row.delivered_at === null && row.failed_at === null),
        "only pending deliveries remain",
      );
      assert.ok(left.length >= 1);
      const orphans = await t.raw.query(
        `SELECT id FROM webhook_events v WHERE fanned_out = 1 AND created_at < $1
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = v.id)`.replace(
          "$1",
          engine === "sqlite" ? "?" : "$1",
        ),
        [new Date(clock.now().getTime() - 7 * DAY).toISOString()],
      );
      assert.equal(orphans.length, 0, "events no delivery needs are pruned too");
      assert.ok((await t.raw.query("SELECT id FROM payments")).length >= 6, "payments are never touched");
      await app.inject({
        method: "DELETE",
        url: `/v1/admin/webhooks/${endpoint.id}`,
        headers: { authorization: `Bearer ${key}` },
      });
    });

    it("keeps secrets sealed, seals a clear one at start, re-seals under a new key, and signs with both during a rotation", async () => {
      const hook = await receiver(() => 200);
      servers.push(hook.server);
      const endpoint = await addEndpoint(hook.url, "sealed");
      const dump = JSON.stringify(await t.raw.query("SELECT * FROM webhook_endpoints"));
      assert.ok(
        !dump.includes(endpoint.secret) && !dump.includes(endpoint.secret.slice(6)),
        "the database does not hold the secret",
      );

      // A secret in clear, as the lifecycle migration found it, is sealed by the server at start.
      const [p1, p2] = engine === "sqlite" ? ["?", "?"] : ["$1", "$2"];
      await t.raw.query(`UPDATE webhook_endpoints SET secret = ${p1}, secret_key_id = NULL WHERE id = ${p2}`, [
        endpoint.secret,
        endpoint.id,
      ]);
      assert.equal(await resealSecrets(t.store, keys), 1);
      const sealed = await t.raw.query<{ secret: string; secret_key_id: string }>(
        `SELECT secret, secret_key_id FROM webhook_endpoints WHERE id = ${engine === "sqlite" ? "?" : "$1"}`,
        [endpoint.id],
      );
      assert.equal(sealed[0]!.secret_key_id, "k1");
      assert.notEqual(sealed[0]!.secret, endpoint.secret);
      assert.throws(() => keys.open({ keyId: "k1", value: sealed[0]!.secret }, "whe_another"), /does not open/);

      // A new key first in the ring: everything is sealed again under it; the old ring cannot open them.
      const next = WebhookKeyRing.parse(`k2 ${Buffer.alloc(32, 7).toString("base64url")}\n${keys.text()}`, "test ring");
      assert.ok((await resealSecrets(t.store, next)) >= 1);
      const rows = await t.raw.query<{ secret_key_id: string }>("SELECT secret_key_id FROM webhook_endpoints");
      assert.ok(rows.every((row) => row.secret_key_id === "k2"));
      const w = worker({ keys: next });
      await pay(700);
      await w.runOnce();
      assert.doesNotThrow(() =>
        verifyWebhook(hook.got.at(-1)!.headers, hook.got.at(-1)!.body, { secret: endpoint.secret, now: clock.now() }),
      );

      // Rotation: both secrets sign until the overlap ends; then only the new one.
      assert.equal((await call("POST", "/v1/admin/webhooks/whe_nobody/rotate-secret", {})).status, 404);
      const rotated = await call("POST", `/v1/admin/webhooks/${endpoint.id}/rotate-secret`, { overlapHours: 2 });
      assert.equal(rotated.status, 200);
      assert.equal(rotated.body["previousSecretUntil"], new Date(clock.now().getTime() + 2 * 3_600_000).toISOString());
      const secret = rotated.body["secret"] as string;
      assert.notEqual(secret, endpoint.secret);
      await pay(800);
      await w.runOnce();
      const overlap = hook.got.at(-1)!;
      assert.equal(String(overlap.headers["peage-webhook-signature"]).split(",").length, 2);
      for (const s of [secret, endpoint.secret, [endpoint.secret, secret]])
        assert.doesNotThrow(() => verifyWebhook(overlap.headers, overlap.body, { secret: s, now: clock.now() }));
      assert.throws(
        () => verifyWebhook(overlap.headers, overlap.body, { secret: "whsec_other", now: clock.now() }),
        /no v1 signature/,
      );
      clock.advance(3 * 3_600_000);
      await pay(900);
      await w.runOnce();
      const later = hook.got.at(-1)!;
      assert.equal(String(later.headers["peage-webhook-signature"]).split(",").length, 1);
      assert.doesNotThrow(() => verifyWebhook(later.headers, later.body, { secret, now: clock.now() }));
      assert.throws(
        () => verifyWebhook(later.headers, later.body, { secret: endpoint.secret, now: clock.now() }),
        /no v1 signature/,
      );
      await app.inject({
        method: "DELETE",
        url: `/v1/admin/webhooks/${endpoint.id}`,
        headers: { authorization: `Bearer ${key}` },
      });
    });

    it("sends a delivery again after its lease when the process holding it died: at least once", async () => {
      const hook = await receiver(() => 200);
      servers.push(hook.server);
      const endpoint = await addEndpoint(hook.url, "crash");
      const paid = await pay(1000);
      await t.store.runExtension("fanOut", clock.now().toISOString(), 500);
      // A process takes the delivery for a lease, then dies before sending or settling it.
      const now = clock.now();
      const taken = await t.store.runExtension("claimDue", now.toISOString(), new Date(now.getTime() + 15_000).toISOString(), 50);
      assert.ok(taken.some((d) => d.endpointId === endpoint.id));
      const other = await t.reopen();
      try {
        const survivor = startWebhookWorker({ store: other, keys, clock, intervalMs: 3_600_000 });
        workers.push(survivor);
        assert.equal(await survivor.runOnce(), 0, "leased: not sent twice at once");
        clock.advance(16_000);
        assert.ok((await survivor.runOnce()) >= 1);
        await survivor.stop();
      } finally {
        await other.close();
      }
      const got = hook.got.map((g) => verifyWebhook(g.headers, g.body, { secret: endpoint.secret, now: clock.now() }));
      assert.ok(got.some((event) => (event.data as { paymentId: string }).paymentId === paid.id));
    });
  });
}
