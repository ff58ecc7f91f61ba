/**
 * `peage demo --card`: the offline variant end to end, as a user runs it — the card pays in the
 * virtual reader with no payment server running, then the server starts and the card's log is
 * recorded once, the publisher credited, the card cleared and reloaded.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { systemClock, TrustStore, verifyAcknowledgment, type Offer } from "@peage/protocol";
import { join } from "node:path";
import { assertSuccess, assertUsage, parseJson, peage, tempDir } from "./helpers/cli.js";

describe("peage demo --card", () => {
  it("pays offline with the card, then syncs: every check passes and the data is kept with --data", async () => {
    const work = tempDir();
    const run = assertSuccess(await peage(["demo", "--card", "--yes", "--json", "--data", "kept"], work));
    const report = parseJson(run) as {
      ok: boolean;
      steps: { offerId: string; outcome: string; paymentId?: string }[];
      sync: {
        recorded: number;
        applied: { kind: string }[];
        credited: { publisher: string; amount: { amount: number } }[];
        card: { logLength: number; balance: number };
      };
      again: { recorded: number };
      messages: { message: string; offerId?: string; sync?: string; value: unknown }[];
      checks: { check: string; ok: boolean }[];
    };
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.deepEqual(
      report.steps.map((s) => [s.offerId, s.outcome]),
      [
        ["launch", "paid"],
        ["level-2", "paid"],
        ["level-3", "paid"],
        ["level-4", "ERR_INSUFFICIENT_FUNDS"],
      ],
    );
    assert.ok(report.steps.slice(0, 3).every((s) => s.paymentId?.startsWith("card_")));
    assert.equal(report.sync.recorded, 3);
    assert.deepEqual(
      report.sync.applied.map((a) => a.kind),
      ["sync", "reload"],
    );
    assert.deepEqual(report.sync.credited, [
      { publisher: "urn:peage:publisher:acme-games", amount: { amount: 370, currency: "EUR" } },
    ]);
    assert.deepEqual([report.sync.card.logLength, report.sync.card.balance], [0, 430]);
    assert.equal(report.again.recorded, 0);
    // Every signed message is printed, in order, and checks out independently of the demo.
    assert.deepEqual(
      report.messages.map((m) => [m.message, m.offerId ?? m.sync]),
      [
        ["offer", "launch"],
        ["acknowledgment", "launch"],
        ["offer", "level-2"],
        ["acknowledgment", "level-2"],
        ["offer", "level-3"],
        ["acknowledgment", "level-3"],
        ["offer", "level-4"],
        ["sync-command", "first"],
        ["reload-command", "first"],
        ["card-receipt", "first"],
        ["card-receipt", "first"],
      ],
    );
    const trust = TrustStore.fromPem(readFileSync(join(work, "kept", "pki", "root.crt"), "utf8"));
    for (const [index, m] of report.messages.entries()) {
      if (m.message !== "acknowledgment") continue;
      const offer = report.messages[index - 1]!.value as Offer;
      const verified = await verifyAcknowledgment(m.value, offer, { trust, clock: systemClock });
      assert.ok(verified.ok && verified.value.card !== undefined, `${m.offerId}: ${JSON.stringify(verified)}`);
      const other = report.messages.find((n) => n.message === "offer" && n.offerId !== m.offerId)!.value as Offer;
      assert.equal(
        (await verifyAcknowledgment(m.value, other, { trust, clock: systemClock })).ok,
        false,
        "an acknowledgment proves only its own offer",
      );
    }
    for (const m of report.messages.filter((n) => n.message.endsWith("-command") || n.message === "card-receipt")) {
      assert.match(m.value as string, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, `${m.message} is a signed token`);
    }
    for (const name of ["demo-card.json", "pki/card-issuer.crt", "server/peage.db", "card/profile", "operator-key"])
      assert.ok(existsSync(join(work, "kept", name)), name);
  });

  it("needs a terminal or --yes", async () => {
    assertUsage(await peage(["demo", "--card"], tempDir()), /standard input is not one/);
  });
});
