/**
 * The SQLite store as the server runs it: writes on a thread of their own, reads on the caller's
 * read-only connection. A write's answer means its commit is visible to the next read; payments
 * racing on one balance through the thread are exact; the errors callers tell apart come back as
 * the same classes; rates imported through the writer are not hidden by the reader's cache; a
 * payment that fails inside a group commit fails alone; the WAL is checkpointed beside the writer.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rateTable, type PartyId } from "@peage/protocol";
import { StoreStateError, type PaymentRecord, type Store } from "../src/index.js";
import { openSqliteOnThread } from "../src/store/sqlite-thread.js";
import { SqliteStore } from "../src/store/sqlite.js";
import { get, openSqlite, SqliteStatements } from "../src/store/driver.js";
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

  it("fails a payment that throws inside a group commit alone, and records the others of its batch", async () => {
    const books = new Books(store);
    const user = await books.user("batch");
    await books.topUp(user, 1000);
    const first = await books.pay(user, "urn:peage:publisher:p", eur(100), "2026-03-02T10:00:00.000Z");
    assert.equal(first.kind, "recorded");
    const record = (id: string, nonce: string): PaymentRecord => ({
      id,
      user,
      publisher: "urn:peage:publisher:p" as PartyId<"publisher">,
      offerHash: `hash-${nonce}`,
      price: eur(100),
      charged: eur(100),
      rate: "1.0000000000",
      rateDate: undefined,
      nonce,
      offerDate: "2026-03-02T10:00:00.000Z",
      serverTime: "2026-03-02T10:00:00.000Z",
      requestHash: `request-${nonce}`,
      acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${nonce}` },
      fee: 0 as PaymentRecord["price"]["amount"],
    });
    // Sent in one turn, so recorded in one transaction; the third reuses a recorded payment's id.
    const results = await Promise.allSettled([
      store.recordPayment(record("pay_batch_a", "nonce-batch-a")),
      store.recordPayment(record("pay_batch_b", "nonce-batch-b")),
      store.recordPayment(record(first.id, "nonce-batch-c")),
      store.recordPayment(record("pay_batch_d", "nonce-batch-d")),
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === "fulfilled" ? r.value.kind : "rejected")),
      ["recorded", "recorded", "rejected", "recorded"],
    );
    assert.equal((await store.getUser(user))?.balance, 1000 - 4 * 100);
    assert.equal(await store.findPaymentByNonce(user, "nonce-batch-c"), undefined);
    const audit = await store.auditLedger();
    assert.deepEqual([audit.unbalanced, audit.balanceMismatches], [[], []]);
  });

  it("answers a recorded payment with the record sent and its fee, a retry with the payment stored", async () => {
    const books = new Books(store);
    const user = await books.user("answers");
    await books.topUp(user, 1000);
    const sent = (nonce: string, fee?: number): PaymentRecord => ({
      id: `pay_answer_${nonce}`,
      user,
      publisher: "urn:peage:publisher:p" as PartyId<"publisher">,
      offerHash: `hash-${nonce}`,
      price: eur(100),
      charged: eur(100),
      rate: "1.0000000000",
      rateDate: undefined,
      nonce,
      offerDate: "2026-03-02T10:00:00.000Z",
      serverTime: "2026-03-02T10:00:00.000Z",
      requestHash: `request-${nonce}`,
      acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${nonce}` },
      ...(fee === undefined ? {} : { fee: fee as PaymentRecord["price"]["amount"] }),
    });
    // Only the fee comes back from the writer for these: the outcome is rebuilt from what was sent.
    assert.deepEqual(await store.recordPayment(sent("answer-a")), { kind: "recorded", payment: { ...sent("answer-a"), fee: 0 } });
    assert.deepEqual(await store.recordPayment(sent("answer-b", 7)), { kind: "recorded", payment: sent("answer-b", 7) });
    assert.deepEqual(await store.getPayment("pay_answer_answer-b"), sent("answer-b", 7));
    // A retry is answered with the payment as stored, whole: here its fee, 7, not the retry's.
    assert.deepEqual(await store.recordPayment({ ...sent("answer-b", 7), fee: 1 as PaymentRecord["price"]["amount"] }), {
      kind: "duplicate",
      payment: sent("answer-b", 7),
    });
    assert.deepEqual(await store.recordPayment({ ...sent("answer-b"), requestHash: "another request" }), {
      kind: "nonce-reused",
    });
    assert.equal((await store.getUser(user))?.balance, 800);
  });

  it("copies committed pages into the database file beside the writer, which never waits for it", async () => {
    const books = new Books(store);
    const user = await books.user("checkpointed");
    await books.topUp(user, 10_000);
    const paid = await books.pay(user, "urn:peage:publisher:p", eur(100), "2026-03-02T10:00:00.000Z");
    // The database file alone, without its WAL, holds the payment once a checkpoint copied it
    // there; the writer's own automatic checkpoint waits for 10,000 pages, far more than written here.
    const copy = join(dir, "file-alone.db");
    const inFileAlone = async () => {
      rmSync(copy, { force: true });
      copyFileSync(join(dir, "peage.db"), copy);
      const alone = SqliteStore.open(copy, { readonly: true });
      // Before the first checkpoint the file alone has not even the tables.
      return alone
        .getPayment(paid.id)
        .catch(() => undefined)
        .finally(() => alone.close());
    };
    const deadline = Date.now() + 20_000;
    while (!(await inFileAlone()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await inFileAlone())?.id, paid.id);
  });

  it("runs a read of one query without a transaction, and refuses one that yields a second", () => {
    const statements = new SqliteStatements(openSqlite(":memory:"), { safeIntegers: false });
    assert.deepEqual(statements.driveOne(get("SELECT 1 AS one")), { one: 1 });
    function* twoReads() {
      yield* get("SELECT 1");
      return yield* get("SELECT 2");
    }
    assert.throws(() => statements.driveOne(twoReads()), /yielded a second step/);
  });
});
