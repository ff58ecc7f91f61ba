/**
 * The user's pages' data without a browser: an acknowledgment kept in the history is verified again
 * offline, and one altered on disk is reported as not verifying; the server being unreachable is
 * said, not hidden.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { createDemoPki } from "@peage/protocol";
import { UserPages, walletPaths } from "../src/index.js";
import { createTestWorld } from "../src/testing/index.js";
import { offerFor } from "./helpers.js";

test("the history re-verifies each kept acknowledgment; one altered on disk does not verify", async () => {
  const world = await createTestWorld({ pki: await createDemoPki(), service: false });
  try {
    await world.wallet.pay(offerFor(world.catalog, "launch"));
    await world.wallet.pay(offerFor(world.catalog, "play-time"));
    const pages = new UserPages(world.wallet);
    const before = await pages.history();
    assert.deepEqual(
      before.lines.map((l) => l.acknowledgment),
      ["verified", "verified"],
    );
    // The stand-in server has no /v1/me/payments: the page says the server was not asked.
    assert.match(before.serverError ?? "", /payment server/);
    assert.deepEqual(
      before.lines.map((l) => l.atServer),
      ["unknown", "unknown"],
    );

    // Someone edits the history file: the charged amount in the kept acknowledgment's claims no longer matches its signature.
    const db = new Database(walletPaths(`${world.dir}/wallet`).history);
    const row = db.prepare("SELECT id, acknowledgment_json FROM payments ORDER BY id LIMIT 1").get() as {
      id: number;
      acknowledgment_json: string;
    };
    const ack = JSON.parse(row.acknowledgment_json) as { acknowledgment: string };
    const [header, payload, signature] = ack.acknowledgment.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as { charged: { amount: number } };
    claims.charged.amount += 1;
    const forged = {
      ...ack,
      acknowledgment: `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`,
    };
    db.prepare("UPDATE payments SET acknowledgment_json = ? WHERE id = ?").run(JSON.stringify(forged), row.id);
    db.close();
    const after = await pages.history();
    assert.deepEqual(
      after.lines.map((l) => l.acknowledgment),
      ["verified", "invalid"],
    );
    assert.deepEqual(pages.acknowledgment(row.id), forged);
  } finally {
    await world.close();
  }
});
