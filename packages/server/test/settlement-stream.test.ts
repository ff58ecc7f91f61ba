/**
 * Settlement streamed on both engines: the plan made from the period's sums grouped in the
 * database is the plan made from its whole activity (the previous path, still Store.periodActivity);
 * the statements written page by page hold, per user, exactly the period's transactions the whole
 * activity lists, and are the same bytes whatever the page size; the keyset pages cover the period
 * once, in (user, position) order, and refuse an empty page size.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PartyId } from "@peage/protocol";
import { buildConfig, settle, type Store } from "../src/index.js";
import type { StatementEntry } from "../src/store/store.js";
import { plan } from "../src/settlement/settle.js";
import { Books, eur, jpy, usd } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";

const PUBLISHERS = ["urn:peage:publisher:nord", "urn:peage:publisher:sud", "urn:peage:publisher:unbanked"];
const config = buildConfig({ dataDir: "/nonexistent" }, { minimumPayouts: { EUR: "5.00", USD: "5.00", JPY: "500" } });

/** February and March: seven users of three modes and currencies, payments to three publishers, refunds, top-ups. */
async function seed(books: Books, engine: string): Promise<void> {
  const { store } = books;
  await store.putPublisher(
    { id: PUBLISHERS[0] as PartyId<"publisher">, name: "Nord", country: "NL", iban: "NL91ABNA0417164300", bic: "ABNANL2A" },
    "2026-01-01T00:00:00.000Z",
  );
  await store.putPublisher(
    {
      id: PUBLISHERS[1] as PartyId<"publisher">,
      name: "Sud",
      country: "FR",
      iban: "FR7630006000011234567890189",
      bic: undefined,
    },
    "2026-01-01T00:00:00.000Z",
  );
  const mandate = { id: "MANDATE-1", signedOn: "2026-01-15", name: "Eve Martin", iban: "DE89370400440532013000", bic: undefined };
  const users = [
    await books.user(`p1-${engine}`, { currency: "EUR" }),
    await books.user(`p2-${engine}`, { currency: "USD" }),
    await books.user(`p3-${engine}`, { currency: "JPY" }),
    await books.user(`q1-${engine}`, { mode: "postpaid", currency: "EUR", mandate }),
    await books.user(`q2-${engine}`, { mode: "postpaid", currency: "USD" }),
    await books.user(`q3-${engine}`, { mode: "postpaid", currency: "EUR" }),
    await books.user(`idle-${engine}`, { currency: "EUR" }),
  ];
  await books.topUp(users[0]!, 40_000, "2026-02-01T08:00:00.000Z");
  await books.topUp(users[1]!, 40_000, "2026-02-01T08:00:00.000Z");
  await books.topUp(users[2]!, 4_000_000, "2026-02-01T08:00:00.000Z");
  await books.topUp(users[0]!, 10_000, "2026-03-03T08:00:00.000Z");
  const offers = [eur(123), usd(250), jpy(3000), eur(999), usd(1), eur(1750)];
  let n = 0;
  for (const month of ["02", "03"]) {
    for (let i = 0; i < 36; i++, n++) {
      const at = `2026-${month}-${String(2 + (i % 25)).padStart(2, "0")}T10:${String(i).padStart(2, "0")}:00.000Z`;
      const user = users[n % 6]!;
      const outcome = await books.pay(user as PartyId<"user">, PUBLISHERS[n % 3]!, offers[n % offers.length]!, at);
      assert.equal(outcome.kind, "recorded", `payment ${n}`);
      if (n % 7 === 3) assert.equal((await books.refund(outcome.id, at.replace("T10", "T18"))).kind, "refunded");
    }
  }
}

/** Every statement entry of a period, read page by page. */
async function allEntries(store: Store, period: string, pageSize: number): Promise<StatementEntry[][]> {
  const pages: StatementEntry[][] = [];
  for (let after: { user: string; seq: number } | undefined; ;) {
    const page = await store.statementEntries(period, after, pageSize);
    pages.push([...page]);
    if (page.length < pageSize) return pages;
    const last = page.at(-1)!.transaction;
    after = { user: last.user!, seq: last.seq };
  }
}

const filesIn = (dir: string): Map<string, string> =>
  new Map(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => [join(e.parentPath, e.name).slice(dir.length + 1), readFileSync(join(e.parentPath, e.name), "utf8")]),
  );

for (const engine of ENGINES) {
  describe(`settlement streamed (${engine})`, () => {
    let work: string;
    let t: TestStore;
    before(async () => {
      work = mkdtempSync(join(tmpdir(), "peage-settle-stream-"));
      t = await openTestStore(engine, work);
      await seed(new Books(t.store, 250), engine);
    });
    after(async () => {
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    it("plans from the sums grouped in the database exactly what it plans from the whole activity, period after period", async () => {
      const publishers = await t.store.listPublishers();
      for (const [period, now] of [
        ["2026-02", "2026-03-02T09:00:00.000Z"],
        ["2026-03", "2026-04-02T09:00:00.000Z"],
      ] as const) {
        const opts = { config, now: new Date(now) };
        const fromSums = plan(await t.store.periodSums(period), publishers, opts);
        const fromActivity = plan(await t.store.periodActivity(period), publishers, opts);
        assert.deepEqual(fromSums, fromActivity, period);
        assert.ok(fromSums.payouts.length > 0 && fromSums.collections.length > 0, `${period} pays and collects`);
        const result = await settle({ store: t.store, period, outDir: join(work, `out-${period}`), config, now: new Date(now) });
        // Through JSON on both sides: records and plans differ only in which members are undefined.
        const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
        assert.deepEqual(json(result.settlement), json(fromSums), `${period} is recorded as planned`);
      }
      // March's plan counts February's payouts and collections as settled before it.
      assert.ok((await t.store.periodSums("2026-03")).settledBefore.length > 0);
    });

    it("pages cover the period's transactions once, by user then position, and an empty page size is refused", async () => {
      const activity = await t.store.periodActivity("2026-03");
      const expected = activity.transactions.filter((x) => x.user !== undefined && x.kind !== "collection");
      for (const size of [1, 4, 1000]) {
        const pages = await allEntries(t.store, "2026-03", size);
        assert.ok(pages.every((p) => p.length <= size));
        const entries = pages.flat();
        assert.deepEqual(
          entries.map((e) => e.transaction.seq).sort((a, b) => a - b),
          expected.map((x) => x.seq),
          `page size ${size}: each transaction once`,
        );
        // One run of entries per user, in position order within it.
        const runs = entries.map((e) => e.transaction.user!).filter((u, i, all) => i === 0 || all[i - 1] !== u);
        assert.equal(new Set(runs).size, runs.length, "a user's entries are consecutive");
        for (let i = 1; i < entries.length; i++) {
          const [a, b] = [entries[i - 1]!.transaction, entries[i]!.transaction];
          if (a.user === b.user) assert.ok(a.seq < b.seq);
        }
        for (const { transaction, payment } of entries) {
          const whole = activity.payments.get(transaction.paymentId ?? "");
          assert.deepEqual(
            payment,
            whole && {
              id: whole.id,
              publisher: whole.publisher,
              offerHash: whole.offerHash,
              price: whole.price,
              charged: whole.charged,
              rate: whole.rate,
            },
          );
          assert.deepEqual(
            transaction,
            expected.find((x) => x.seq === transaction.seq),
          );
        }
      }
      const last = expected
        .map((x) => x.user!)
        .sort()
        .at(-1)!;
      assert.deepEqual(await t.store.statementEntries("2026-03", { user: `${last}~`, seq: 0 }, 10), []);
      await assert.rejects(t.store.statementEntries("2026-03", undefined, 0), RangeError);
      await assert.rejects(t.store.statementEntries("2026-03", undefined, 1.5), RangeError);
    });

    it("writes the same files whatever the page size, each user's statement listing the period's transactions of that user", async () => {
      const now = new Date("2026-04-02T09:00:00.000Z");
      const outs = [1, 2, 5, undefined].map((pageSize) => join(work, `pages-${pageSize ?? "default"}`));
      for (const [i, pageSize] of [1, 2, 5, undefined].entries())
        await settle({ store: t.store, period: "2026-03", outDir: outs[i]!, config, now, ...(pageSize ? { pageSize } : {}) });
      const reference = filesIn(outs[3]!);
      for (const out of outs.slice(0, 3)) assert.deepEqual(filesIn(out), reference, out);
      const activity = await t.store.periodActivity("2026-03");
      const statements = [...reference.keys()].filter((f) => f.startsWith("statements") && f.endsWith(".csv"));
      const users = new Set(activity.transactions.filter((x) => x.user && x.kind !== "collection").map((x) => x.user));
      assert.equal(statements.length, users.size, "one statement per user with a transaction, the idle user none");
      for (const txn of activity.transactions) {
        if (txn.kind !== "payment" && txn.kind !== "refund") continue;
        const mentioning = statements.filter((f) => reference.get(f)!.includes(txn.paymentId!));
        assert.equal(mentioning.length, 1, `${txn.paymentId} is on one statement`);
      }
    });
  });
}
