/**
 * A publisher's self-service with its own API key, on both engines: the key reads its own
 * publisher's data and nothing else; the sales feed pages without a gap or a repeat, and a
 * payment committed late with an earlier key (seq and server time) than rows already read is
 * not skipped; earnings per period and currency; payouts and carry-overs.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { rateTable, type PartyId } from "@peage/protocol";
import { buildConfig, settle } from "../src/index.js";
import { Books, eur, usd } from "./helpers/books.js";
import { admin, ENGINES, http, startFixture, type Fixture } from "./helpers/fixture.js";

const ALICE = "urn:peage:publisher:alice-games" as PartyId<"publisher">;
const BOB = "urn:peage:publisher:bob-games" as PartyId<"publisher">;
const CAROL = "urn:peage:publisher:carol-games" as PartyId<"publisher">;

async function publisherKey(fx: Fixture, publisher: string): Promise<string> {
  const registered = await admin(fx, "PUT", `/v1/admin/publishers/${publisher}`, { name: "Games Ltd", country: "FR" });
  assert.ok(registered.status === 200 || registered.status === 201, JSON.stringify(registered.body));
  const key = await admin(fx, "POST", `/v1/admin/publishers/${publisher}/api-keys`, { label: "self-service" });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  assert.equal(key.body.publisher, publisher);
  assert.deepEqual(key.body.scopes, ["publisher:read"]);
  return key.body.secret as string;
}

const as = (secret: string) => ({ headers: { authorization: `Bearer ${secret}` } });

/** Every sale from `cursor` on, page by page; returns the payment ids and the last cursor. */
async function readAll(fx: Fixture, secret: string, cursor?: string, limit = 2): Promise<{ ids: string[]; cursor: string }> {
  const ids: string[] = [];
  for (;;) {
    const query = new URLSearchParams({ limit: String(limit), ...(cursor === undefined ? {} : { cursor }) });
    const page = await http(fx, "GET", `/v1/publisher/sales?${query}`, as(secret));
    assert.equal(page.status, 200, JSON.stringify(page.body));
    ids.push(...page.body.sales.map((sale: { paymentId: string }) => sale.paymentId));
    if (page.body.sales.length === 0) return { ids, cursor: page.body.nextCursor ?? cursor };
    cursor = page.body.nextCursor;
  }
}

/** A payment row written in an open transaction of its own, with a key that sorts before every row already read. */
async function insertLate(fx: Fixture, user: string, id: string): Promise<void> {
  const columns = `id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
    rate, nonce, offer_date, server_time, request_hash, acknowledgment`;
  const values = [id, user, ALICE, `hash-${id}`, 100, "EUR", 100, "EUR", "1.0000000000", `nonce-${id}`];
  const early = "2026-03-01T00:00:00.000Z";
  const ack = JSON.stringify({ type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${id}` });
  // SQLite has one writer: seq 0 is below every seq handed out, as a transaction still open would hold.
  const seq = fx.engine === "sqlite" ? ["seq, ", "0, "] : ["", ""];
  await fx.raw.query(`INSERT INTO payments (${seq[0]}${columns}) VALUES (${seq[1]}?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    ...values,
    early,
    early,
    `request-${id}`,
    ack,
  ]);
}

for (const engine of ENGINES) {
  describe(`publisher self-service (${engine})`, () => {
    let fx: Fixture;
    let books: Books;
    let alice: string;
    let bob: string;
    let user: PartyId<"user">;
    /** The late payment's user: its open transaction holds a lock on the user's row. */
    let lateUser: PartyId<"user">;
    before(async () => {
      fx = await startFixture({ engine });
      books = new Books(fx.store);
      alice = await publisherKey(fx, ALICE);
      bob = await publisherKey(fx, BOB);
      user = await books.user(`buyer-${engine}-${process.pid}`);
      await books.topUp(user, 1_000_000);
      lateUser = await books.user(`late-${engine}-${process.pid}`);
    });
    after(() => fx.close());

    it("answers a publisher key with its own data only, and refuses it everywhere else", async () => {
      const paid = await books.pay(user, BOB, eur(300), "2026-03-05T10:00:00.000Z");
      assert.equal(paid.kind, "recorded");
      const own = await http(fx, "GET", "/v1/publisher/sales", as(bob));
      assert.deepEqual(
        own.body.sales.map((s: { paymentId: string }) => s.paymentId),
        [paid.id],
      );
      assert.equal(own.body.publisher, BOB);
      const other = await http(fx, "GET", "/v1/publisher/sales", as(alice));
      assert.equal(other.body.sales.length, 0);
      for (const path of ["/v1/admin/payments", "/v1/admin/api-keys", `/v1/admin/publishers/${BOB}`]) {
        const refused = await http(fx, "GET", path, as(bob));
        assert.equal(refused.status, 403, path);
        assert.match(refused.body.detail, /own key/);
      }
      const operator = await http(fx, "GET", "/v1/publisher/sales", as(fx.adminKey));
      assert.equal(operator.status, 403);
      assert.equal((await http(fx, "GET", "/v1/publisher/sales")).status, 401);
      const forged = await http(fx, "GET", "/v1/publisher/sales", as(`peage_sk_${"A".repeat(43)}`));
      assert.equal(forged.status, 401);
      const badCursor = await http(fx, "GET", "/v1/publisher/sales?cursor=cDE", as(bob));
      assert.equal(badCursor.status, 400);
      const unregistered = await admin(fx, "POST", "/v1/admin/publishers/urn:peage:publisher:nobody/api-keys", { label: "x" });
      assert.equal(unregistered.status, 404);
    });

    it("pages every sale once, and does not skip one committed late with an earlier key", async () => {
      const first: string[] = [];
      for (let i = 0; i < 5; i++) first.push((await books.pay(user, ALICE, eur(100 + i), `2026-03-06T10:0${i}:00.000Z`)).id);
      // PostgreSQL: this transaction draws its seq now and commits after the next payment and read.
      if (engine === "postgres") {
        await fx.raw.query("BEGIN");
        await insertLate(fx, lateUser, `late-${engine}`);
      }
      const sixth = await books.pay(user, ALICE, eur(200), "2026-03-06T11:00:00.000Z");
      const read = await readAll(fx, alice);
      assert.deepEqual(read.ids, [...first, sixth.id]);
      if (engine === "postgres") {
        const [row] = await fx.raw.query<{ late: number; sixth: number }>(
          "SELECT (SELECT seq FROM payments WHERE id = ?) AS late, (SELECT seq FROM payments WHERE id = ?) AS sixth",
          [`late-${engine}`, sixth.id],
        );
        assert.ok(row!.late < row!.sixth, "the late payment holds the earlier seq");
        await fx.raw.query("COMMIT");
      } else await insertLate(fx, lateUser, `late-${engine}`);
      const rest = await readAll(fx, alice, read.cursor);
      assert.deepEqual(rest.ids, [`late-${engine}`]);
      assert.deepEqual((await readAll(fx, alice, rest.cursor)).ids, []);
      assert.deepEqual((await readAll(fx, alice, undefined, 500)).ids, [...first, sixth.id, `late-${engine}`]);
    });

    it("gives every poller every sale once, in one order, while payments and other pollers run at once", async () => {
      const carol = await publisherKey(fx, CAROL);
      const payer = await books.user(`concurrent-${engine}-${process.pid}`);
      await books.topUp(payer, 1_000_000);
      let paying = true;
      const poll = async () => {
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let idle = 0; paying || idle < 2;) {
          const query = new URLSearchParams({ limit: "3", ...(cursor === undefined ? {} : { cursor }) });
          const page = await http(fx, "GET", `/v1/publisher/sales?${query}`, as(carol));
          assert.equal(page.status, 200, JSON.stringify(page.body));
          seen.push(...page.body.sales.map((sale: { paymentId: string }) => sale.paymentId));
          cursor = page.body.nextCursor;
          idle = page.body.sales.length === 0 && !paying ? idle + 1 : 0;
        }
        return seen;
      };
      const pollers = Array.from({ length: 4 }, poll);
      const paid = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          books.pay(payer, CAROL, eur(10 + i), `2026-03-07T10:00:${String(i).padStart(2, "0")}.000Z`),
        ),
      );
      paying = false;
      const views = await Promise.all(pollers);
      assert.deepEqual(new Set(views[0]), new Set(paid.map((p) => p.id)));
      for (const view of views) assert.deepEqual(view, views[0], "every poller saw the same sales in the same order, once each");
    });

    it("reports earnings per period and currency, refunds deducted", async () => {
      const march = await books.pay(user, BOB, usd(1000), "2026-03-20T10:00:00.000Z");
      await books.pay(user, BOB, eur(700), "2026-04-02T10:00:00.000Z");
      assert.equal((await books.refund(march.id, "2026-04-03T10:00:00.000Z")).kind, "refunded");
      const all = await http(fx, "GET", "/v1/publisher/earnings", as(bob));
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.deepEqual(all.body.earnings, [
        { period: "2026-03", currency: "EUR", earned: "300", payments: 1, refunded: "0", refunds: 0, net: "300", paidOut: "0" },
        { period: "2026-03", currency: "USD", earned: "1000", payments: 1, refunded: "0", refunds: 0, net: "1000", paidOut: "0" },
        { period: "2026-04", currency: "EUR", earned: "700", payments: 1, refunded: "0", refunds: 0, net: "700", paidOut: "0" },
        {
          period: "2026-04",
          currency: "USD",
          earned: "0",
          payments: 0,
          refunded: "1000",
          refunds: 1,
          net: "-1000",
          paidOut: "0",
        },
      ]);
      const april = await http(fx, "GET", "/v1/publisher/earnings?period=2026-04", as(bob));
      assert.equal(april.body.earnings.length, 2);
      assert.equal((await http(fx, "GET", "/v1/publisher/earnings?period=2026-13", as(bob))).status, 400);
      const sales = await readAll(fx, bob, undefined, 500);
      assert.equal(sales.ids.length, 3);
      const refunded = await http(fx, "GET", "/v1/publisher/sales?limit=500", as(bob));
      assert.ok(refunded.body.sales.find((s: { paymentId: string }) => s.paymentId === march.id).refund.refundId);
    });

    it("lists the payouts and what each settlement carried over", async () => {
      const none = await http(fx, "GET", "/v1/publisher/payouts", as(bob));
      assert.equal(none.status, 200);
      assert.deepEqual(none.body, { publisher: BOB, payouts: [], settlements: [] });
      const config = buildConfig({ dataDir: "/nonexistent" }, { minimumPayouts: { EUR: "1.00", USD: "1.00" } });
      const out = join(fx.dir, "settlements");
      // March: Bob has no bank account yet, so what he earned is carried to April.
      await settle({ store: fx.store, period: "2026-03", outDir: out, config, now: new Date("2026-04-05T09:00:00Z") });
      const held = (await http(fx, "GET", "/v1/publisher/payouts", as(bob))).body;
      assert.deepEqual(held.payouts, []);
      assert.deepEqual(
        held.settlements.map((s: { period: string; holds: { currency: string; reason: string }[] }) => [s.period, s.holds]),
        [
          [
            "2026-03",
            [
              { currency: "EUR", amount: "300", reason: "no-bank-details" },
              { currency: "USD", amount: "1000", reason: "no-bank-details" },
            ],
          ],
        ],
      );
      const iban = { name: "Games Ltd", country: "FR", iban: "FR7630006000011234567890189", bic: "AGRIFRPP" };
      assert.equal((await admin(fx, "PUT", `/v1/admin/publishers/${BOB}`, iban)).status, 200);
      // April: the EUR carried in is paid with April's; the USD refund takes back what March earned.
      await settle({ store: fx.store, period: "2026-04", outDir: out, config, now: new Date("2026-05-05T09:00:00Z") });
      const paid = (await http(fx, "GET", "/v1/publisher/payouts", as(bob))).body;
      assert.deepEqual(
        paid.payouts.map((p: { period: string; amount: unknown }) => [p.period, p.amount]),
        [["2026-04", { amount: 1000, currency: "EUR" }]],
      );
      const april = paid.settlements.find((s: { period: string }) => s.period === "2026-04");
      const eurLine = april.lines.find((l: { currency: string }) => l.currency === "EUR");
      assert.deepEqual(
        [eurLine.carriedIn, eurLine.paid, eurLine.carriedOut],
        [
          { amount: 300, currency: "EUR" },
          { amount: 1000, currency: "EUR" },
          { amount: 0, currency: "EUR" },
        ],
      );
      const earned = (await http(fx, "GET", "/v1/publisher/earnings?period=2026-04", as(bob))).body.earnings;
      assert.equal(earned.find((e: { currency: string }) => e.currency === "EUR").net, "700");
      // Alice's key sees none of it.
      assert.deepEqual((await http(fx, "GET", "/v1/publisher/payouts", as(alice))).body.payouts, []);
    });

    it("shows a payout in the publisher's payout currency with each currency's conversion and rates", async () => {
      const account = { name: "Games Ltd", country: "FR", iban: "FR7630006000011234567890189", bic: "AGRIFRPP" };
      const put = await admin(fx, "PUT", `/v1/admin/publishers/${BOB}`, { ...account, payoutCurrency: "EUR" });
      assert.equal(put.body.payoutCurrency, "EUR");
      await books.pay(user, BOB, usd(2_000), "2026-05-05T10:00:00.000Z");
      await books.pay(user, BOB, eur(500), "2026-05-06T10:00:00.000Z");
      await fx.store.importRates([rateTable("EUR", "2026-05-29", { USD: "1.25" })], "test", "2026-05-29T16:00:00.000Z");
      const config = buildConfig({ dataDir: "/nonexistent" }, { minimumPayouts: { EUR: "1.00", USD: "1.00" } });
      await settle({
        store: fx.store,
        period: "2026-05",
        outDir: join(fx.dir, "settlements"),
        config,
        now: new Date("2026-06-05T09:00:00Z"),
      });
      const body = (await http(fx, "GET", "/v1/publisher/payouts", as(bob))).body;
      const may = body.payouts.find((p: { period: string }) => p.period === "2026-05");
      assert.equal(may.amount.currency, "EUR");
      assert.equal(may.conversion.date, "2026-05-29");
      assert.equal(may.conversion.rounding, "half-away-from-zero, once per line");
      const usdLine = may.conversion.lines.find((l: { from: { currency: string } }) => l.from.currency === "USD");
      assert.deepEqual([usdLine.fromRate, usdLine.toRate, usdLine.rate], ["1.25", "1", "0.8000000000"]);
      assert.equal(usdLine.to.amount, Math.round((usdLine.from.amount * 4) / 5));
      const total = may.conversion.lines.reduce((sum: number, l: { to: { amount: number } }) => sum + l.to.amount, 0);
      assert.equal(may.amount.amount, total);
      const lines = body.settlements.find((s: { period: string }) => s.period === "2026-05").lines;
      const usdReport = lines.find((l: { currency: string }) => l.currency === "USD");
      assert.deepEqual([usdReport.paidAs, usdReport.rateDate], [usdLine.to, "2026-05-29"]);
    });
  });
}
