/** pain.008.001.02 SEPA Core direct debits: XSD validity, EPC fields, input checks, exact sums. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { price } from "@peage/protocol";
import {
  BankFileError,
  buildPain008,
  SEQUENCE_TYPE,
  validateXml,
  type DirectDebit,
  type DirectDebitBatch,
} from "../src/bank/index.js";
import { directDebitBatch, elementTexts, makeIban, schemas } from "./bank-fixtures.js";

function problemsOf(batch: DirectDebitBatch): [string, string][] {
  try {
    buildPain008(batch);
  } catch (error) {
    assert.ok(error instanceof BankFileError, `expected a BankFileError, got ${String(error)}`);
    return error.problems.map((p) => [p.code, p.field]);
  }
  assert.fail("expected a BankFileError");
}

function withDebit(batch: DirectDebitBatch, index: number, change: (d: DirectDebit) => DirectDebit): DirectDebitBatch {
  return { ...batch, debits: batch.debits.map((d, i) => (i === index ? change(d) : d)) };
}

describe("pain.008 SEPA Core direct debit", () => {
  it("validates against the pain.008.001.02 XSD", async () => {
    assert.deepEqual(await validateXml(buildPain008(directDebitBatch()), schemas.pain008), { ok: true, value: undefined });
  });

  it("writes the EPC Core fields", () => {
    const xml = buildPain008(directDebitBatch());
    assert.ok(
      xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.02">'),
    );
    assert.equal(SEQUENCE_TYPE, "RCUR");
    assert.match(
      xml,
      /<PmtTpInf>\s*<SvcLvl>\s*<Cd>SEPA<\/Cd>\s*<\/SvcLvl>\s*<LclInstrm>\s*<Cd>CORE<\/Cd>\s*<\/LclInstrm>\s*<SeqTp>RCUR<\/SeqTp>\s*<\/PmtTpInf>/,
    );
    assert.deepEqual(elementTexts(xml, "PmtMtd"), ["DD"]);
    assert.deepEqual(elementTexts(xml, "ReqdColltnDt"), ["2025-12-05"]);
    assert.deepEqual(elementTexts(xml, "ChrgBr"), ["SLEV"]);
    assert.deepEqual(elementTexts(xml, "CtrlSum"), ["46.00", "46.00"]);
    assert.deepEqual(elementTexts(xml, "NbOfTxs"), ["2", "2"]);
    assert.match(
      xml,
      /<CdtrSchmeId>\s*<Id>\s*<PrvtId>\s*<Othr>\s*<Id>DE98ZZZ09999999999<\/Id>\s*<SchmeNm>\s*<Prtry>SEPA<\/Prtry>/,
    );
    assert.deepEqual(elementTexts(xml, "MndtId"), ["PEAGE-MANDATE-1", "PEAGE-MANDATE-2"]);
    assert.deepEqual(elementTexts(xml, "DtOfSgntr"), ["2025-01-15", "2025-12-05"]);
    assert.deepEqual(elementTexts(xml, "InstdAmt"), ["45.99", "0.01"]);
    // The first user's bank is unknown: NOTPROVIDED, as the EPC guidelines allow.
    assert.match(xml, /<DbtrAgt>\s*<FinInstnId>\s*<Othr>\s*<Id>NOTPROVIDED<\/Id>\s*<\/Othr>\s*<\/FinInstnId>\s*<\/DbtrAgt>/);
    assert.deepEqual(elementTexts(xml, "BIC"), ["PSSTFRPP", "BKAUATWWXXX"]);
    assert.deepEqual(elementTexts(xml, "Nm"), ["Peage SAS", "Peage SAS", "Jean Dupont", "Zoe Angstrom"]);
  });

  it("is deterministic whatever the order of the debits", () => {
    const batch = directDebitBatch();
    const xml = buildPain008(batch);
    assert.equal(buildPain008(directDebitBatch()), xml);
    assert.equal(buildPain008({ ...batch, debits: [...batch.debits].reverse() }), xml);
  });

  it("refuses what SEPA Core cannot collect", () => {
    const batch = directDebitBatch();
    assert.deepEqual(problemsOf(withDebit(batch, 0, (d) => ({ ...d, amount: price(100, "CHF") }))), [
      ["ERR_BANK_SCHEME", "debits[0].amount.currency"],
    ]);
    assert.deepEqual(
      problemsOf(withDebit(batch, 0, (d) => ({ ...d, debtor: { ...d.debtor, iban: "BH67BMAG00001299123456" } }))),
      [["ERR_BANK_SCHEME", "debits[0].debtor.iban"]],
    );
    assert.deepEqual(problemsOf(withDebit(batch, 1, (d) => ({ ...d, mandate: { ...d.mandate, signedOn: "2025-12-06" } }))), [
      ["ERR_BANK_DATE", "debits[1].mandate.signedOn"],
    ]);
    assert.deepEqual(problemsOf(withDebit(batch, 1, (d) => ({ ...d, mandate: { ...d.mandate, id: "MANDATE 2" } }))), [
      ["ERR_BANK_IDENTIFIER", "debits[1].mandate.id"],
    ]);
    assert.deepEqual(problemsOf(withDebit(batch, 1, (d) => ({ ...d, debtor: { ...d.debtor, name: "D".repeat(71) } }))), [
      ["ERR_BANK_LENGTH", "debits[1].debtor.name"],
    ]);
    assert.deepEqual(problemsOf({ ...batch, creditor: { ...batch.creditor, creditorId: "DE98ZZZ09999999998" } }), [
      ["ERR_BANK_CREDITOR_ID", "creditor.creditorId"],
    ]);
    assert.deepEqual(problemsOf({ ...batch, collectionDate: "2025-11-30" }), [["ERR_BANK_DATE", "collectionDate"]]);
    assert.deepEqual(problemsOf({ ...batch, debits: [] }), [["ERR_BANK_BATCH", "debits"]]);
    const duplicate = withDebit(batch, 1, (d) => ({ ...d, endToEndId: batch.debits[0]!.endToEndId }));
    assert.deepEqual(problemsOf(duplicate), [["ERR_BANK_BATCH", "debits[1].endToEndId"]]);
  });

  it("refuses a BIC that ISO 9362:2014 allows but the 2009 pain.008 pattern does not", () => {
    const batch = directDebitBatch();
    assert.deepEqual(problemsOf({ ...batch, creditor: { ...batch.creditor, bic: "1234FRPP" } }), [
      ["ERR_BANK_BIC", "creditor.bic"],
    ]);
    assert.deepEqual(problemsOf(withDebit(batch, 1, (d) => ({ ...d, debtor: { ...d.debtor, bic: "BKAUAT1W" } }))), [
      ["ERR_BANK_BIC", "debits[1].debtor.bic"],
    ]);
  });

  it("refuses markup in the remittance information", () => {
    assert.deepEqual(problemsOf(withDebit(directDebitBatch(), 0, (d) => ({ ...d, remittance: "]]><Evil/>" }))), [
      ["ERR_BANK_TEXT", "debits[0].remittance"],
    ]);
  });
});

describe("pain.008 broken files fail validation", () => {
  it("reports a missing mandatory element", async () => {
    const xml = buildPain008(directDebitBatch()).replace(/\s*<Dbtr>[\s\S]*?<\/Dbtr>/, "");
    const result = await validateXml(xml, schemas.pain008);
    assert.ok(!result.ok && result.error.some((e) => /Schemas validity error/.test(e) && /Dbtr/.test(e)), JSON.stringify(result));
  });

  it("reports an amount with too many decimals and an unknown sequence type", async () => {
    const decimals = await validateXml(buildPain008(directDebitBatch()).replace(">45.99<", ">45.999999<"), schemas.pain008);
    assert.ok(
      !decimals.ok && decimals.error.some((e) => /InstdAmt/.test(e) && /fractionDigits/.test(e)),
      JSON.stringify(decimals),
    );
    const sequence = await validateXml(buildPain008(directDebitBatch()).replace(">RCUR<", ">NEXT<"), schemas.pain008);
    assert.ok(!sequence.ok && sequence.error.some((e) => /SeqTp/.test(e)), JSON.stringify(sequence));
  });
});

describe("pain.008 property: the control sum is exact and the file validates", () => {
  it("for random batches", async () => {
    const debit = fc.record({
      amount: fc.integer({ min: 1, max: 99_999_999_999 }),
      account: fc.integer({ min: 0, max: 99_999_999 }),
      withBic: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(debit, { minLength: 1, maxLength: 15 }), async (items) => {
        const batch: DirectDebitBatch = {
          ...directDebitBatch(),
          debits: items.map((item, i) => ({
            endToEndId: `DD-${i}`,
            mandate: { id: `MANDATE-${i}`, signedOn: "2024-02-29" },
            debtor: {
              name: `User ${i}`,
              iban: makeIban("DE", `500105170${String(item.account).padStart(9, "0")}`),
              ...(item.withBic ? { bic: "INGDDEFFXXX" } : {}),
            },
            amount: price(item.amount, "EUR"),
            remittance: `Peage statement ${i}`,
          })),
        };
        const xml = buildPain008(batch);
        const expected = items.reduce((sum, item) => sum + BigInt(item.amount), 0n);
        for (const text of elementTexts(xml, "CtrlSum")) {
          assert.match(text, /^[0-9]+\.[0-9]{2}$/);
          assert.equal(BigInt(text.replace(".", "")), expected);
        }
        assert.deepEqual(await validateXml(xml, schemas.pain008), { ok: true, value: undefined });
      }),
      { numRuns: 30, seed: 8 },
    );
  });
});
