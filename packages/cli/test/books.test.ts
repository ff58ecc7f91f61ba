/**
 * `peage ledger verify`, `peage fx import` and `peage settle` on a payment server's books: on a
 * server data directory and on a directory left by `peage demo --data DIR`, on SQLite and on
 * PostgreSQL (DATABASE_URL). A corrupted row makes verify exit 1; a settlement run twice writes
 * the same files and pays once.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { convert, price, rateTable, type CurrencyCode, type MinorUnits, type PartyId } from "@peage/protocol";
import { PgStore, SqliteStore, type Store } from "@peage/server";
import { assertError, assertSuccess, assertUsage, peage, tempDir } from "./helpers/cli.js";

const RATES = rateTable("EUR", "2025-01-02", { USD: "1.0400" });

/** Two users and a publisher with a few payments in January 2025 (a month every clock running this has passed). */
async function fill(store: Store): Promise<void> {
  await store.putPublisher(
    {
      id: "urn:peage:publisher:nord" as PartyId<"publisher">,
      name: "Studio Nord",
      country: "NL",
      iban: "NL91ABNA0417164300",
      bic: "ABNANL2A",
    },
    "2025-01-01T00:00:00.000Z",
  );
  for (const [name, mode, currency] of [
    ["ana", "prepaid", "EUR"],
    ["ben", "postpaid", "USD"],
  ] as const) {
    const id = `urn:peage:user:${name}` as PartyId<"user">;
    await store.createUser({
      id,
      publicKeyJwk: "{}",
      alg: "ES256",
      kid: `kid-${name}`,
      mode,
      homeCurrency: currency as CurrencyCode,
      monthlyLimit: mode === "postpaid" ? (1_000_000 as MinorUnits) : undefined,
      createdAt: "2025-01-01T00:00:00.000Z",
    });
    if (mode === "prepaid")
      await store.topUp({
        id: `top-${name}`,
        user: id,
        amount: 50_000 as MinorUnits,
        currency: currency as CurrencyCode,
        idempotencyKey: `key-${name}`,
        createdAt: "2025-01-02T00:00:00.000Z",
      });
    for (let i = 0; i < 4; i++) {
      const offered = price(1500 + i, "EUR");
      const charged = convert(offered, currency as CurrencyCode, RATES)!;
      const outcome = await store.recordPayment({
        id: `pay-${name}-${i}`,
        user: id,
        publisher: "urn:peage:publisher:nord" as PartyId<"publisher">,
        offerHash: `hash-${i}`,
        price: offered,
        charged: charged.price,
        rate: charged.rate,
        rateDate: currency === "EUR" ? undefined : RATES.date,
        nonce: `nonce-${name}-${i}`,
        offerDate: `2025-01-1${i}T00:00:00.000Z`,
        serverTime: `2025-01-1${i}T00:00:00.000Z`,
        requestHash: `request-${name}-${i}`,
        acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${name}-${i}` },
      });
      assert.equal(outcome.kind, "recorded");
    }
  }
}

/** Every row of every table, in order: what "nothing changed" means for a database. */
function dump(path: string): Record<string, unknown[]> {
  const db = new Database(path, { readonly: true });
  try {
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
    ).map((t) => t.name);
    return Object.fromEntries(tables.map((name) => [name, db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all()]));
  } finally {
    db.close();
  }
}

const HISTORY = `<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube>
    <Cube time="2025-01-03"><Cube currency="USD" rate="1.0300"/><Cube currency="JPY" rate="163.50"/></Cube>
    <Cube time="2025-01-02"><Cube currency="USD" rate="1.0400"/><Cube currency="JPY" rate="164.00"/></Cube>
  </Cube>
</gesmes:Envelope>
`;

describe("peage ledger verify, fx import, settle (SQLite)", () => {
  let work: string;
  before(async () => {
    work = tempDir();
    // A directory as `peage demo --data demo` leaves it: demo.json, and the server's data in server/.
    mkdirSync(join(work, "demo", "server"), { recursive: true });
    writeFileSync(join(work, "demo", "demo.json"), "{}\n");
    const store = SqliteStore.open(join(work, "demo", "server", "peage.db"));
    await fill(store);
    await store.close();
    writeFileSync(join(work, "hist.xml"), HISTORY);
  });

  it("settle --dry-run shows the payouts and collections in major units, and changes nothing", async () => {
    const before = dump(join(work, "demo", "server", "peage.db"));
    const dry = assertSuccess(
      await peage(["settle", "--data", "demo", "--period", "2025-01", "--out", "dry-out", "--dry-run"], work),
    );
    assert.match(dry.stdout, /^DRY RUN: nothing was closed, recorded or written/);
    assert.match(dry.stdout, /payouts {6}1 to publishers, 120\.12 EUR/);
    assert.match(dry.stdout, /pay {8}urn:peage:publisher:nord 120\.12 EUR \(SEPA\)/);
    assert.match(dry.stdout, /collect {4}urn:peage:user:ben 62\.46 USD \(invoice\)/);
    assert.match(
      dry.stdout,
      /tie-out EUR {2}billed 60\.06 EUR = publishers 120\.12 EUR \+ fees 0\.00 EUR \+ exchange -60\.06 EUR/,
    );
    assert.match(dry.stdout, /files {8}8 would be written in dry-out/);
    assert.doesNotMatch(dry.stdout, /minor units/);
    assert.deepEqual(dump(join(work, "demo", "server", "peage.db")), before, "the database is unchanged, row for row");
    assert.equal(existsSync(join(work, "dry-out")), false, "no file written");
  });

  it("settles a month of a demo directory: statements, payout report, bank files; again, the same bytes and nothing paid twice", async () => {
    const first = assertSuccess(await peage(["settle", "--data", "demo", "--period", "2025-01", "--out", "out-1"], work));
    assert.match(first.stdout, /period 2025-01 of SQLite .*peage\.db: closed; settlement recorded now/);
    assert.match(first.stdout, /payouts {6}1 to publishers, 120\.12 EUR/);
    assert.match(first.stdout, /collections {2}1 from postpaid users, 62\.46 USD/);
    assert.match(first.stdout, /bank\/pain\.001-2025-01-sepa\.xml/);
    assert.match(first.stderr, /demonstration bank account/);
    const second = assertSuccess(
      await peage(["settle", "--data", "demo", "--period", "2025-01", "--out", "out-2", "--json"], work),
    );
    assert.equal(JSON.parse(second.stdout).recordedNow, false);
    const files = (dir: string) =>
      readdirSync(join(work, dir), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name));
    const one = files("out-1").sort();
    assert.equal(one.length, 8);
    for (const file of one) assert.deepEqual(readFileSync(file.replace("out-1", "out-2")), readFileSync(file), file);
    const db = new Database(join(work, "demo", "server", "peage.db"), { readonly: true });
    assert.equal((db.prepare("SELECT COUNT(*) AS n FROM payouts").get() as { n: number }).n, 1);
    db.close();

    assertUsage(
      await peage(["settle", "--data", "demo", "--period", "2025-13", "--out", "x"], work),
      /--period 2025-13: expected a month/,
    );
    assertUsage(await peage(["settle", "--data", "demo", "--out", "x"], work), /--period YYYY-MM is required/);
    assertError(await peage(["settle", "--data", "demo", "--period", "2999-01", "--out", "x"], work), "ERR_PERIOD_NOT_OVER");
    assertError(await peage(["settle", "--data", "nowhere", "--period", "2025-01", "--out", "x"], work), "ERR_NO_DATABASE");
  });

  it("settles for everybody else when one publisher's name cannot go into a bank file, and says which and why", async () => {
    mkdirSync(join(work, "hostile", "server"), { recursive: true });
    writeFileSync(join(work, "hostile", "demo.json"), "{}\n");
    const store = SqliteStore.open(join(work, "hostile", "server", "peage.db"));
    await fill(store);
    // A name stored before names were checked where they enter the API.
    await store.putPublisher(
      {
        id: "urn:peage:publisher:nord" as PartyId<"publisher">,
        name: "Studio @ Nord",
        country: "NL",
        iban: "NL91ABNA0417164300",
        bic: "ABNANL2A",
      },
      "2025-01-05T00:00:00.000Z",
    );
    await store.close();
    const run = assertSuccess(await peage(["settle", "--data", "hostile", "--period", "2025-01", "--out", "out-h"], work));
    assert.match(run.stdout, /payouts {6}0 to publishers/);
    assert.match(
      run.stdout,
      /carried {6}urn:peage:publisher:nord 120\.12 EUR: bank-details-refused \(creditor\.name: character "@"/,
    );
    assert.match(run.stdout, /collections {2}1 from postpaid users, 62\.46 USD/);
    assert.match(run.stdout, /statements\//);
  });

  it("pays a publisher in its payout currency to a US account, converted with the imported rates, and says at which rate", async () => {
    mkdirSync(join(work, "usd", "server"), { recursive: true });
    writeFileSync(join(work, "usd", "demo.json"), "{}\n");
    const store = SqliteStore.open(join(work, "usd", "server", "peage.db"));
    await fill(store);
    const { parseDomesticAccount } = await import("@peage/server");
    const account = parseDomesticAccount({
      country: "US",
      routingNumber: "021000021",
      accountNumber: "123456789",
      accountType: "checking",
    });
    assert.ok(account.ok);
    await store.putPublisher(
      {
        id: "urn:peage:publisher:nord" as PartyId<"publisher">,
        name: "Studio Nord",
        country: "US",
        iban: undefined,
        bic: undefined,
        domestic: account.account,
        payoutCurrency: "USD" as CurrencyCode,
      },
      "2025-01-05T00:00:00.000Z",
    );
    await store.close();
    assertSuccess(await peage(["fx", "import", "--data", "usd", "hist.xml"], work));
    const run = assertSuccess(await peage(["settle", "--data", "usd", "--period", "2025-01", "--out", "out-usd"], work));
    // 120.12 EUR at the latest imported day's 1.0300 USD per EUR: 123.7236 USD, rounded half away from zero.
    assert.match(
      run.stdout,
      /pay {8}urn:peage:publisher:nord 123\.72 USD\n {13}120\.12 EUR → 123\.72 USD at 1\.0300000000 \(rates of 2025-01-03\)/,
    );
    const xml = readFileSync(join(work, "out-usd", "bank", "pain.001-2025-01-other.xml"), "utf8");
    assert.match(xml, /<InstdAmt Ccy="USD">123\.72<\/InstdAmt>/);
    assert.match(xml, /<ClrSysId>\s*<Cd>USABA<\/Cd>\s*<\/ClrSysId>\s*<MmbId>021000021<\/MmbId>/);
    const summary = JSON.parse(readFileSync(join(work, "out-usd", "settlement-2025-01.json"), "utf8"));
    assert.equal(summary.payouts[0].conversion.lines[0].fromRate, "1");
    assert.equal(summary.payouts[0].conversion.lines[0].toRate, "1.0300");
  });

  it("closes the month in progress only with --close-now", async () => {
    const current = new Date().toISOString().slice(0, 7);
    const refused = assertError(
      await peage(["settle", "--data", "demo", "--period", current, "--out", "now-out"], work),
      "ERR_PERIOD_NOT_OVER",
    );
    assert.match(refused.stderr, new RegExp(`period ${current} has not ended .*pass --close-now to close it now`));
    const db = new Database(join(work, "demo", "server", "peage.db"), { readonly: true });
    assert.equal((db.prepare("SELECT COUNT(*) AS n FROM closed_periods WHERE period = ?").get(current) as { n: number }).n, 0);
    db.close();
    const closed = assertSuccess(
      await peage(["settle", "--data", "demo", "--period", current, "--out", "now-out", "--close-now"], work),
    );
    assert.match(closed.stdout, new RegExp(`period ${current} of SQLite .*: closed; settlement recorded now`));
  });

  it("imports ECB rates, daily or historical", async () => {
    const imported = assertSuccess(await peage(["fx", "import", "--data", "demo", "hist.xml"], work));
    assert.match(
      imported.stdout,
      /imported 2 day\(s\) of rates, 2025-01-02 to 2025-01-03, into SQLite .*: 2 new, 0 replaced, 0 unchanged/,
    );
    const again = JSON.parse(assertSuccess(await peage(["fx", "import", "--data", "demo", "hist.xml", "--json"], work)).stdout);
    assert.deepEqual(again, { days: 2, first: "2025-01-02", last: "2025-01-03", inserted: 0, replaced: 0, unchanged: 2 });
    writeFileSync(join(work, "bad.xml"), HISTORY.replace('rate="1.0300"', 'rate="-1"'));
    assertError(await peage(["fx", "import", "--data", "demo", "bad.xml"], work), "ERR_RATES_VALUE");
    assertUsage(await peage(["fx", "import", "--data", "demo", "missing.xml"], work), /missing\.xml: ENOENT/);
  });

  it("verifies the ledger, and exits 1 naming the breach once a row is corrupted", async () => {
    const sound = assertSuccess(await peage(["ledger", "verify", "--data", "demo"], work));
    assert.match(sound.stdout, /ok {5}BALANCED/);
    assert.doesNotMatch(sound.stdout, /BREACH/);
    const db = new Database(join(work, "demo", "server", "peage.db"));
    db.prepare("UPDATE users SET balance_minor = balance_minor + 1 WHERE id = 'urn:peage:user:ana'").run();
    db.prepare("INSERT INTO postings (txn_seq, account, currency, amount) VALUES (1, 'server/fees', 'EUR', 5)").run();
    db.close();
    const broken = assertError(await peage(["ledger", "verify", "--data", "demo"], work), "ERR_LEDGER_BREACH");
    assert.match(broken.stdout, /BREACH BALANCED/);
    assert.match(broken.stdout, /BREACH BALANCES_ARE_SUMS/);
    assert.match(broken.stdout, /funds\/urn:peage:user:ana: stored 43995, postings say 43994/);
  });
});

describe("peage ledger verify, settle (PostgreSQL)", () => {
  it("works on books kept on PostgreSQL, named by DATABASE_URL", async () => {
    const base = process.env["PEAGE_TEST_DATABASE_URL"];
    if (!base) {
      // `npm test` and CI start a cluster (scripts/pg-start.sh) and name it; without one this fails, never skips.
      assert.fail("PEAGE_TEST_DATABASE_URL is not set: start PostgreSQL with scripts/pg-start.sh (npm test does)");
    }
    const work = tempDir();
    mkdirSync(join(work, "data"));
    const schema = `cli_${process.pid}_${Date.now().toString(36)}`;
    const store = await PgStore.open(base, { schema });
    await fill(store);
    await store.close();
    const url = `${base}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const settled = assertSuccess(
      await peage(["settle", "--data", "data", "--database-url", url, "--period", "2025-01", "--out", "out"], work),
    );
    assert.match(settled.stdout, /of PostgreSQL 127\.0\.0\.1:\d+\/peage: closed; settlement recorded now/);
    assert.ok(!settled.stdout.includes("options"), "the URL's parameters are not shown");
    assert.match(
      assertSuccess(await peage(["ledger", "verify", "--data", "data", "--database-url", url], work)).stdout,
      /ok {5}SETTLEMENTS_POSTED/,
    );
    const psql = join(process.env["PEAGE_PG_BIN"] ?? "/usr/lib/postgresql/15/bin", "psql");
    execFileSync(psql, [
      url,
      "-q",
      "-c",
      "INSERT INTO postings (txn_seq, account, currency, amount) SELECT MIN(seq), 'server/fx', 'EUR', 3 FROM ledger_transactions",
    ]);
    assert.match(
      assertError(await peage(["ledger", "verify", "--data", "data", "--database-url", url], work), "ERR_LEDGER_BREACH").stdout,
      /BREACH BALANCED/,
    );
    execFileSync(psql, [base, "-q", "-c", `DROP SCHEMA ${schema} CASCADE`]);
  });
});
