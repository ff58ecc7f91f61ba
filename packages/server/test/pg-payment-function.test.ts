/**
 * A payment on PostgreSQL in one call of peage_record_payments (postgres-payments.ts) must decide
 * and write exactly what the statements of operations/payments.ts decide and write (the rules
 * SQLite runs): every outcome, every row, on the same cases. And where the call records a batch of
 * payments in one commit, across processes: one prepaid balance raced by two stores is never
 * overdrawn, one nonce sent to both is one payment, and a payment the database refuses inside a
 * shared commit fails alone while the others of its batch are recorded.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convert, price, type CurrencyCode, type MinorUnits, type PartyId, type Price } from "@peage/protocol";
import type { PaymentRecord, Store } from "../src/index.js";
import { feeFor } from "../src/ledger/ledger.js";
import { openTestStore, type RawDb, type TestStore } from "./helpers/engines.js";
import { TABLE } from "./helpers/books.js";

const MARCH = "2026-03-10T10:00:00.000Z";

/** Payments with ids and nonces fixed by the case, so that two runs write the same rows. */
function payment(
  id: string,
  user: string,
  offered: Price,
  opts: { home?: CurrencyCode; nonce?: string; at?: string; fee?: number; float?: boolean; hash?: string } = {},
): PaymentRecord {
  const home = opts.home ?? ("EUR" as CurrencyCode);
  const charged = convert(offered, home, TABLE)!;
  return {
    id,
    user: `urn:peage:user:${user}` as PartyId<"user">,
    publisher: "urn:peage:publisher:p" as PartyId<"publisher">,
    offerHash: `hash-${id}`,
    price: offered,
    charged: charged.price,
    rate: charged.rate,
    rateDate: offered.currency === home ? undefined : TABLE.date,
    nonce: opts.nonce ?? `nonce-${id}`,
    offerDate: opts.at ?? MARCH,
    serverTime: opts.at ?? MARCH,
    requestHash: opts.hash ?? `request-${id}`,
    acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${id}` },
    fee: (opts.fee ?? 0) as MinorUnits,
    ...(opts.float ? { fromCardFloat: true } : {}),
  };
}

async function createUser(
  store: Store,
  name: string,
  opts: { mode?: "prepaid" | "postpaid"; currency?: string; limit?: number; deposit?: number } = {},
) {
  const mode = opts.mode ?? "prepaid";
  await store.createUser({
    id: `urn:peage:user:${name}` as PartyId<"user">,
    publicKeyJwk: "{}",
    alg: "ES256",
    kid: `kid-${name}`,
    mode,
    homeCurrency: (opts.currency ?? "EUR") as CurrencyCode,
    monthlyLimit: mode === "postpaid" ? ((opts.limit ?? 0) as MinorUnits) : undefined,
    createdAt: "2026-01-01T00:00:00.000Z",
    ...(opts.deposit ? { depositRequired: opts.deposit as MinorUnits } : {}),
  });
}

async function topUp(store: Store, name: string, amount: number, kind: "funds" | "deposit" = "funds", currency = "EUR") {
  const id = `top-${name}-${kind}-${amount}`;
  const outcome = await store.topUp({
    id,
    user: `urn:peage:user:${name}` as PartyId<"user">,
    kind,
    amount: amount as MinorUnits,
    currency: currency as CurrencyCode,
    idempotencyKey: id,
    createdAt: "2026-03-01T08:00:00.000Z",
  });
  assert.equal(outcome.kind, "credited");
}

/** Every outcome a payment can have, in order; returns what the store answered to each. */
async function everyCase(store: Store): Promise<unknown[]> {
  await createUser(store, "alice");
  await createUser(store, "bob", { mode: "postpaid", limit: 500, deposit: 200 });
  await createUser(store, "carol", { currency: "USD" });
  await createUser(store, "dave");
  await createUser(store, "erin");
  await topUp(store, "alice", 1000);
  await topUp(store, "dave", 1000);
  await topUp(store, "erin", 500);
  await store.setStatus("urn:peage:user:dave" as PartyId<"user">, "suspended");
  await store.loadCard({
    id: "load-erin",
    user: "urn:peage:user:erin" as PartyId<"user">,
    amount: 300 as MinorUnits,
    currency: "EUR" as CurrencyCode,
    ref: "card-1",
    createdAt: "2026-03-01T09:00:00.000Z",
  });
  const eur = (amount: number) => price(amount, "EUR");
  const outcomes: unknown[] = [];
  const pay = async (p: PaymentRecord) => outcomes.push(await store.recordPayment(p));
  await pay(payment("a1", "alice", eur(100), { fee: feeFor(eur(100), 250) }));
  await pay(payment("a1", "alice", eur(100), { fee: feeFor(eur(100), 250) })); // the same request again
  await pay(payment("a2", "alice", eur(100), { nonce: "nonce-a1" })); // another request, the same nonce
  await pay(payment("x1", "nobody", eur(100)));
  await pay(payment("d1", "dave", eur(100)));
  await pay(payment("a3", "alice", price(100, "USD"), { home: "USD" as CurrencyCode })); // charged in another currency
  await pay(payment("a4", "alice", eur(950)));
  await pay(payment("a6", "alice", eur(850))); // exactly the balance
  await pay(payment("c1", "carol", eur(100), { home: "USD" as CurrencyCode }));
  await topUp(store, "carol", 1000, "funds", "USD");
  await pay(payment("c2", "carol", eur(100), { home: "USD" as CurrencyCode, fee: 3 }));
  await pay(payment("b1", "bob", eur(300)));
  await topUp(store, "bob", 200, "deposit");
  await pay(payment("b2", "bob", eur(300)));
  await pay(payment("b3", "bob", eur(300)));
  outcomes.push((await store.refundPayment({ id: "r1", paymentId: "b2", reason: "test", createdAt: MARCH })).kind);
  await pay(payment("b4", "bob", eur(300)));
  await pay(payment("b5", "bob", eur(200))); // exactly up to the limit
  await pay(payment("e1", "erin", eur(200), { float: true }));
  await pay(payment("e2", "erin", eur(200), { float: true }));
  await pay(payment("e3", "erin", eur(200)));
  await store.closePeriod("2026-03", "2026-04-02T00:00:00.000Z");
  await pay(payment("a5", "alice", eur(50), { at: "2026-03-31T23:00:00.000Z" })); // March closed: posted to April
  await pay(payment("a7", "alice", eur(1), { at: "2026-03-31T23:00:00.000Z" })); // the balance is 0
  return outcomes;
}

/** The rows a payment writes or changes, without the positions a sequence hands out. */
async function rowsOf(raw: RawDb): Promise<unknown> {
  return {
    payments: await raw.query("SELECT * FROM payments ORDER BY id"),
    transactions: await raw.query(
      "SELECT id, kind, period, created_at, user_id, publisher, payment_id, ref FROM ledger_transactions ORDER BY id",
    ),
    postings: await raw.query(
      `SELECT t.id, p.account, p.currency, p.amount FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq
       ORDER BY t.id, p.seq`,
    ),
    users: await raw.query("SELECT id, balance_minor, deposit_minor FROM users ORDER BY id"),
    events: await raw.query("SELECT type, ref, publisher, created_at FROM webhook_events ORDER BY ref, type"),
  };
}

const withoutSeq = (rows: unknown) =>
  JSON.parse(JSON.stringify(rows, (key, value: unknown) => (key === "seq" ? undefined : value))) as unknown;

describe("PostgreSQL: a payment in one call of peage_record_payments", () => {
  let work: string;
  const opened: TestStore[] = [];
  const extra: Store[] = [];
  const open = async (opts: Parameters<typeof openTestStore>[2]) => {
    const t = await openTestStore("postgres", work, opts);
    opened.push(t);
    return t;
  };
  before(() => {
    work = mkdtempSync(join(tmpdir(), "peage-pg-function-test-"));
  });
  after(async () => {
    for (const store of extra) await store.close();
    for (const t of opened) await t.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("answers and writes exactly what the statements do, for every outcome", async () => {
    const viaFunction = await open({});
    const viaStatements = await open({ paymentCall: "statements" });
    // The statements must not need the function: without it, they still record every case.
    await viaStatements.raw.query("DROP FUNCTION peage_record_payments(integer, jsonb)");
    // An endpoint on each, so that the outbox's events are written and compared too.
    for (const t of [viaFunction, viaStatements])
      await t.raw.query(
        `INSERT INTO webhook_endpoints (id, url, secret, publisher, events, label, created_at)
         VALUES ('whe_all', 'https://hooks.example/', 'sealed', NULL, 'payment.succeeded payment.refunded', 'all', ?)`,
        [MARCH],
      );
    const outcomes = await everyCase(viaFunction.store);
    assert.deepEqual(outcomes, await everyCase(viaStatements.store));
    assert.deepEqual(
      outcomes.map((o) => (typeof o === "string" ? o : (o as { kind: string }).kind)),
      [
        ...["recorded", "duplicate", "nonce-reused", "unknown-user", "suspended", "currency-mismatch", "insufficient-funds"],
        ...["recorded", "insufficient-funds", "recorded", "deposit-required", "recorded", "limit-exceeded", "refunded"],
        ...["recorded", "recorded"],
        ...["recorded", "insufficient-funds", "recorded", "recorded", "insufficient-funds"],
      ],
    );
    assert.deepEqual(withoutSeq(await rowsOf(viaFunction.raw)), withoutSeq(await rowsOf(viaStatements.raw)));
    assert.equal((await viaFunction.raw.query("SELECT 1 FROM webhook_events")).length, 10);
    const [april] = await viaFunction.raw.query<{ period: string }>("SELECT period FROM ledger_transactions WHERE id = 'txn_a5'");
    assert.equal(april?.period, "2026-04");
    const audit = await viaFunction.store.auditLedger();
    assert.deepEqual([audit.unbalanced, audit.balanceMismatches], [[], []]);
  });

  it("payments that arrive together share one commit; one the database refuses fails alone", async () => {
    const t = await open({ batchesInFlight: 1 });
    for (let u = 0; u < 4; u++) {
      await createUser(t.store, `g${u}`);
      await topUp(t.store, `g${u}`, 1000);
    }
    const batch = (prefix: string) =>
      Promise.allSettled(
        Array.from({ length: 9 }, (_, i) => t.store.recordPayment(payment(`${prefix}${i}`, `g${i % 4}`, price(10, "EUR")))),
      );
    // The first starts alone; the eight that arrive while it is written go together.
    const together = await batch("s");
    assert.ok(together.every((r) => r.status === "fulfilled" && r.value.kind === "recorded"));
    const xmins = await t.raw.query<{ xmin: string }>(
      "SELECT DISTINCT xmin::text FROM payments WHERE id LIKE 's%' AND id <> 's0'",
    );
    assert.equal(xmins.length, 1, "the eight later payments committed in one transaction");

    // The database refuses one payment of the next batch (a trigger stands for any such failure).
    await t.raw.query(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = 'f5' THEN RAISE EXCEPTION 'poisoned payment' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$`);
    await t.raw.query("CREATE TRIGGER refuse_poison BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION refuse_poison()");
    const mixed = await batch("f");
    mixed.forEach((result, i) => {
      if (i === 5) assert.ok(result.status === "rejected" && /poisoned payment/.test(String(result.reason)));
      else assert.ok(result.status === "fulfilled" && result.value.kind === "recorded", `f${i}`);
    });
    const recorded = await t.raw.query<{ id: string }>("SELECT id FROM payments WHERE id LIKE 'f%' ORDER BY id");
    assert.deepEqual(
      recorded.map((r) => r.id),
      ["f0", "f1", "f2", "f3", "f4", "f6", "f7", "f8"],
    );
    const users = await t.raw.query<{ id: string; balance_minor: number }>("SELECT id, balance_minor FROM users ORDER BY id");
    // g0 paid s0, s4, s8, f0, f4, f8; g1 s1, s5, f1 (f5 refused); g2 and g3 two of each batch.
    assert.deepEqual(
      users.map((u) => u.balance_minor),
      [940, 970, 960, 960],
    );
    const audit = await t.store.auditLedger();
    assert.deepEqual([audit.unbalanced, audit.balanceMismatches], [[], []]);
  });

  it("two stores (two processes) racing one prepaid balance in batches: exactly what it covers, one payment per nonce", async () => {
    const t = await open({ batchesInFlight: 1 });
    const second = await t.reopen();
    extra.push(second);
    await createUser(t.store, "racer");
    await topUp(t.store, "racer", 1000);
    const stores = [t.store, second];
    // 30 payments of 100 against 1,000, and each of the first 10 nonces sent to both stores at once.
    const sends = Array.from({ length: 30 }, (_, i) => payment(`r${i}`, "racer", price(100, "EUR")));
    const results = await Promise.all([
      ...sends.map((p, i) => stores[i % 2]!.recordPayment(p)),
      ...sends.slice(0, 10).map((p, i) => stores[(i + 1) % 2]!.recordPayment(p)),
    ]);
    const kinds = results.map((r) => r.kind);
    assert.equal(kinds.filter((k) => k === "recorded").length, 10);
    assert.equal(kinds.filter((k) => k === "insufficient-funds").length + kinds.filter((k) => k === "duplicate").length, 30);
    for (const r of results) {
      if (r.kind === "duplicate")
        assert.deepEqual(r.payment.acknowledgment, { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${r.payment.id}` });
    }
    const [user] = await t.raw.query<{ balance_minor: number }>(
      "SELECT balance_minor FROM users WHERE id = 'urn:peage:user:racer'",
    );
    assert.equal(user?.balance_minor, 0);
    const [count] = await t.raw.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM payments");
    assert.equal(count?.n, 10);
    const audit = await t.store.auditLedger();
    assert.deepEqual([audit.unbalanced, audit.balanceMismatches], [[], []]);
  });
});
