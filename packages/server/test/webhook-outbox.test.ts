/**
 * The webhook outbox on both engines: the triggers write one event per payment, refund and payout
 * in the cause's own transaction (a refused payment writes none); the worker fans each event out
 * to the endpoints that want it (an operator endpoint gets every publisher's, a publisher's only
 * its own), signs each delivery over `timestamp.id.body`, retries a refusal after a backoff with the
 * same id and body, and marks a delivery done on a 2xx.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FixedClock, type PartyId } from "@peage/protocol";
import { buildConfig, settle } from "../src/index.js";
import { backoffFor, startWebhookWorker } from "../src/webhooks/worker.js";
import { WebhookKeyRing } from "../src/webhooks/secret-box.js";
import { Books, eur } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";

const ACME = "urn:peage:publisher:acme" as PartyId<"publisher">;
const OTHER = "urn:peage:publisher:other" as PartyId<"publisher">;

interface Delivery {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

async function endpoint(status: () => number): Promise<{ server: Server; url: string; got: Delivery[] }> {
  const got: Delivery[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      got.push({ headers: request.headers, body });
      response.writeHead(status()).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, got };
}

const verify = (secret: string, d: Delivery) => {
  const signed = `${d.headers["peage-webhook-timestamp"]}.${d.headers["peage-webhook-id"]}.${d.body}`;
  return d.headers["peage-webhook-signature"] === `v1=${createHmac("sha256", secret).update(signed).digest("hex")}`;
};

for (const engine of ENGINES) {
  describe(`webhook outbox (${engine})`, () => {
    let work: string;
    let t: TestStore;
    let books: Books;
    const servers: Server[] = [];
    before(async () => {
      work = mkdtempSync(join(tmpdir(), "peage-outbox-test-"));
      t = await openTestStore(engine, work);
      books = new Books(t.store);
    });
    after(async () => {
      servers.forEach((server) => server.close());
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    it("writes an event with each payment, refund and payout once endpoints exist, and fans them out to the endpoints that want them", async () => {
      // The endpoints first: an endpoint receives the events of causes committed after it was registered.
      const clock = new FixedClock(new Date("2026-03-02T10:00:00Z"));
      const keys = WebhookKeyRing.generate();
      let refuse = 1;
      const operator = await endpoint(() => (refuse-- > 0 ? 503 : 200));
      const acme = await endpoint(() => 200);
      servers.push(operator.server, acme.server);
      const created = "2026-02-01T00:00:00.000Z";
      await t.store.runExtension(
        "addEndpoint",
        {
          id: "whe_op",
          url: operator.url,
          publisher: undefined,
          events: ["payment.succeeded", "payment.refunded", "payout.scheduled"],
          label: "op",
          createdAt: created,
        },
        keys.seal("whsec_operator", "whe_op"),
      );
      await t.store.runExtension(
        "addEndpoint",
        {
          id: "whe_acme",
          url: acme.url,
          publisher: ACME,
          events: ["payout.scheduled", "payment.refunded"],
          label: "acme",
          createdAt: created,
        },
        keys.seal("whsec_acme", "whe_acme"),
      );
      const at = "2026-02-10T10:00:00.000Z";
      await t.store.putPublisher(
        { id: ACME, name: "Acme", country: "FR", iban: "FR7630006000011234567890189", bic: "AGRIFRPP" },
        at,
      );
      const user = await books.user(`outbox-${engine}`);
      await books.topUp(user, 100_000, "2026-02-01T08:00:00.000Z");
      const paid = await books.pay(user, ACME, eur(5000), at);
      await books.pay(user, OTHER, eur(300), at);
      assert.equal((await books.pay(user, ACME, eur(1_000_000), at)).kind, "insufficient-funds");
      await books.refund(paid.id, "2026-02-11T10:00:00.000Z");
      await books.pay(user, ACME, eur(4000), "2026-02-12T10:00:00.000Z");
      const config = buildConfig({ dataDir: "/nonexistent" }, { minimumPayouts: { EUR: "10.00" } });
      await settle({
        store: t.store,
        period: "2026-02",
        outDir: join(work, "out"),
        config,
        now: new Date("2026-03-02T09:00:00Z"),
      });

      const events = await t.raw.query<{ type: string; ref: string; publisher: string }>(
        `SELECT type, ref, COALESCE(publisher, (SELECT p.publisher FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.id = ref))
           AS publisher FROM webhook_events ORDER BY type, 3`,
      );
      assert.deepEqual(
        events.map((e) => `${e.type} ${e.publisher}`),
        [
          `payment.refunded ${ACME}`,
          `payment.succeeded ${ACME}`,
          `payment.succeeded ${ACME}`,
          `payment.succeeded ${OTHER}`,
          `payout.scheduled ${ACME}`,
        ],
      );

      const worker = startWebhookWorker({ store: t.store, keys, clock, intervalMs: 3_600_000, backoffMs: 1000 });
      try {
        assert.equal(await worker.runOnce(), 7);
        assert.equal(operator.got.length, 5);
        assert.deepEqual(acme.got.map((d) => JSON.parse(d.body).type).sort(), ["payment.refunded", "payout.scheduled"]);
        const payout = JSON.parse(acme.got.find((d) => d.body.includes("payout.scheduled"))!.body);
        assert.deepEqual(payout.data.amount, { amount: 4000, currency: "EUR" });
        assert.ok(operator.got.every((d) => verify("whsec_operator", d)));
        assert.ok(acme.got.every((d) => verify("whsec_acme", d)));
        assert.ok(!verify("whsec_acme", operator.got[0]!));
        assert.deepEqual(await t.store.runExtension("deliveryCounts"), { pending: 1, delivered: 6, failed: 0 });

        // The refused one is due after its backoff, not before; then sent again, same id and body.
        assert.equal(await worker.runOnce(), 0);
        clock.advance(1000);
        assert.equal(await worker.runOnce(), 1);
        const first = operator.got[0]!;
        const again = operator.got[5]!;
        assert.equal(again.headers["peage-webhook-id"], first.headers["peage-webhook-id"]);
        assert.equal(again.body, first.body);
        assert.ok(verify("whsec_operator", again));
        assert.deepEqual(await t.store.runExtension("deliveryCounts"), { pending: 0, delivered: 7, failed: 0 });
        assert.equal(await worker.runOnce(), 0);
      } finally {
        await worker.stop();
      }
    });
  });
}

describe("webhook backoff", () => {
  it("doubles from the base up to the cap, with at most half of it random", () => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      const ceiling = Math.min(3_600_000, 5000 * 2 ** (attempt - 1));
      const wait = backoffFor(attempt, 5000, 3_600_000);
      assert.ok(wait >= ceiling / 2 && wait <= ceiling, `attempt ${attempt}: ${wait}`);
    }
  });
});
