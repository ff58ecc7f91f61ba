/**
 * Settlement on both engines for publishers paid to domestic (non-IBAN) accounts and in a payout
 * currency other than the ones they earned in: each currency converted at the rates of the day
 * of the settlement, recorded with the payout and in the ledger, shown in the payout report; the
 * pain.001 valid against the ISO XSD; a currency without a rate held alone (the rest paid) and
 * paid at the next settlement; a second run paying nothing twice.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { convert, price, rateTable, type CurrencyCode, type PartyId } from "@peage/protocol";
import { convertedPayoutPostings } from "../src/ledger/ledger.js";
import { buildConfig, settle, type Store } from "../src/index.js";
import { StoreStateError } from "../src/store/store.js";
import { StoreRowError } from "../src/store/operations/rows.js";
import { parseDomesticAccount, validateXml, type DomesticAccount } from "../src/bank/index.js";
import { schemas } from "./bank-fixtures.js";
import { Books, eur, jpy, usd } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";
import { WebhookKeyRing } from "../src/webhooks/secret-box.js";

const ACME = "urn:peage:publisher:acme" as PartyId<"publisher">;
const KAISHA = "urn:peage:publisher:kaisha" as PartyId<"publisher">;
const LONDON = "urn:peage:publisher:london" as PartyId<"publisher">;
const AT = "2026-01-01T00:00:00.000Z";

/** The rates of the settlement's day: no SEK, so a SEK amount cannot be converted. */
const MARCH_RATES = rateTable("EUR", "2026-03-31", { USD: "1.08", JPY: "160", GBP: "0.85" });
const APRIL_RATES = rateTable("EUR", "2026-04-30", { USD: "1.08", JPY: "160", GBP: "0.85", SEK: "11.5" });

function domestic(input: unknown): DomesticAccount {
  const parsed = parseDomesticAccount(input);
  assert.ok(parsed.ok);
  return parsed.account;
}

for (const engine of ENGINES) {
  describe(`settlement in a payout currency, to domestic accounts (${engine})`, () => {
    let work: string;
    let t: TestStore;
    before(async () => {
      work = mkdtempSync(join(tmpdir(), "peage-payout-currency-"));
      t = await openTestStore(engine, work);
    });
    after(async () => {
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    // The operator's bank keeps a USD account: USD transfers are debited from it.
    const USD_ACCOUNT = { iban: "GB33BUKB20201555555555", bic: "BUKBGB22" };
    const config = buildConfig(
      { dataDir: "/nonexistent" },
      {
        minimumPayouts: { default: "10" },
        bank: {
          name: "Peage SAS",
          iban: "FR7630006000011234567890189",
          bic: "AGRIFRPP",
          creditorId: "FR03ZZZDEMO01",
          currencyAccounts: { USD: { iban: "GB33 BUKB 2020 1555 5555 55", bic: USD_ACCOUNT.bic } },
        },
      },
    );
    const run = (store: Store, period: string, now: string) =>
      settle({ store, period, outDir: join(work, period), config, now: new Date(now) });

    async function setUp(books: Books) {
      const { store } = books;
      const us = { country: "US", routingNumber: "021000021", accountNumber: "000123456789", accountType: "checking" };
      const jp = { country: "JP", bankCode: "0001", branchCode: "001", accountNumber: "1234567", accountType: "ordinary" };
      const base = { iban: undefined, bic: undefined };
      await store.putPublisher(
        {
          ...base,
          id: ACME,
          name: "Acme Software Inc",
          country: "US",
          domestic: domestic(us),
          payoutCurrency: "USD" as CurrencyCode,
        },
        AT,
      );
      await store.putPublisher(
        {
          ...base,
          id: KAISHA,
          name: "Kaisha Games KK",
          country: "JP",
          domestic: domestic(jp),
          payoutCurrency: "JPY" as CurrencyCode,
        },
        AT,
      );
      await store.putPublisher(
        {
          id: LONDON,
          name: "London Interactive",
          country: "GB",
          iban: "GB29NWBK60161331926819",
          bic: "NWBKGB2L",
          payoutCurrency: "GBP" as CurrencyCode,
        },
        AT,
      );
      const payers = {
        eu: await books.user("eu"),
        us: await books.user("us", { currency: "USD" }),
        jp: await books.user("jp", { currency: "JPY" }),
        se: await books.user("se", { currency: "SEK" }),
      };
      await books.topUp(payers.eu, 100_000);
      await books.topUp(payers.us, 100_000);
      await books.topUp(payers.jp, 100_000);
      await books.topUp(payers.se, 100_000);
      return payers;
    }

    it("converts each currency at the settlement's rates, records it, pays it to domestic accounts, and holds what has no rate", async () => {
      const books = new Books(t.store, 0);
      const { store } = books;
      const payers = await setUp(books);
      await books.pay(payers.eu, ACME, eur(2_500), "2026-03-05T10:00:00.000Z");
      await books.pay(payers.us, ACME, usd(3_000), "2026-03-05T11:00:00.000Z");
      await books.pay(payers.jp, ACME, jpy(1_500), "2026-03-05T12:00:00.000Z");
      await books.pay(payers.eu, KAISHA, eur(1_234), "2026-03-06T10:00:00.000Z");
      await books.pay(payers.se, LONDON, price(15_000, "SEK"), "2026-03-07T10:00:00.000Z");
      // Kaisha also earned SEK, which March's rates lack: held alone, its euros paid.
      await books.pay(payers.se, KAISHA, price(1_000, "SEK"), "2026-03-07T11:00:00.000Z");
      await store.importRates([MARCH_RATES], "test", "2026-03-31T17:00:00.000Z");

      const march = await run(store, "2026-03", "2026-04-01T09:00:00.000Z");
      const [acme, kaisha, ...others] = march.settlement.payouts;
      assert.equal(others.length, 0);
      // 30.00 USD + 25.00 EUR × 1.08 = 27.00 USD + 1500 JPY × 1.08 / 160 = 10.125 USD, rounded half away from zero to 10.13.
      assert.deepEqual(acme!.amount, usd(6_713));
      assert.deepEqual(
        acme!.conversion!.lines.map((l) => [l.from.amount, l.from.currency, l.to.amount, l.fromRate, l.toRate]),
        [
          [2_500, "EUR", 2_700, "1", "1.08"],
          [1_500, "JPY", 1_013, "160", "1.08"],
          [3_000, "USD", 3_000, "1.08", "1.08"],
        ],
      );
      assert.equal(acme!.conversion!.date, "2026-03-31");
      assert.equal(acme!.conversion!.rounding, "half-away-from-zero, once per line");
      assert.equal(acme!.sepa, false);
      assert.deepEqual(
        acme!.creditor.domestic,
        domestic({ country: "US", routingNumber: "021000021", accountNumber: "000123456789", accountType: "checking" }),
      );
      // 12.34 EUR × 160 = 1974.4 JPY, rounded to 1974.
      assert.deepEqual(kaisha!.amount, jpy(1_974));
      assert.deepEqual(
        kaisha!.conversion!.lines.map((l) => l.from),
        [eur(1_234)],
      );
      assert.deepEqual(march.details.holds, [
        {
          publisher: KAISHA,
          currency: "SEK",
          amount: "1000",
          reason: "no-rate",
          detail:
            "no SEK to JPY rate in the EUR reference rates of 2026-03-31 (reference rates imported with peage fx import): import rates with peage fx import; the amounts stay due and are paid at the next settlement",
        },
        {
          publisher: LONDON,
          currency: "SEK",
          amount: "15000",
          reason: "no-rate",
          detail:
            "no SEK to GBP rate in the EUR reference rates of 2026-03-31 (reference rates imported with peage fx import): import rates with peage fx import; the amounts stay due and are paid at the next settlement",
        },
      ]);

      // The pain.001 routes each transfer through its clearing system, in the payout currency, and is valid.
      const xml = readFileSync(join(work, "2026-03", "bank", "pain.001-2026-03-other.xml"), "utf8");
      assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
      assert.match(xml, /<InstdAmt Ccy="USD">67.13<\/InstdAmt>/);
      assert.match(xml, /<InstdAmt Ccy="JPY">1974<\/InstdAmt>/);
      assert.match(xml, /<Cd>USABA<\/Cd>\s*<\/ClrSysId>\s*<MmbId>021000021<\/MmbId>/);
      assert.match(xml, /<Cd>JPZGN<\/Cd>\s*<\/ClrSysId>\s*<MmbId>0001001<\/MmbId>/);
      assert.deepEqual(
        [...xml.matchAll(/<DbtrAcct>\s*<Id>\s*<IBAN>([A-Z0-9]+)<\/IBAN>/g)].map((m) => m[1]),
        ["FR7630006000011234567890189", USD_ACCOUNT.iban],
      );

      // The payout report shows each line paid, what it came to and at which rate.
      const csv = readFileSync(
        join(
          work,
          "2026-03",
          march.files.find((f) => f.startsWith("payouts/acme-") && f.endsWith(".csv"))!,
        ),
        "utf8",
      );
      assert.ok(csv.includes('"JPY","1500","0","0","1500","1500","0","USD","10.13","0.0067500000","2026-03-31"\r\n'), csv);
      const html = readFileSync(
        join(
          work,
          "2026-03",
          march.files.find((f) => f.startsWith("payouts/acme-") && f.endsWith(".html"))!,
        ),
        "utf8",
      );
      assert.match(html, /Paid in the payout currency/);
      assert.match(html, /<td>25\.00 EUR<\/td><td>27\.00 USD<\/td><td>1\.0800000000<\/td><td>1 \/ 1\.08<\/td>/);

      // The books: each payable settled in the currency it was earned in, the exchange account between them, all balanced.
      const audit = await store.auditLedger();
      assert.deepEqual(audit.unbalanced, []);
      assert.deepEqual(audit.settlementMismatches, []);
      const payout = (await store.ledgerTransactions({ limit: 1000 })).find((txn) => txn.ref === acme!.id)!;
      assert.deepEqual(
        payout.postings.map((p) => [p.account, p.currency, p.amount]).sort(),
        [
          ["payable/" + ACME, "EUR", 2_500],
          ["payable/" + ACME, "JPY", 1_500],
          ["payable/" + ACME, "USD", 3_000],
          ["server/bank", "USD", -6_713],
          ["server/fx", "EUR", -2_500],
          ["server/fx", "JPY", -1_500],
          ["server/fx", "USD", 3_713],
        ].sort(),
      );

      // Run again: nothing paid twice, the same payouts.
      const again = await run(store, "2026-03", "2026-04-02T09:00:00.000Z");
      assert.equal(again.recordedNow, false);
      assert.deepEqual(again.settlement.payouts, march.settlement.payouts);

      // April: the SEK rate is there now; what was held is paid with April's earnings, nothing lost.
      await books.pay(payers.se, LONDON, price(5_000, "SEK"), "2026-04-10T10:00:00.000Z");
      await store.importRates([APRIL_RATES], "test", "2026-04-30T17:00:00.000Z");
      const april = await run(store, "2026-04", "2026-05-01T09:00:00.000Z");
      assert.deepEqual(april.details.holds, []);
      assert.deepEqual(
        april.settlement.payouts.map((p) => p.publisher),
        [KAISHA, LONDON],
      );
      // Kaisha's SEK held in March: 10.00 SEK × 160 / 11.5 = 139.13… JPY, rounded to 139.
      assert.deepEqual(april.settlement.payouts[0]!.amount, jpy(139));
      const london = april.settlement.payouts[1]!;
      // 200.00 SEK × 0.85 / 11.5 = 14.7826… GBP, rounded to 14.78.
      assert.deepEqual(london.amount, price(1_478, "GBP"));
      assert.deepEqual(
        london.conversion!.lines.map((l) => [l.from.amount, l.to.amount]),
        [[20_000, 1_478]],
      );
      const aprilXml = readFileSync(join(work, "2026-04", "bank", "pain.001-2026-04-other.xml"), "utf8");
      assert.deepEqual(await validateXml(aprilXml, schemas.pain001), { ok: true, value: undefined });
      assert.match(aprilXml, /<InstdAmt Ccy="GBP">14.78<\/InstdAmt>/);
      assert.deepEqual((await store.auditLedger()).settlementMismatches, []);

      // Acme, paid in March, is due nothing in April: its March payout settled each currency it earned.
      assert.ok(!april.details.publishers.some((p) => p.publisher.id === ACME));

      // What the publisher reads about itself: the payout with its conversion, the hold with its reason.
      const own = await store.runExtension("payoutsOf", ACME);
      assert.deepEqual(own.payouts[0]!.conversion, acme!.conversion);
      const londonOwn = await store.runExtension("payoutsOf", LONDON);
      assert.deepEqual(
        londonOwn.payouts.map((p) => [p.period, p.amount]),
        [["2026-04", price(1_478, "GBP")]],
      );

      // And what its webhook says: the payout.scheduled event carries the same conversion.
      const at = "2026-05-01T10:00:00.000Z";
      const endpoint = { id: "whe_payouts", url: "https://hooks.example/", publisher: undefined, label: "payouts" };
      await store.runExtension(
        "addEndpoint",
        { ...endpoint, events: ["payout.scheduled"], createdAt: at },
        WebhookKeyRing.generate().seal("whsec_payouts", endpoint.id),
      );
      assert.ok((await store.runExtension("fanOut", at, 100)) > 0);
      const bodies = await t.raw.query<{ body: string }>(
        "SELECT body FROM webhook_events WHERE type = 'payout.scheduled' AND body IS NOT NULL",
      );
      const sent = bodies.map((row) => JSON.parse(row.body) as { data: { payoutId: string; conversion?: unknown } });
      assert.deepEqual(sent.find((event) => event.data.payoutId === acme!.id)?.data.conversion, acme!.conversion);
      assert.deepEqual(sent.find((event) => event.data.payoutId === london.id)?.data.conversion, london.conversion);
    });

    it("stores an account as an IBAN or a domestic account, never both, and refuses a stored account its country's rules refuse", async () => {
      const dir = mkdtempSync(join(work, "accounts-"));
      const fresh = await openTestStore(engine, dir);
      try {
        const id = "urn:peage:publisher:both" as PartyId<"publisher">;
        const us = domestic({ country: "US", routingNumber: "021000021", accountNumber: "123456789", accountType: "savings" });
        await assert.rejects(
          fresh.store.putPublisher(
            { id, name: "Both", country: "US", iban: "GB29NWBK60161331926819", bic: undefined, domestic: us },
            AT,
          ),
          (error: unknown) => error instanceof StoreStateError && error.code === "ERR_PUBLISHER_ACCOUNT",
        );
        assert.equal(await fresh.store.getPublisher(id), undefined);
        await fresh.store.putPublisher({ id, name: "US only", country: "US", iban: undefined, bic: undefined, domestic: us }, AT);
        assert.deepEqual((await fresh.store.getPublisher(id))!.domestic, us);
        // A row changed behind the server's back (a routing number whose check digit fails) is refused when read.
        const tampered = JSON.stringify({ ...us, routingNumber: "021000022" });
        await fresh.raw.query("UPDATE publishers SET domestic_account = ? WHERE id = ?", [tampered, id]);
        await assert.rejects(fresh.store.getPublisher(id), (error: unknown) => error instanceof StoreRowError);
      } finally {
        await fresh.close();
      }
    });

    it("holds a converted payout when the server has no rates at all, and pays in its own currency what needs none", async () => {
      const dir = mkdtempSync(join(work, "norates-"));
      const fresh = await openTestStore(engine, dir);
      try {
        const books = new Books(fresh.store, 0);
        const payers = await setUp(books);
        await books.pay(payers.eu, ACME, eur(2_500), "2026-03-05T10:00:00.000Z");
        await books.pay(payers.jp, KAISHA, jpy(5_000), "2026-03-05T10:00:00.000Z");
        await books.pay(payers.us, ACME, usd(1_000), "2026-03-05T11:00:00.000Z");
        const march = await settle({
          store: fresh.store,
          period: "2026-03",
          outDir: join(dir, "out"),
          config,
          now: new Date("2026-04-01T09:00:00.000Z"),
        });
        // Kaisha earned only in its payout currency: paid, no conversion. Acme's dollars are paid
        // as they were earned; its euros wait for a rate.
        assert.deepEqual(
          march.settlement.payouts.map((p) => [p.publisher, p.amount, p.conversion]),
          [
            [ACME, usd(1_000), undefined],
            [KAISHA, jpy(5_000), undefined],
          ],
        );
        assert.deepEqual(march.details.holds, [
          {
            publisher: ACME,
            currency: "EUR",
            amount: "2500",
            reason: "no-rate",
            detail:
              "no exchange rates to convert EUR into USD: import rates with peage fx import; the amounts stay due and are paid at the next settlement",
          },
        ]);
        const report = march.details.publishers.find((p) => p.publisher.id === ACME)!;
        assert.deepEqual(
          report.lines.map((l) => [l.currency, l.paid.amount, l.carriedOut.amount]),
          [
            ["EUR", 0, 2_500],
            ["USD", 1_000, 0],
          ],
        );
        assert.deepEqual((await fresh.store.auditLedger()).settlementMismatches, []);
      } finally {
        await fresh.close();
      }
    });
  });
}

describe("a converted payout's postings", () => {
  it("balance in every currency, settle each payable for what was due and pay the sum of the lines, for any rates", () => {
    const currencies = ["EUR", "USD", "JPY", "BHD", "GBP"] as const;
    const rate = fc
      .tuple(fc.integer({ min: 1, max: 99_999 }), fc.integer({ min: 0, max: 6 }))
      .map(([digits, scale]) => (digits / 10 ** scale).toFixed(scale));
    fc.assert(
      fc.property(
        fc.constantFrom(...currencies),
        fc.dictionary(fc.constantFrom(...currencies), fc.integer({ min: 1, max: 1e9 }), { minKeys: 1 }),
        fc.record({ USD: rate, JPY: rate, BHD: rate, GBP: rate }),
        (target, dues, rates) => {
          const table = rateTable("EUR", "2026-03-31", rates);
          const lines = Object.entries(dues).map(([currency, amount]) => {
            const from = price(amount, currency as CurrencyCode);
            let to;
            try {
              to = convert(from, target as CurrencyCode, table)!.price;
            } catch (error) {
              // Beyond a safe integer: the settlement holds such a payout (no-rate) instead.
              assert.ok(error instanceof RangeError);
              to = undefined;
            }
            return { from, to };
          });
          fc.pre(lines.every((l) => l.to !== undefined));
          const converted = lines.map((l) => ({ from: l.from, to: l.to! }));
          const total = converted.reduce((sum, l) => sum + l.to.amount, 0);
          fc.pre(total > 0 && Number.isSafeInteger(total));
          const postings = convertedPayoutPostings("urn:peage:publisher:p", price(total, target), converted);
          const sums = new Map<string, number>();
          for (const p of postings) sums.set(p.currency, (sums.get(p.currency) ?? 0) + p.amount);
          assert.ok([...sums.values()].every((sum) => sum === 0));
          for (const l of converted) {
            const leg = postings.find((p) => p.account === "payable/urn:peage:publisher:p" && p.currency === l.from.currency);
            assert.equal(leg?.amount, l.from.amount);
          }
          assert.deepEqual(
            postings.filter((p) => p.account === "server/bank"),
            [{ account: "server/bank", currency: target, amount: -total }],
          );
        },
      ),
    );
    assert.throws(
      () => convertedPayoutPostings("p", price(101, "EUR"), [{ from: price(100, "USD"), to: price(100, "EUR") }]),
      /conversion lines sum to 100/,
    );
  });
});

describe("the operator's accounts per currency in server.json", () => {
  it("are checked, each error naming the currency and the field", () => {
    const bank = { name: "Peage SAS", iban: "FR7630006000011234567890189", bic: "AGRIFRPP", creditorId: "FR03ZZZDEMO01" };
    const attempt = (currencyAccounts: unknown) => () =>
      buildConfig({ dataDir: "/nonexistent" }, { bank: { ...bank, currencyAccounts } });
    assert.throws(
      attempt({ XYZ: { iban: bank.iban, bic: bank.bic } }),
      /bank\.currencyAccounts\.XYZ: XYZ is not an active ISO 4217/,
    );
    assert.throws(
      attempt({ USD: { iban: "GB33BUKB20201555555556", bic: "BUKBGB22" } }),
      /bank\.currencyAccounts\.USD\.iban: wrong IBAN check digits/,
    );
    assert.throws(
      attempt({ USD: { iban: "GB33BUKB20201555555555" } }),
      /bank\.currencyAccounts\.USD\.bic must be a non-empty string/,
    );
  });
});
