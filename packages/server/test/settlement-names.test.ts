/**
 * Settlement with names the bank files refuse, on both engines: one publisher or mandate with a
 * hostile name is held back (or invoiced) and reported while everybody else is paid and
 * collected; a settlement recorded with such a name (before names were checked where they
 * enter) writes every other file, and is completed by running it again once the name is fixed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PartyId } from "@peage/protocol";
import { buildConfig, settle, SettlementError, type Store } from "../src/index.js";
import { plan } from "../src/settlement/settle.js";
import { iso20022Schemas, validateXml } from "../src/bank/index.js";
import { Books, eur } from "./helpers/books.js";
import { ENGINES, openTestStore, type TestStore } from "./helpers/engines.js";

const GOOD = "urn:peage:publisher:good" as PartyId<"publisher">;
const BAD = "urn:peage:publisher:bad" as PartyId<"publisher">;
const ALSO = "urn:peage:publisher:also-good" as PartyId<"publisher">;
const HOSTILE = ["Evil @ Corp", "A = B; C < D | E", "株式会社ゲーム", "Издатель", "x".repeat(71)];
const config = buildConfig({ dataDir: "/nonexistent" }, { minimumPayouts: { EUR: "1.00" } });
const CREATED = "2026-01-01T00:00:00.000Z";

for (const engine of ENGINES) {
  describe(`settlement with names the bank refuses (${engine})`, () => {
    let work: string;
    const opened: TestStore[] = [];
    before(() => {
      work = mkdtempSync(join(tmpdir(), "peage-settle-names-"));
    });
    after(async () => {
      for (const t of opened) await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    /** March 2026: three publishers paid in euros, one postpaid user with a mandate; `badName` for BAD and the mandate. */
    async function march(badName: string): Promise<{ t: TestStore; books: Books; debtor: PartyId<"user"> }> {
      const t = await openTestStore(engine, mkdtempSync(join(work, "db-")));
      opened.push(t);
      const books = new Books(t.store);
      const store = t.store;
      await store.putPublisher(
        { id: GOOD, name: "Studio Nord", country: "NL", iban: "NL91ABNA0417164300", bic: "ABNANL2A" },
        CREATED,
      );
      await store.putPublisher(
        { id: BAD, name: badName, country: "FR", iban: "FR7630006000011234567890189", bic: undefined },
        CREATED,
      );
      await store.putPublisher(
        { id: ALSO, name: "Café Müller & Söhne", country: "DE", iban: "DE89370400440532013000", bic: undefined },
        CREATED,
      );
      const payer = await books.user(`payer-${engine}-${opened.length}`, { currency: "EUR" });
      await books.topUp(payer, 100_000);
      const debtor = await books.user(`debtor-${engine}-${opened.length}`, {
        mode: "postpaid",
        currency: "EUR",
        mandate: { id: "MANDATE-1", signedOn: "2026-01-15", name: badName, iban: "DE89370400440532013000", bic: undefined },
      });
      for (const publisher of [GOOD, BAD, ALSO])
        assert.equal((await books.pay(payer, publisher, eur(5000), "2026-03-05T10:00:00.000Z")).kind, "recorded");
      assert.equal((await books.pay(debtor, GOOD, eur(2000), "2026-03-06T10:00:00.000Z")).kind, "recorded");
      return { t, books, debtor };
    }

    const run = (store: Store, out: string, now = "2026-04-02T09:00:00.000Z") =>
      settle({ store, period: "2026-03", outDir: out, config, now: new Date(now) });

    for (const [index, name] of HOSTILE.entries()) {
      it(`holds the payout to ${JSON.stringify(name.slice(0, 20))} and pays everybody else`, async () => {
        const { t, debtor } = await march(name);
        const out = join(work, `hold-${engine}-${index}`);
        const result = await run(t.store, out);
        assert.deepEqual(result.settlement.payouts.map((p) => p.publisher).sort(), [ALSO, GOOD].sort());
        const hold = result.details.holds.find((h) => h.publisher === BAD);
        assert.equal(hold?.reason, "bank-details-refused");
        assert.equal(hold?.amount, "5000");
        assert.match(hold?.detail ?? "", /creditor\.name/);
        const sepa = readFileSync(join(out, "bank", "pain.001-2026-03-sepa.xml"), "utf8");
        assert.match(sepa, /<Nm>Cafe Muller \+ Sohne<\/Nm>/, "a name the SEPA rules transliterate is paid");
        assert.deepEqual(await validateXml(sepa, iso20022Schemas().pain001Sepa), { ok: true, value: undefined });
        // The mandate with the same name cannot be debited: the bill is invoiced and reported.
        const collection = result.settlement.collections.find((c) => c.user === debtor);
        assert.equal(collection?.method, "invoice");
        assert.deepEqual(
          result.details.refusedDebits?.map((r) => [r.user, r.mandate, r.amount]),
          [[debtor, "MANDATE-1", "2000"]],
        );
        assert.equal(existsSync(join(out, "bank", "pain.008-2026-03.xml")), false);
        const summary = JSON.parse(readFileSync(join(out, "settlement-2026-03.json"), "utf8")) as {
          holds: { publisher: string }[];
          refusedDebits: unknown[];
        };
        assert.ok(summary.holds.some((h) => h.publisher === BAD));
        assert.equal(summary.refusedDebits.length, 1);

        // Held, not lost: once the name is fixed, the next period pays it.
        await t.store.putPublisher(
          { id: BAD, name: "Editions Fixees", country: "FR", iban: "FR7630006000011234567890189", bic: undefined },
          "2026-04-03T00:00:00.000Z",
        );
        const april = await settle({
          store: t.store,
          period: "2026-04",
          outDir: join(out, "april"),
          config,
          now: new Date("2026-05-02T09:00:00.000Z"),
        });
        assert.deepEqual(
          april.settlement.payouts.map((p) => [p.publisher, p.amount.amount, p.creditor.name]),
          [[BAD, 5000, "Editions Fixees"]],
        );
      });
    }

    it("completes a settlement recorded with a refused name once the name is fixed", async () => {
      const { t } = await march("Ordinary Name");
      // A settlement recorded before names were checked: the name reached the record as it was.
      const planned = plan(await t.store.periodActivity("2026-03"), await t.store.listPublishers(), {
        config,
        now: new Date("2026-04-02T09:00:00.000Z"),
      });
      await t.store.closePeriod("2026-03", "2026-04-02T09:00:00.000Z");
      const legacy = {
        ...planned,
        payouts: planned.payouts.map((p) =>
          p.publisher === BAD ? { ...p, creditor: { ...p.creditor, name: "Evil @ Corp" } } : p,
        ),
        collections: planned.collections.map((c) => (c.mandate ? { ...c, mandate: { ...c.mandate, name: "Издатель" } } : c)),
      };
      await t.store.recordSettlement(legacy);
      const debtor = legacy.collections.find((c) => c.mandate)!.user;
      await t.store.putPublisher(
        { id: BAD, name: "Evil @ Corp", country: "FR", iban: "FR7630006000011234567890189", bic: undefined },
        CREATED,
      );
      await t.store.setMandate(debtor, {
        id: "MANDATE-1",
        signedOn: "2026-01-15",
        name: "Издатель",
        iban: "DE89370400440532013000",
        bic: undefined,
      });

      const out = join(work, `legacy-${engine}`);
      await assert.rejects(run(t.store, out), (error: unknown) => {
        assert.ok(error instanceof SettlementError);
        assert.equal(error.code, "ERR_SETTLEMENT_INCOMPLETE");
        assert.match(error.message, /pain\.001-2026-03-sepa\.xml.*pain\.008-2026-03\.xml/s);
        assert.match(error.message, /PUT \/v1\/admin\/publishers/);
        return true;
      });
      assert.ok(existsSync(join(out, "settlement-2026-03.json")), "the other files are written");
      assert.ok(!existsSync(join(out, "bank", "pain.001-2026-03-sepa.xml")));

      await t.store.putPublisher(
        { id: BAD, name: "Evil Corp", country: "FR", iban: "FR7630006000011234567890189", bic: undefined },
        "2026-04-03T00:00:00.000Z",
      );
      await t.store.setMandate(debtor, {
        id: "MANDATE-1",
        signedOn: "2026-01-15",
        name: "Izdatel",
        iban: "DE89370400440532013000",
        bic: undefined,
      });
      const counts = await t.store.counts();
      const again = await run(t.store, out);
      assert.equal(again.recordedNow, false);
      assert.deepEqual(await t.store.counts(), counts, "nothing paid or collected twice");
      const sepa = readFileSync(join(out, "bank", "pain.001-2026-03-sepa.xml"), "utf8");
      assert.match(sepa, /<Nm>Evil Corp<\/Nm>/);
      assert.equal((sepa.match(/<CdtTrfTxInf>/g) ?? []).length, 3);
      assert.match(readFileSync(join(out, "bank", "pain.008-2026-03.xml"), "utf8"), /<Nm>Izdatel<\/Nm>/);
    });

    it("records nothing when the operator's own bank details break every file", async () => {
      const { t } = await march("Ordinary Name");
      const broken = { ...config, bank: { ...config.bank, name: "Operator <script>" } };
      await assert.rejects(
        settle({
          store: t.store,
          period: "2026-03",
          outDir: join(work, `operator-${engine}`),
          config: broken,
          now: new Date("2026-04-02T09:00:00.000Z"),
        }),
        (error: unknown) => {
          assert.ok(error instanceof SettlementError);
          assert.equal(error.code, "ERR_BANK_FILE_INPUT");
          assert.match(error.message, /nothing was recorded/);
          return true;
        },
      );
      assert.equal(await t.store.getSettlement("2026-03"), undefined);
    });
  });
}
