/**
 * Migration 12 (the webhook lifecycle) over a database of the version before, holding webhook rows, on both engines: the endpoint's
 * secret in clear and a delivery owed stay; the delivery's retry window starts at its next
 * attempt; the server's start seals the secret (none left in clear), and the delivery goes out
 * signed with that same secret, which the receiver still holds.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { FixedClock } from "@peage/protocol";
import { PgStore, SqliteStore, type Store } from "../src/index.js";
import { migratePostgres, migrateSqlite, openSqlite } from "../src/store/driver.js";
import { LEDGER_SCHEMA } from "../src/store/ledger-schema.js";
import type { Migration } from "../src/store/migrations.js";
import { WEBHOOK_LIFECYCLE } from "../src/store/webhook-lifecycle-migration.js";
import { WebhookKeyRing } from "../src/webhooks/secret-box.js";
import { resealSecrets, startWebhookWorker } from "../src/webhooks/worker.js";
import { ENGINES, testDatabaseUrl } from "./helpers/engines.js";

const SECRET = "whsec_from-before-migration-10";
const EVENT = `evt_${"ab".repeat(16)}`;
const DUE = "2026-05-01T10:00:00.000Z";
/** The migrations before the webhook lifecycle's. */
const beforeLifecycle = (list: readonly Migration[]) => list.filter((m) => m.version < WEBHOOK_LIFECYCLE.version);

/** The rows a server before the lifecycle left: an endpoint, an event fanned out, its delivery owed. */
const ROWS: readonly [string, readonly unknown[]][] = [
  [
    "INSERT INTO webhook_endpoints (id, url, secret, publisher, events, label, created_at) VALUES (?, ?, ?, NULL, ?, ?, ?)",
    ["whe_old", "URL", SECRET, "payment.succeeded", "old", DUE],
  ],
  [
    "INSERT INTO webhook_events (id, type, ref, publisher, created_at, fanned_out, body) VALUES (?, ?, ?, NULL, ?, 1, ?)",
    [EVENT, "payment.succeeded", "pay_x", DUE, JSON.stringify({ id: EVENT, type: "payment.succeeded", data: {} })],
  ],
  [
    "INSERT INTO webhook_deliveries (event_id, endpoint_id, attempts, next_attempt_at) VALUES (?, ?, 2, ?)",
    [EVENT, "whe_old", DUE],
  ],
];

/** Makes a database of the version before the lifecycle with ROWS (the receiver's URL in place of "URL"); returns the store opened on it (the lifecycle migration applied). */
async function upgraded(
  engine: (typeof ENGINES)[number],
  dir: string,
  url: string,
): Promise<{ store: Store; drop(): Promise<void> }> {
  const rows = ROWS.map(([sql, params]) => [sql, params.map((p) => (p === "URL" ? url : p))] as const);
  if (engine === "sqlite") {
    const file = join(dir, "peage.db");
    const db = openSqlite(file);
    migrateSqlite(db, LEDGER_SCHEMA, beforeLifecycle(LEDGER_SCHEMA.sqlite));
    for (const [sql, params] of rows) db.prepare(sql).run(...params);
    db.close();
    return { store: SqliteStore.open(file), drop: async () => undefined };
  }
  const databaseUrl = testDatabaseUrl();
  const schema = `u_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path TO ${schema}`);
  await migratePostgres(client, LEDGER_SCHEMA, beforeLifecycle(LEDGER_SCHEMA.postgres));
  for (const [sql, params] of rows) {
    let n = 0;
    await client.query(
      sql.replace(/\?/g, () => `$${++n}`),
      [...params],
    );
  }
  return {
    store: await PgStore.open(databaseUrl, { schema }),
    async drop() {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}

for (const engine of ENGINES) {
  describe(`webhook lifecycle migration (${engine})`, () => {
    it("keeps the rows, starts the retry window at the next attempt, seals the clear secret and still signs with it", async () => {
      const dir = mkdtempSync(join(tmpdir(), "peage-webhook-upgrade-"));
      const got: { signature: string; signed: string }[] = [];
      const receiver = createServer((request, response) => {
        let body = "";
        request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
        request.on("end", () => {
          const h = request.headers;
          got.push({
            signature: String(h["peage-webhook-signature"]),
            signed: `${h["peage-webhook-timestamp"]}.${h["peage-webhook-id"]}.${body}`,
          });
          response.writeHead(200).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/`;
      const { store, drop } = await upgraded(engine, dir, url);
      try {
        const keys = WebhookKeyRing.generate("first");
        const dump = JSON.stringify(await store.runExtension("secretsToReseal", keys.currentId));
        assert.ok(dump.includes(SECRET), "still in clear after the migration alone");
        assert.equal(await resealSecrets(store, keys), 1);
        assert.deepEqual(await store.runExtension("secretsToReseal", keys.currentId), [], "no secret left in clear");
        const clock = new FixedClock(new Date(DUE));
        const worker = startWebhookWorker({ store, keys, clock, intervalMs: 3_600_000 });
        // Leased until the time it was due, so due again at once: its retry window starts then.
        const [due] = await store.runExtension("claimDue", DUE, DUE, 1);
        assert.deepEqual([due?.createdAt, due?.attempts], [DUE, 2]);
        assert.equal(await worker.runOnce(), 1);
        await worker.stop();
        assert.equal(got.length, 1);
        assert.equal(got[0]!.signature, `v1=${createHmac("sha256", SECRET).update(got[0]!.signed).digest("hex")}`);
        assert.deepEqual(await store.runExtension("deliveryCounts"), { pending: 0, delivered: 1, failed: 0 });
      } finally {
        receiver.close();
        await store.close();
        await drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
