/**
 * PostgreSQL's outbox gate (store/outbox-gate.ts): a payment writes no webhook event while no
 * endpoint wants payment events, and exactly the causes committed after an endpoint was
 * registered get their event, also when the registration and a payment run at the same moment,
 * at READ COMMITTED and at SERIALIZABLE.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { PartyId } from "@peage/protocol";
import { WebhookKeyRing } from "../src/webhooks/secret-box.js";
import type { WebhookEventType } from "../src/store/self-service-migration.js";
import { Books, eur } from "./helpers/books.js";
import { openTestStore, testDatabaseUrl, type TestStore } from "./helpers/engines.js";

const ACME = "urn:peage:publisher:acme" as PartyId<"publisher">;
const AT = "2026-03-10T10:00:00.000Z";
const keys = WebhookKeyRing.generate();

const addEndpoint = (t: TestStore, id: string, events: readonly WebhookEventType[]) =>
  t.store.runExtension(
    "addEndpoint",
    { id, url: "https://hooks.example/peage", publisher: undefined, events, label: id, createdAt: AT },
    keys.seal(`whsec_${id}`, id),
  );

const eventsOf = async (t: TestStore, ref: string) =>
  (await t.raw.query<{ type: string }>("SELECT type FROM webhook_events WHERE ref = ?", [ref])).map((e) => e.type);

/**
 * Runs `sql` in a transaction of a second connection to the store's schema and leaves it open
 * while `during` runs, which commits it by calling `commit`.
 */
async function whileOpen(t: TestStore, sql: string, params: unknown[], during: (commit: () => Promise<void>) => Promise<void>) {
  const client = new pg.Client({ connectionString: testDatabaseUrl(), options: `-c search_path=${t.location}` });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(sql, params);
    await during(async () => void (await client.query("COMMIT")));
  } finally {
    await client.end();
  }
}

/** True if `promise` is still pending after a moment: what another transaction's lock holds back. */
async function waits(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol("pending");
  const settled = await Promise.race([promise.then(() => undefined), new Promise((r) => setTimeout(() => r(pending), 300))]);
  return settled === pending;
}

for (const isolation of ["read committed", "serializable"] as const) {
  describe(`PostgreSQL outbox gate (${isolation})`, () => {
    let work: string;
    let t: TestStore;
    let books: Books;
    before(async () => {
      work = mkdtempSync(join(tmpdir(), "peage-gate-test-"));
      t = await openTestStore("postgres", work, { isolation });
      books = new Books(t.store);
    });
    after(async () => {
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    it("writes no event while no endpoint wants payments, then one for each payment once one does", async () => {
      const user = await books.user(`gate-${isolation.replace(" ", "-")}`);
      await books.topUp(user, 100_000);
      const before = await books.pay(user, ACME, eur(100), AT);
      assert.deepEqual(await eventsOf(t, before.id), []);
      await addEndpoint(t, "whe_payouts", ["payout.scheduled"]);
      const payoutsOnly = await books.pay(user, ACME, eur(100), AT);
      assert.deepEqual(await eventsOf(t, payoutsOnly.id), []);
      await addEndpoint(t, "whe_all", ["payment.succeeded", "payment.refunded"]);
      const paid = await books.pay(user, ACME, eur(100), AT);
      assert.deepEqual(await eventsOf(t, paid.id), ["payment.succeeded"]);
      const refund = await books.refund(paid.id, AT);
      assert.equal(refund.kind, "refunded");
      assert.equal((await t.raw.query("SELECT 1 FROM webhook_events WHERE type = 'payment.refunded'")).length, 1);
      // A disabled endpoint is still owed its events (kept as given up).
      await t.raw.query("UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = 'test' WHERE id = 'whe_all'", [AT]);
      const whileDisabled = await books.pay(user, ACME, eur(100), AT);
      assert.deepEqual(await eventsOf(t, whileDisabled.id), ["payment.succeeded"]);
      assert.equal(await t.store.runExtension("removeEndpoint", "whe_all"), true);
      const afterRemoval = await books.pay(user, ACME, eur(100), AT);
      assert.deepEqual(await eventsOf(t, afterRemoval.id), []);
      assert.equal(await t.store.runExtension("removeEndpoint", "whe_payouts"), true);
    });

    it("a payment that commits after an endpoint's registration, even one that started before, has its event", async () => {
      const user = await books.user(`race-${isolation.replace(" ", "-")}`);
      await books.topUp(user, 100_000);
      await whileOpen(
        t,
        `INSERT INTO webhook_endpoints (id, url, secret, publisher, events, label, created_at)
         VALUES ('whe_race', 'https://hooks.example/peage', 'sealed', NULL, 'payment.succeeded', 'race', $1)`,
        [AT],
        async (commit) => {
          const paying = books.pay(user, ACME, eur(100), AT);
          assert.equal(await waits(paying), true, "the payment did not wait for the registration");
          await commit();
          const paid = await paying;
          assert.equal(paid.kind, "recorded");
          assert.deepEqual(await eventsOf(t, paid.id), ["payment.succeeded"]);
        },
      );
      assert.equal(await t.store.runExtension("removeEndpoint", "whe_race"), true);
    });

    it("a registration waits for the payments under way, which committed before it and are owed nothing", async () => {
      const user = await books.user(`first-${isolation.replace(" ", "-")}`);
      await books.topUp(user, 100_000);
      await whileOpen(
        t,
        `INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount,
           charged_currency, rate, nonce, offer_date, server_time, request_hash, acknowledgment)
         VALUES ('pay_first', $1, $2, 'h', 0, 'EUR', 0, 'EUR', '1', 'nonce-first', $3, $3, 'r', '{}')`,
        [user, ACME, AT],
        async (commit) => {
          const registering = addEndpoint(t, "whe_late", ["payment.succeeded"]);
          assert.equal(await waits(registering), true, "the registration did not wait for the payment");
          await commit();
          await registering;
        },
      );
      assert.deepEqual(await eventsOf(t, "pay_first"), []);
      const paid = await books.pay(user, ACME, eur(100), AT);
      assert.deepEqual(await eventsOf(t, paid.id), ["payment.succeeded"]);
      assert.equal(await t.store.runExtension("removeEndpoint", "whe_late"), true);
    });
  });
}
