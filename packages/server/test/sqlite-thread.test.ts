/**
 * The SQLite store as the server runs it: writes on a thread of their own, reads on the caller's
 * read-only connection. A write's answer means its commit is visible to the next read; payments
 * racing on one balance through the thread are exact; the errors callers tell apart come back as
 * the same classes; rates imported through the writer are not hidden by the reader's cache.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rateTable } from "@peage/protocol";
import { StoreStateError, type Store } from "../src/index.js";
import { openSqliteOnThread } from "../src/store/sqlite-thread.js";
import { Books, eur } from "./helpers/books.js";

describe("SQLite store on a writer thread", () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "peage-thread-test-"));
    store = await openSqliteOnThread(join(dir, "peage.db"));
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads see each write once it is answered, and a balance covers exactly the payments it can", async () => {
    const books = new Books(store);
    const user = await books.user("thread");
    assert.equal((await store.getUser(user))?.balance, 0);
    await books.topUp(user, 1000);
    assert.equal((await store.getUser(user))?.balance, 1000);
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, () => books.pay(user, "urn:peage:publisher:p", eur(100), "2026-03-02T10:00:00.000Z")),
    );
    assert.equal(outcomes.filter((o) => o.kind === "recorded").length, 10);
    assert.ok(outcomes.filter((o) => o.kind !== "recorded").every((o) => o.kind === "insufficient-funds"));
    assert.equal((await store.getUser(user))?.balance, 0);
    const recorded = outcomes.find((o) => o.kind === "recorded")!;
    assert.equal((await store.getPayment(recorded.id))?.id, recorded.id);
    const audit = await store.auditLedger();
    assert.deepEqual([audit.unbalanced, audit.balanceMismatches], [[], []]);
  });

  it("answers a refused write with the store's own error class", async () => {
    await assert.rejects(
      store.closePeriod("2999-01", "2026-03-02T10:00:00.000Z"),
      (e: unknown) => e instanceof StoreStateError && e.code === "ERR_PERIOD_NOT_OVER",
    );
  });

  it("shows rates imported through the writer at once", async () => {
    await store.importRates([rateTable("EUR", "2026-03-02", { USD: "1.0800" })], "test", "2026-03-02T16:00:00.000Z");
    assert.equal((await store.ratesOn("2026-03-03"))?.rates["USD"], "1.0800");
    await store.importRates([rateTable("EUR", "2026-03-02", { USD: "1.0900" })], "test", "2026-03-02T17:00:00.000Z");
    assert.equal((await store.ratesOn("2026-03-03"))?.rates["USD"], "1.0900");
  });
});
