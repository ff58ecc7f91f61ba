/**
 * Settlement on both engines: a period closed and settled from its ledger into statements, payout
 * reports and ISO 20022 bank files whose sums tie out with the ledger to the minor unit; minimum
 * payouts and carry-over; payments after the close billed in the next period; a second run and a
 * run after a crash at any step paying nothing twice and writing the same bytes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseDecimal, type CurrencyCode, type PartyId } from "@peage/protocol";
import { buildConfig, settle, SettlementError, type SettleOptions, type Store } from "../src/index.js";
import { ISO20022_SCHEMA_FILES, validateXml } from "../src/bank/index.js";
import { OFFICIAL_SCHEMA_DIR, schemas } from "./bank-fixtures.js";
import { Books, eur, jpy, usd } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";

const NORD = "urn:peage:publisher:nord";
const SMALL = "urn:peage:publisher:small";
const GHOST = "urn:peage:publisher:ghost";
const LONDON = "urn:peage:publisher:london";
const FEE_BPS = 250;

/** An RFC 4180 document as rows of fields. */
function csv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** CSV rows as objects keyed by the header. */
function records(text: string): Record<string, string>[] {
  const [header, ...rows] = csv(text);
  return rows.map((row) => Object.fromEntries(header!.map((name, i) => [name, row[i] ?? ""])));
}

const minor = (decimal: string, currency: string) => BigInt(parseDecimal(decimal, currency as CurrencyCode));
const add = (map: Map<string, bigint>, currency: string, amount: bigint) => map.set(currency, (map.get(currency) ?? 0n) + amount);

function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** Amounts of an ISO 20022 file's transactions: end-to-end id → [currency, minor units]. */
function bankAmounts(xml: string): Map<string, [string, bigint]> {
  const out = new Map<string, [string, bigint]>();
  for (const block of xml.split(/<(?:CdtTrfTxInf|DrctDbtTxInf)>/).slice(1)) {
    const id = /<EndToEndId>([^<]+)<\/EndToEndId>/.exec(block)![1]!;
    const amount = /<InstdAmt Ccy="([A-Z]{3})">([0-9.]+)<\/InstdAmt>/.exec(block)!;
    out.set(id, [amount[1]!, minor(amount[2]!, amount[1]!)]);
  }
  return out;
}

for (const engine of ENGINES) {
  describe(`settlement (${engine})`, () => {
    let work: string;
    const opened: TestStore[] = [];
    before(() => {
      work = mkdtempSync(join(tmpdir(), "peage-settle-test-"));
    });
    after(async () => {
      for (const t of opened) await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    async function fresh(): Promise<{ t: TestStore; books: Books; dir: string }> {
      const dir = mkdtempSync(join(work, "db-"));
      const t = await openTestStore(engine, dir);
      opened.push(t);
      return { t, books: new Books(t.store, FEE_BPS), dir };
    }

    const config = buildConfig({ dataDir: "/nonexistent" }, { minimumPayouts: { EUR: "10.00", USD: "10.00", JPY: "1000" } });
    const run = (store: Store, period: string, outDir: string, now: string, extra: Partial<SettleOptions> = {}) =>
      settle({ store, period, outDir, config, now: new Date(now), ...extra });

    /** March 2026: four users in three currencies, four publishers, payments across currencies, a refund. */
    async function march(books: Books) {
      const store = books.store;
      await store.putPublisher(
        { id: NORD as PartyId<"publisher">, name: "Studio Nord", country: "NL", iban: "NL91ABNA0417164300", bic: "ABNANL2A" },
        "2026-01-01T00:00:00.000Z",
      );
      await store.putPublisher(
        {
          id: SMALL as PartyId<"publisher">,
          name: "Small Games",
          country: "FR",
          iban: "FR7630006000011234567890189",
          bic: undefined,
        },
        "2026-01-01T00:00:00.000Z",
      );
      await store.putPublisher(
        {
          id: LONDON as PartyId<"publisher">,
          name: "London Interactive",
          country: "GB",
          iban: "GB29NWBK60161331926819",
          bic: "NWBKGB2LXXX",
        },
        "2026-01-01T00:00:00.000Z",
      );
      const alice = await books.user(`alice-${engine}`, { currency: "EUR" });
      const bob = await books.user(`bob-${engine}`, {
        mode: "postpaid",
        currency: "EUR",
        mandate: {
          id: "MANDATE-BOB-1",
          signedOn: "2026-01-15",
          name: "Bob Durand",
          iban: "DE89370400440532013000",
          bic: "COBADEFFXXX",
        },
      });
      const carol = await books.user(`carol-${engine}`, { mode: "postpaid", currency: "USD" });
      const dai = await books.user(`dai-${engine}`, { currency: "JPY" });
      await books.topUp(alice, 20_000);
      await books.topUp(dai, 50_000);
      const ids: string[] = [];
      const at = (day: number, hour = 12) =>
        `2026-03-${String(day).padStart(2, "0")}T${String(hour).padStart(2, "0")}:00:00.000Z`;
      const pays: [string, string, ReturnType<typeof eur>, string][] = [
        [alice, NORD, eur(1250), at(2)],
        [alice, LONDON, usd(999), at(3)],
        [bob, NORD, eur(4999), at(4)],
        [bob, NORD, usd(250), at(5)],
        [bob, SMALL, eur(333), at(6)],
        [carol, NORD, eur(2000), at(7)],
        [carol, LONDON, usd(1500), at(8)],
        [carol, GHOST, usd(2500), at(9)],
        [dai, NORD, jpy(5000), at(10)],
        [dai, NORD, eur(777), at(11)],
        [dai, LONDON, usd(1), at(12)],
        [alice, SMALL, eur(101), at(13)],
      ];
      for (const [user, publisher, offered, when] of pays) {
        const outcome = await books.pay(user as PartyId<"user">, publisher, offered, when);
        assert.equal(outcome.kind, "recorded");
        ids.push(outcome.id);
      }
      assert.equal((await books.refund(ids[2]!, at(20))).kind, "refunded");
      return { alice, bob, carol, dai, ids };
    }

    it("a dry run plans exactly what the real run then does, and changes nothing", async () => {
      const { t, books } = await fresh();
      await march(books);
      const counts = async () => (await t.store.auditLedger()).transactions;
      const before = { transactions: await counts(), closed: await t.store.closedPeriods() };
      const dryOut = join(work, `dry-${engine}`);
      const dry = await run(t.store, "2026-03", dryOut, "2026-04-02T09:00:00.000Z", { dryRun: true });
      assert.equal(dry.dryRun, true);
      assert.equal(dry.recordedNow, false);
      assert.ok(dry.files.length > 0);
      assert.equal(existsSync(dryOut), false, "no file written");
      assert.deepEqual({ transactions: await counts(), closed: await t.store.closedPeriods() }, before);
      assert.equal(await t.store.getSettlement("2026-03"), undefined);
      const real = await run(t.store, "2026-03", join(work, `real-${engine}`), "2026-04-02T09:00:00.000Z");
      const plain = (r: typeof dry) => ({
        payouts: r.settlement.payouts,
        collections: r.settlement.collections,
        holds: r.details.holds,
        files: r.files,
      });
      assert.deepEqual(plain(real), plain(dry));
      // Thursday 2 April 2026, then Good Friday, the weekend and Easter Monday: TARGET2 opens again on the 7th and 8th.
      assert.equal(real.settlement.executionDate, "2026-04-07");
      assert.equal(real.settlement.collectionDate, "2026-04-08");
    });

    it("settles a month into statements, payout reports and bank files that tie out with the ledger to the minor unit", async () => {
      const { t, books } = await fresh();
      const { bob, carol } = await march(books);
      const out = join(work, `tie-${engine}`);
      const result = await run(t.store, "2026-03", out, "2026-04-02T09:00:00.000Z");
      assert.equal(result.recordedNow, true);

      // The ledger's own equation, per currency.
      for (const [currency, totals] of Object.entries(result.details.totals)) {
        assert.equal(BigInt(totals.billed), BigInt(totals.publishers) + BigInt(totals.fees) + BigInt(totals.fx), currency);
      }

      // What users are billed, read from their statements.
      const billed = new Map<string, bigint>();
      const statements = readdirSync(join(out, "statements")).filter((f) => f.endsWith(".csv"));
      assert.equal(statements.length, 4);
      const toCollect = new Map<string, [string, bigint]>();
      for (const file of statements) {
        const rows = records(readFileSync(join(out, "statements", file), "utf8"));
        let charged = 0n;
        let refunded = 0n;
        for (const row of rows.filter((r) => r["record"] === "line")) {
          const amount = minor(row["charged"]!, row["charged_currency"]!);
          if (row["kind"] === "payment") {
            add(billed, row["charged_currency"]!, amount);
            charged += amount;
          }
          if (row["kind"] === "refund") {
            add(billed, row["charged_currency"]!, -amount);
            refunded += amount;
          }
        }
        const total = (kind: string) => rows.find((r) => r["record"] === "total" && r["kind"] === kind);
        assert.equal(minor(total("charged")!["charged"]!, total("charged")!["charged_currency"]!), charged, file);
        assert.equal(minor(total("refunded")!["charged"]!, total("refunded")!["charged_currency"]!), refunded, file);
        const collect = total("to_collect");
        if (collect)
          toCollect.set(file, [collect["charged_currency"]!, minor(collect["charged"]!, collect["charged_currency"]!)]);
        else {
          const opening = minor(total("opening_balance")!["charged"]!, total("opening_balance")!["charged_currency"]!);
          const closing = minor(total("closing_balance")!["charged"]!, total("closing_balance")!["charged_currency"]!);
          const topups = rows
            .filter((r) => r["kind"] === "topup")
            .reduce((s, r) => s + minor(r["charged"]!, r["charged_currency"]!), 0n);
          assert.equal(closing, opening + topups - charged + refunded, `${file}: the closing balance follows from the lines`);
        }
      }
      for (const [currency, amount] of billed)
        assert.equal(amount, BigInt(result.details.totals[currency]!.billed), `billed ${currency}`);

      // What publishers are paid, read from the bank files, and what is carried, from their reports.
      const paid = new Map<string, bigint>();
      const sepa = readFileSync(join(out, "bank", "pain.001-2026-03-sepa.xml"), "utf8");
      const other = readFileSync(join(out, "bank", "pain.001-2026-03-other.xml"), "utf8");
      for (const xml of [sepa, other]) for (const [, [currency, amount]] of bankAmounts(xml)) add(paid, currency, amount);
      assert.ok(!/Ccy="(USD|JPY)"/.test(sepa), "the SEPA batch is in euros only");
      const carried = new Map<string, bigint>();
      const credited = new Map<string, bigint>();
      const reportedPaid = new Map<string, bigint>();
      for (const file of readdirSync(join(out, "payouts")).filter((f) => f.endsWith(".csv"))) {
        for (const row of records(readFileSync(join(out, "payouts", file), "utf8"))) {
          const c = row["currency"]!;
          assert.equal(minor(row["carried_in"]!, c), 0n, "the first period carries nothing in");
          add(carried, c, minor(row["carried_out"]!, c));
          add(credited, c, minor(row["earned"]!, c) - minor(row["refunded"]!, c));
          add(reportedPaid, c, minor(row["paid"]!, c));
          assert.equal(minor(row["paid"]!, c) + minor(row["carried_out"]!, c), minor(row["payable"]!, c), `${file} ${c}`);
        }
      }
      assert.deepEqual(reportedPaid, paid, "the reports and the bank files agree");

      // The tie-out: billed = paid + carried + fees + exchange, per currency, to the minor unit.
      for (const currency of new Set([...billed.keys(), ...paid.keys(), ...carried.keys()])) {
        const totals = result.details.totals[currency]!;
        assert.equal(credited.get(currency) ?? 0n, BigInt(totals.publishers), `credited ${currency}`);
        assert.equal(
          billed.get(currency) ?? 0n,
          (paid.get(currency) ?? 0n) + (carried.get(currency) ?? 0n) + BigInt(totals.fees) + BigInt(totals.fx),
          `${currency}: billed = paid + carried + fees + exchange`,
        );
      }
      // Nord's dollars (2.50 less the fee) are below the 10.00 minimum; its yen (5000 less 2.5 %) are not.
      const holds = result.details.holds.map((h) => `${h.publisher} ${h.currency} ${h.amount} ${h.reason}`).sort();
      assert.deepEqual(holds, [
        `${GHOST} USD 2438 no-bank-details`,
        `${NORD} USD 244 below-minimum`,
        `${SMALL} EUR 424 below-minimum`,
      ]);
      assert.ok(
        result.settlement.payouts.some(
          (p) => p.publisher === NORD && p.amount.currency === "JPY" && p.amount.amount === 4875 && !p.sepa,
        ),
        "a transfer in yen",
      );
      assert.ok(
        result.settlement.payouts.some((p) => p.publisher === LONDON && p.amount.currency === "USD" && !p.sepa),
        "a non-SEPA transfer in dollars",
      );
      assert.ok(result.settlement.payouts.some((p) => p.publisher === NORD && p.amount.currency === "EUR" && p.sepa));

      // Postpaid bills: Bob's by direct debit on his mandate, Carol's (dollars, no mandate) by invoice.
      const debits = bankAmounts(readFileSync(join(out, "bank", "pain.008-2026-03.xml"), "utf8"));
      const bobCollection = result.settlement.collections.find((c) => c.user === bob)!;
      const carolCollection = result.settlement.collections.find((c) => c.user === carol)!;
      assert.equal(bobCollection.method, "sepa-direct-debit");
      assert.equal(carolCollection.method, "invoice");
      assert.deepEqual([...debits.values()], [["EUR", BigInt(bobCollection.amount.amount)]]);
      assert.ok([...toCollect.values()].some(([c, a]) => c === "EUR" && a === BigInt(bobCollection.amount.amount)));
      assert.ok([...toCollect.values()].some(([c, a]) => c === "USD" && a === BigInt(carolCollection.amount.amount)));

      // The bank files are valid ISO 20022 (and EPC, for the SEPA batch).
      assert.deepEqual(await validateXml(sepa, schemas.pain001Sepa), { ok: true, value: undefined });
      assert.deepEqual(await validateXml(other, schemas.pain001), { ok: true, value: undefined });
      assert.deepEqual(await validateXml(readFileSync(join(out, "bank", "pain.008-2026-03.xml"), "utf8"), schemas.pain008), {
        ok: true,
        value: undefined,
      });

      // Again: the same bytes, nothing paid or collected twice, the ledger sound.
      const counts = await t.store.counts();
      const again = join(work, `tie-again-${engine}`);
      const second = await run(t.store, "2026-03", again, "2026-04-09T09:00:00.000Z");
      assert.equal(second.recordedNow, false);
      assert.deepEqual(filesOf(again), filesOf(out));
      assert.deepEqual(await t.store.counts(), counts);
      const audit = await t.store.auditLedger();
      assert.deepEqual(
        [audit.unbalanced, audit.balanceMismatches, audit.paymentMismatches, audit.lateTransactions, audit.settlementMismatches],
        [[], [], [], [], []],
      );
    });

    it("validates every bank file against its schema before writing, and writes nothing when one fails", async () => {
      const { t, books } = await fresh();
      await march(books);
      // Schemas where pain.008's is pain.001's: the direct debits cannot validate, the transfers still do.
      const wrong = mkdtempSync(join(work, "schemas-"));
      for (const name of Object.values(ISO20022_SCHEMA_FILES)) copyFileSync(join(OFFICIAL_SCHEMA_DIR, name), join(wrong, name));
      copyFileSync(join(OFFICIAL_SCHEMA_DIR, ISO20022_SCHEMA_FILES.pain001), join(wrong, ISO20022_SCHEMA_FILES.pain008));
      const out = join(work, `invalid-${engine}`);
      await assert.rejects(run(t.store, "2026-03", out, "2026-04-02T09:00:00.000Z", { schemaDir: wrong }), (error: unknown) => {
        assert.ok(error instanceof SettlementError);
        assert.equal(error.code, "ERR_BANK_FILE_INVALID");
        assert.match(error.message, /pain\.008-2026-03\.xml does not validate/);
        return true;
      });
      assert.equal(existsSync(out), false, "a file was written although a bank file is invalid");
      // With the schemas shipped in the server, the same settlement writes its files, all valid.
      const again = await run(t.store, "2026-03", out, "2026-04-02T09:05:00.000Z");
      assert.ok(again.files.includes(join("bank", "pain.008-2026-03.xml")));
      assert.deepEqual(await validateXml(readFileSync(join(out, "bank", "pain.008-2026-03.xml"), "utf8"), schemas.pain008), {
        ok: true,
        value: undefined,
      });
    });

    it("carries small sums and unpaid publishers over, bills payments after the close in the next period, and settles in order", async () => {
      const { t, books } = await fresh();
      const store = t.store;
      const user = await books.user(`erin-${engine}`, { currency: "EUR" });
      await books.topUp(user, 100_000);
      await store.putPublisher(
        {
          id: SMALL as PartyId<"publisher">,
          name: "Small Games",
          country: "FR",
          iban: "FR7630006000011234567890189",
          bic: undefined,
        },
        "2026-01-01T00:00:00.000Z",
      );
      const first = await books.pay(user, SMALL, eur(600), "2026-03-05T10:00:00.000Z");
      await books.pay(user, GHOST, eur(5000), "2026-03-06T10:00:00.000Z");
      await books.pay(user, SMALL, eur(100), "2026-04-01T10:00:00.000Z");
      // April cannot be settled while March, which has payments, is not.
      await assert.rejects(
        run(store, "2026-04", join(work, `order-${engine}`), "2026-05-01T00:00:00.000Z"),
        (e: unknown) => e instanceof SettlementError && e.code === "ERR_PERIOD_ORDER",
      );
      await assert.rejects(
        run(store, "2026-09", join(work, `future-${engine}`), "2026-05-01T00:00:00.000Z"),
        (e: unknown) => e instanceof SettlementError && e.code === "ERR_PERIOD_NOT_OVER",
      );

      // March is closed early, on the 20th, which needs closeNow; a payment at a March server time after that goes to April.
      const marchOut = join(work, `march-${engine}`);
      await assert.rejects(
        run(store, "2026-03", marchOut, "2026-03-20T00:00:00.000Z"),
        (e: unknown) => e instanceof SettlementError && e.code === "ERR_PERIOD_NOT_OVER" && /--close-now/.test(e.message),
      );
      assert.deepEqual(await store.closedPeriods(), [], "nothing was closed");
      const marchResult = await run(store, "2026-03", marchOut, "2026-03-20T00:00:00.000Z", { closeNow: true });
      const late = await books.pay(user, SMALL, eur(450), "2026-03-25T10:00:00.000Z");
      assert.equal(late.kind, "recorded");
      const [lateTxn] = (await store.ledgerTransactions({ limit: 1000 })).filter((x) => x.paymentId === late.id);
      assert.equal(lateTxn!.period, "2026-04", "a payment after the close belongs to the next period");
      assert.deepEqual(
        marchResult.details.holds.map((h) => [h.publisher, h.amount, h.reason]),
        [
          [GHOST, String(5000 - 125), "no-bank-details"],
          [SMALL, String(600 - 15), "below-minimum"],
        ],
      );
      assert.equal(marchResult.settlement.payouts.length, 0);
      const marchStatement = readdirSync(join(marchOut, "statements")).find((f) => f.endsWith(".csv"))!;
      assert.ok(!readFileSync(join(marchOut, "statements", marchStatement), "utf8").includes(late.id));

      // The publisher registers its bank account; April pays both publishers what they carried.
      await store.putPublisher(
        { id: GHOST as PartyId<"publisher">, name: "Ghost Studio", country: "BE", iban: "BE68539007547034", bic: "GKCCBEBB" },
        "2026-04-10T00:00:00.000Z",
      );
      // A refund in April of a March payment.
      assert.equal((await books.refund(first.id, "2026-04-11T00:00:00.000Z")).kind, "refunded");
      const aprilOut = join(work, `april-${engine}`);
      const april = await run(store, "2026-04", aprilOut, "2026-05-03T00:00:00.000Z");
      const byPublisher = Object.fromEntries(april.settlement.payouts.map((p) => [p.publisher, p.amount.amount]));
      // Small: 585 carried + 97.5→98 (100 less 2) + 439 (450 less 11) − 585 refunded = 535 < 1000: carried again.
      assert.deepEqual(byPublisher, { [GHOST]: 4875 });
      assert.deepEqual(
        april.details.holds.map((h) => [h.publisher, h.amount, h.reason]),
        [[SMALL, String(585 + 98 + 439 - 585), "below-minimum"]],
      );
      const report = records(
        readFileSync(
          join(
            aprilOut,
            "payouts",
            readdirSync(join(aprilOut, "payouts")).find((f) => f.startsWith("small") && f.endsWith(".csv"))!,
          ),
          "utf8",
        ),
      )[0]!;
      assert.deepEqual(
        [report["carried_in"], report["earned"], report["refunded"], report["payable"], report["paid"], report["carried_out"]],
        ["5.85", "5.37", "5.85", "5.37", "0.00", "5.37"],
      );
      const aprilStatement = readFileSync(
        join(
          aprilOut,
          "statements",
          readdirSync(join(aprilOut, "statements")).find((f) => f.endsWith(".csv"))!,
        ),
        "utf8",
      );
      assert.ok(aprilStatement.includes(late.id), "the late payment is on April's statement");
      assert.ok(aprilStatement.includes(`"refund"`), "and so is the refund of March's payment");
      // Paid once: settling March again changes nothing.
      const payouts = await t.raw.query("SELECT * FROM payouts ORDER BY id");
      await run(store, "2026-03", marchOut, "2026-06-01T00:00:00.000Z");
      assert.deepEqual(await t.raw.query("SELECT * FROM payouts ORDER BY id"), payouts);
    });

    it("a settlement that fails at any step completes when run again, paying once and writing the same files", async () => {
      const reference = await fresh();
      await march(reference.books);
      const referenceOut = join(work, `reference-${engine}`);
      await run(reference.t.store, "2026-03", referenceOut, "2026-04-02T09:00:00.000Z");
      const expected = filesOf(referenceOut);

      const { t, books } = await fresh();
      await march(books);
      const out = join(work, `crash-${engine}`);
      const crashAt = (target: string) => async (step: string) => {
        if (step === target) throw new Error(`injected failure after ${step}`);
      };
      const names = [...expected.keys()].sort();
      for (const point of ["closed", "recorded", `file:${names[2]}`, `file:${names[names.length - 1]}`, "files"]) {
        await assert.rejects(
          run(t.store, "2026-03", out, "2026-04-02T09:00:00.000Z", { afterStep: crashAt(point) }),
          new RegExp(`injected failure after ${point.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
        );
      }
      // The same files as a run that never failed (the first run's time is the one recorded), no temporary file left.
      await run(t.store, "2026-03", out, "2026-04-30T00:00:00.000Z");
      const got = filesOf(out);
      // The two databases' payments have different generated ids (pay_PID_N): compare without them.
      const strip = (files: Map<string, Buffer>) =>
        new Map([...files].map(([name, bytes]) => [name, bytes.toString("utf8").replaceAll(/_\d+_\d+/g, "_")]));
      assert.deepEqual([...got.keys()].sort(), names);
      assert.deepEqual(strip(got), strip(expected), "the same content, ids of the generated test users and payments aside");
      const [payouts] = await t.raw.query<{ n: number }>("SELECT COUNT(*) AS n FROM payouts");
      assert.equal(payouts!.n, (await t.store.getSettlement("2026-03"))!.payouts.length);
      const audit = await t.store.auditLedger();
      assert.deepEqual([audit.unbalanced, audit.settlementMismatches, audit.lateTransactions], [[], [], []]);
    });

    it("two settlements of one period at the same time record one", async () => {
      const { t, books } = await fresh();
      await march(books);
      const second = await t.reopen();
      try {
        const results = await Promise.all([
          run(t.store, "2026-03", join(work, `race-a-${engine}`), "2026-04-02T09:00:00.000Z"),
          run(second, "2026-03", join(work, `race-b-${engine}`), "2026-04-02T09:00:01.000Z"),
        ]);
        assert.equal(results.filter((r) => r.recordedNow).length, 1);
        assert.deepEqual(filesOf(join(work, `race-a-${engine}`)), filesOf(join(work, `race-b-${engine}`)));
        const [count] = await t.raw.query<{ n: number }>("SELECT COUNT(*) AS n FROM ledger_transactions WHERE kind = 'payout'");
        assert.equal(count!.n, results[0]!.settlement.payouts.length);
      } finally {
        await second.close();
      }
    });
  });
}
