/** pain.001.001.09 credit transfers: XSD validity (EPC SEPA and ISO), exact amounts and sums, input checks. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { exponentOf, parseCurrency, price } from "@peage/protocol";
import { BankFileError, buildPain001, validateXml, type CreditTransfer, type CreditTransferBatch } from "../src/bank/index.js";
import { elementTexts, internationalBatch, makeIban, schemas, sepaBatch } from "./bank-fixtures.js";

function problemsOf(batch: CreditTransferBatch): { code: string; field: string; message: string }[] {
  try {
    buildPain001(batch);
  } catch (error) {
    assert.ok(error instanceof BankFileError, `expected a BankFileError, got ${String(error)}`);
    assert.equal(error.code, "ERR_BANK_FILE_INPUT");
    return [...error.problems];
  }
  assert.fail("expected a BankFileError");
}

function withTransfer(
  batch: CreditTransferBatch,
  index: number,
  change: (t: CreditTransfer) => CreditTransfer,
): CreditTransferBatch {
  return { ...batch, transfers: batch.transfers.map((t, i) => (i === index ? change(t) : t)) };
}

describe("pain.001 SEPA credit transfer", () => {
  it("validates against the EPC SEPA XSD and the ISO 20022 XSD", async () => {
    const xml = buildPain001(sepaBatch());
    assert.deepEqual(await validateXml(xml, schemas.pain001Sepa), { ok: true, value: undefined });
    assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
  });

  it("writes the group header, one EUR payment information block and the EPC codes", () => {
    const xml = buildPain001(sepaBatch());
    assert.ok(
      xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">'),
    );
    assert.deepEqual(elementTexts(xml, "MsgId"), ["PEAGE-PAYOUT-2025-11"]);
    assert.deepEqual(elementTexts(xml, "CreDtTm"), ["2025-12-01T09:30:00Z"]);
    assert.deepEqual(elementTexts(xml, "NbOfTxs"), ["3", "3"]);
    // 1250.50 + 0.01 + 999999999.99
    assert.deepEqual(elementTexts(xml, "CtrlSum"), ["1000001250.50", "1000001250.50"]);
    assert.deepEqual(elementTexts(xml, "PmtInfId"), ["PEAGE-PAYOUT-2025-11-EUR"]);
    assert.deepEqual(elementTexts(xml, "PmtMtd"), ["TRF"]);
    assert.match(xml, /<PmtTpInf>\s*<SvcLvl>\s*<Cd>SEPA<\/Cd>\s*<\/SvcLvl>\s*<\/PmtTpInf>/);
    assert.deepEqual(elementTexts(xml, "ChrgBr"), ["SLEV"]);
    assert.deepEqual(elementTexts(xml, "Dt"), ["2025-12-02"]);
    // Transfers in end-to-end-id order; names and text transliterated; the apostrophe escaped.
    assert.deepEqual(elementTexts(xml, "EndToEndId"), ["PAYOUT-2025-11-PUB-1", "PAYOUT-2025-11-PUB-2", "PAYOUT-2025-11-PUB-3"]);
    assert.deepEqual(elementTexts(xml, "InstdAmt"), ["0.01", "1250.50", "999999999.99"]);
    assert.deepEqual(elementTexts(xml, "Nm"), [
      "Peage SAS",
      "Peage SAS",
      "Studio O&apos;Brien",
      "Muller + Sohne GmbH",
      "Soft Iberica SL",
    ]);
    assert.deepEqual(elementTexts(xml, "IBAN"), [
      "FR1420041010050500013M02606",
      "NL91ABNA0417164300",
      "DE89370400440532013000",
      "ES9121000418450200051332",
    ]);
    // The creditor agent is left out when the BIC is unknown (IBAN-only SEPA), and so is empty remittance.
    assert.deepEqual(elementTexts(xml, "BICFI"), ["PSSTFRPPXXX", "COBADEFFXXX", "CAIXESBBXXX"]);
    assert.deepEqual(elementTexts(xml, "Ustrd"), ["Peage payout 2025-11", "Peage payout 2025-11"]);
    assert.deepEqual(elementTexts(xml, "Ctry"), ["NL", "DE", "ES"]);
  });

  it("is deterministic: the same batch, in any order, gives byte-identical files", () => {
    const batch = sepaBatch();
    const first = buildPain001(batch);
    assert.equal(buildPain001(sepaBatch()), first);
    assert.equal(buildPain001({ ...batch, transfers: [...batch.transfers].reverse() }), first);
  });

  it("refuses what the SEPA scheme does not carry", () => {
    const batch = sepaBatch();
    const usd = problemsOf(withTransfer(batch, 0, (t) => ({ ...t, amount: price(100, "USD") })));
    assert.deepEqual(
      usd.map((p) => [p.code, p.field]),
      [["ERR_BANK_SCHEME", "transfers[0].amount.currency"]],
    );
    const saudi = problemsOf(
      withTransfer(batch, 1, (t) => ({ ...t, creditor: { ...t.creditor, iban: "SA0380000000608010167519" } })),
    );
    assert.deepEqual(
      saudi.map((p) => [p.code, p.field]),
      [["ERR_BANK_SCHEME", "transfers[1].creditor.iban"]],
    );
    const big = problemsOf(withTransfer(batch, 1, (t) => ({ ...t, amount: price(100_000_000_000, "EUR") })));
    assert.deepEqual(
      big.map((p) => [p.code, p.field]),
      [["ERR_BANK_AMOUNT", "transfers[1].amount.amount"]],
    );
    const long = problemsOf(withTransfer(batch, 1, (t) => ({ ...t, creditor: { ...t.creditor, name: "N".repeat(71) } })));
    assert.deepEqual(
      long.map((p) => [p.code, p.field]),
      [["ERR_BANK_LENGTH", "transfers[1].creditor.name"]],
    );
    assert.match(long[0]?.message ?? "", /71 characters long, at most 70/);
  });
});

describe("pain.001 international credit transfer", () => {
  it("validates against the ISO 20022 XSD with USD, JPY and BHD amounts at their exponents", async () => {
    const xml = buildPain001(internationalBatch());
    assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
    // One block per currency, in code order; ChrgBr SHAR; no SEPA service level.
    assert.deepEqual(elementTexts(xml, "PmtInfId"), [
      "PEAGE-INTL-2025-11-BHD",
      "PEAGE-INTL-2025-11-JPY",
      "PEAGE-INTL-2025-11-USD",
    ]);
    assert.deepEqual(elementTexts(xml, "ChrgBr"), ["SHAR", "SHAR", "SHAR"]);
    assert.doesNotMatch(xml, /<SvcLvl>/);
    assert.deepEqual(
      [...xml.matchAll(/<InstdAmt Ccy="([A-Z]{3})">([^<]*)<\/InstdAmt>/g)].map((m) => `${m[2]} ${m[1]}`),
      ["1.250 BHD", "0.007 BHD", "1250 JPY", "1234.56 USD"],
    );
    // Group total irrespective of currency: 1.257 + 1250 + 1234.56, written with three decimals.
    assert.deepEqual(elementTexts(xml, "CtrlSum"), ["2485.817", "1.257", "1250", "1234.56"]);
    assert.deepEqual(elementTexts(xml, "NbOfTxs"), ["4", "2", "1", "1"]);
    assert.deepEqual(elementTexts(xml, "Ctry"), ["BH", "BH", "JP", "US"]);
  });

  it("is not a SEPA file: the EPC XSD refuses it", async () => {
    const result = await validateXml(buildPain001(internationalBatch()), schemas.pain001Sepa);
    assert.equal(result.ok, false);
  });

  it("requires the creditor's BIC outside SEPA", () => {
    const problems = problemsOf(
      withTransfer(internationalBatch(), 2, (t) => ({
        ...t,
        creditor: { name: t.creditor.name, iban: t.creditor.iban, country: t.creditor.country },
      })),
    );
    assert.deepEqual(
      problems.map((p) => [p.code, p.field]),
      [["ERR_BANK_SCHEME", "transfers[2].creditor.bic"]],
    );
  });

  it("allows names up to 140 characters", async () => {
    const xml = buildPain001(
      withTransfer(internationalBatch(), 0, (t) => ({ ...t, creditor: { ...t.creditor, name: "N".repeat(140) } })),
    );
    assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
  });
});

describe("pain.001 broken files fail validation", () => {
  it("reports a missing mandatory element", async () => {
    const xml = buildPain001(sepaBatch()).replace(/\s*<DbtrAgt>[\s\S]*?<\/DbtrAgt>/, "");
    for (const xsd of [schemas.pain001, schemas.pain001Sepa]) {
      const result = await validateXml(xml, xsd);
      assert.equal(result.ok, false);
      assert.ok(
        !result.ok && result.error.some((e) => /Schemas validity error/.test(e) && /DbtrAgt/.test(e)),
        JSON.stringify(result),
      );
    }
  });

  it("reports a badly written amount", async () => {
    const comma = buildPain001(sepaBatch()).replace(">1250.50<", ">1250,50<");
    const result = await validateXml(comma, schemas.pain001);
    assert.ok(!result.ok && result.error.some((e) => /InstdAmt/.test(e) && /1250,50/.test(e)), JSON.stringify(result));
    // Three decimals are fine for ISO (up to five) but not for the EPC (two).
    const mills = buildPain001(sepaBatch()).replace(">1250.50<", ">1250.505<");
    assert.deepEqual(await validateXml(mills, schemas.pain001), { ok: true, value: undefined });
    const epc = await validateXml(mills, schemas.pain001Sepa);
    assert.ok(!epc.ok && epc.error.some((e) => /InstdAmt/.test(e) && /fractionDigits/.test(e)), JSON.stringify(epc));
  });

  it("reports a file that is not well-formed", async () => {
    const result = await validateXml(buildPain001(sepaBatch()).replace("</GrpHdr>", ""), schemas.pain001);
    assert.ok(!result.ok && result.error.some((e) => /parser error/.test(e)), JSON.stringify(result));
  });
});

describe("pain.001 input checks", () => {
  it("refuses an empty batch", () => {
    assert.deepEqual(
      problemsOf({ ...sepaBatch(), transfers: [] }).map((p) => [p.code, p.field]),
      [["ERR_BANK_BATCH", "transfers"]],
    );
  });

  it("lists every problem, each naming its item", () => {
    const batch = sepaBatch();
    const broken: CreditTransferBatch = {
      ...batch,
      messageId: "M".repeat(32),
      executionDate: "2025-02-30",
      debtor: { ...batch.debtor, bic: "PSSTFRP" },
      transfers: [
        { ...batch.transfers[0]!, creditor: { ...batch.transfers[0]!.creditor, iban: "DE88370400440532013000" } },
        {
          ...batch.transfers[1]!,
          endToEndId: "PAYOUT 1",
          amount: { amount: 12.5, currency: "EUR" } as unknown as CreditTransfer["amount"],
        },
        { ...batch.transfers[2]!, endToEndId: batch.transfers[0]!.endToEndId, remittance: "R".repeat(141) },
        {
          ...batch.transfers[2]!,
          endToEndId: batch.transfers[0]!.endToEndId,
          creditor: { ...batch.transfers[2]!.creditor, country: "de" },
        },
        { ...batch.transfers[2]!, endToEndId: "OK-1", amount: price(0, "EUR") },
        {
          ...batch.transfers[2]!,
          endToEndId: "OK-2",
          amount: { amount: 5, currency: "XYZ" } as unknown as CreditTransfer["amount"],
        },
      ],
    };
    let error: unknown;
    try {
      buildPain001(broken);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof BankFileError);
    assert.deepEqual(
      error.problems.map((p) => [p.code, p.field]),
      [
        ["ERR_BANK_LENGTH", "messageId"],
        ["ERR_BANK_BIC", "debtor.bic"],
        ["ERR_BANK_DATE", "executionDate"],
        ["ERR_BANK_IBAN", "transfers[0].creditor.iban"],
        ["ERR_BANK_IDENTIFIER", "transfers[1].endToEndId"],
        ["ERR_BANK_AMOUNT", "transfers[1].amount.amount"],
        ["ERR_BANK_LENGTH", "transfers[2].remittance"],
        ["ERR_BANK_COUNTRY", "transfers[3].creditor.country"],
        ["ERR_BANK_AMOUNT", "transfers[4].amount.amount"],
        ["ERR_BANK_CURRENCY", "transfers[5].amount.currency"],
      ],
    );
    assert.equal(error.field, "messageId");
    assert.match(error.message, /^10 problems: messageId: is 32 characters long, at most 31 are allowed; debtor\.bic: /);
    assert.match(error.message, /transfers\[0\]\.creditor\.iban: wrong IBAN check digits/);
  });

  it("refuses duplicate end-to-end ids", () => {
    const batch = sepaBatch();
    const problems = problemsOf(withTransfer(batch, 2, (t) => ({ ...t, endToEndId: batch.transfers[0]!.endToEndId })));
    assert.deepEqual(
      problems.map((p) => [p.code, p.field]),
      [["ERR_BANK_BATCH", "transfers[2].endToEndId"]],
    );
    assert.match(problems[0]?.message ?? "", /already the end-to-end id of transfers\[0\]/);
  });

  it("refuses an execution date before the creation date", () => {
    assert.deepEqual(
      problemsOf({ ...sepaBatch(), executionDate: "2025-11-30" }).map((p) => [p.code, p.field]),
      [["ERR_BANK_DATE", "executionDate"]],
    );
  });

  it("refuses an XML injection attempt in a name, and escapes what is allowed", async () => {
    const attack = problemsOf(
      withTransfer(sepaBatch(), 0, (t) => ({ ...t, creditor: { ...t.creditor, name: "Evil</Nm></Cdtr><Cdtr><Nm>Mallory" } })),
    );
    assert.deepEqual(
      attack.map((p) => [p.code, p.field]),
      [["ERR_BANK_TEXT", "transfers[0].creditor.name"]],
    );
    assert.match(attack[0]?.message ?? "", /"<" \(U\+003C\) is outside the SEPA Latin character set/);
    const entity = problemsOf(
      withTransfer(sepaBatch(), 0, (t) => ({ ...t, remittance: "<!ENTITY x SYSTEM 'file:///etc/passwd'>" })),
    );
    assert.deepEqual(
      entity.map((p) => p.field),
      ["transfers[0].remittance"],
    );
    // & becomes +, quotes become apostrophes, which are escaped.
    const xml = buildPain001(withTransfer(sepaBatch(), 0, (t) => ({ ...t, remittance: `Invoice "7" & 'more'` })));
    assert.ok(xml.includes("<Ustrd>Invoice &apos;7&apos; + &apos;more&apos;</Ustrd>"));
    assert.deepEqual(await validateXml(xml, schemas.pain001Sepa), { ok: true, value: undefined });
  });
});

describe("pain.001 property: control sums are exact and the file validates", () => {
  const currencies = ["EUR", "USD", "JPY", "BHD", "GBP", "CHF", "KWD", "CLF"] as const;
  const latinText = fc
    .string({ unit: fc.constantFrom(..."abcXYZ019 /-?:().,'+"), minLength: 1, maxLength: 70 })
    .filter((s) => s.trim().length > 0);
  const transfer = fc.record({
    currency: fc.constantFrom(...currencies),
    amount: fc.integer({ min: 1, max: 10 ** 12 }),
    name: latinText,
    account: fc.integer({ min: 0, max: 99_999_999 }),
    remittance: fc.oneof(fc.constant(""), latinText),
  });

  function batchOf(
    items: { currency: string; amount: number; name: string; account: number; remittance: string }[],
    sepa: boolean,
  ): CreditTransferBatch {
    return {
      ...internationalBatch(),
      sepa,
      transfers: items.map((item, i) => ({
        endToEndId: `E2E-${i}`,
        creditor: {
          name: item.name,
          iban: makeIban("DE", `370400440${String(item.account).padStart(9, "0")}`),
          bic: "COBADEFFXXX",
          country: "DE",
        },
        amount: price(item.amount, sepa ? "EUR" : item.currency),
        remittance: item.remittance,
      })),
    };
  }

  /** Σ amount × 10^(max exponent − exponent), independently of the builder. */
  function expectedTotal(batch: CreditTransferBatch): { digits: bigint; exponent: number } {
    const exponent = Math.max(...batch.transfers.map((t) => exponentOf(parseCurrency(t.amount.currency))));
    let digits = 0n;
    for (const t of batch.transfers)
      digits += BigInt(t.amount.amount) * 10n ** BigInt(exponent - exponentOf(parseCurrency(t.amount.currency)));
    return { digits, exponent };
  }

  function readDecimal(text: string): { digits: bigint; exponent: number } {
    const [whole, fraction = ""] = text.split(".");
    return { digits: BigInt(`${whole}${fraction}`), exponent: fraction.length };
  }

  it("for multi-currency batches against the ISO XSD", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(transfer, { minLength: 1, maxLength: 12 }), async (items) => {
        const batch = batchOf(items, false);
        const xml = buildPain001(batch);
        const [groupSum, ...blockSums] = elementTexts(xml, "CtrlSum");
        assert.deepEqual(readDecimal(groupSum!), expectedTotal(batch));
        // Every block's CtrlSum is the sum of its InstdAmt values, each with the currency's exponent.
        const blocks = xml.split("<PmtInf>").slice(1);
        assert.equal(blocks.length, blockSums.length);
        blocks.forEach((block, i) => {
          const amounts = [...block.matchAll(/<InstdAmt Ccy="([A-Z]{3})">([^<]*)<\/InstdAmt>/g)];
          const exponent = exponentOf(parseCurrency(amounts[0]![1]));
          let sum = 0n;
          for (const m of amounts) {
            const value = readDecimal(m[2]!);
            assert.equal(value.exponent, exponent, `${m[2]} ${m[1]}`);
            sum += value.digits;
          }
          assert.deepEqual(readDecimal(blockSums[i]!), { digits: sum, exponent });
        });
        assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
      }),
      { numRuns: 40, seed: 1 },
    );
  });

  it("for SEPA batches against the EPC and ISO XSDs", async () => {
    const sepaTransfer = transfer.map((t) => ({ ...t, amount: 1 + (t.amount % 99_999_999_999) }));
    await fc.assert(
      fc.asyncProperty(fc.array(sepaTransfer, { minLength: 1, maxLength: 12 }), async (items) => {
        const batch = batchOf(items, true);
        const xml = buildPain001(batch);
        const [groupSum, blockSum] = elementTexts(xml, "CtrlSum");
        assert.deepEqual(readDecimal(groupSum!), expectedTotal(batch));
        assert.equal(blockSum, groupSum);
        assert.deepEqual(await validateXml(xml, schemas.pain001Sepa), { ok: true, value: undefined });
        assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
      }),
      { numRuns: 25, seed: 2 },
    );
  });

  it("refuses a currency total beyond safe integers", () => {
    const max = Number.MAX_SAFE_INTEGER;
    const problems = problemsOf(
      batchOf(
        [
          { currency: "USD", amount: max, name: "A", account: 1, remittance: "" },
          { currency: "USD", amount: 1, name: "B", account: 2, remittance: "" },
        ],
        false,
      ),
    );
    assert.deepEqual(
      problems.map((p) => [p.code, p.field]),
      [["ERR_BANK_BATCH", "transfers"]],
    );
  });
});
