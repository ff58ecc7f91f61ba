/** Domestic (non-IBAN) accounts: each country's identifiers checked, and pain.001 files paying them valid against the ISO XSD. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { price } from "@peage/protocol";
import {
  abaRoutingProblem,
  BankFileError,
  buildPain001,
  clearingRoute,
  parseDomesticAccount,
  validateXml,
  type CreditTransferBatch,
  type DomesticAccount,
} from "../src/bank/index.js";
import { DEBTOR, elementTexts, schemas } from "./bank-fixtures.js";

const US = { country: "US", routingNumber: "011000015", accountNumber: "123456789", accountType: "checking" } as const;
const CA = { country: "CA", institution: "004", transit: "12345", accountNumber: "1234567" } as const;
const AU = { country: "AU", bsb: "062-000", accountNumber: "12345678" } as const;
const IN = { country: "IN", ifsc: "hdfc0000123", accountNumber: "50100012345678" } as const;
const JP = { country: "JP", bankCode: "0001", branchCode: "001", accountNumber: "1234567", accountType: "ordinary" } as const;

function account(input: unknown): DomesticAccount {
  const parsed = parseDomesticAccount(input);
  assert.ok(parsed.ok, `expected a valid account: ${JSON.stringify(parsed)}`);
  return parsed.account;
}

function problems(input: unknown): { field: string; reason: string }[] {
  const parsed = parseDomesticAccount(input);
  assert.ok(!parsed.ok, `expected a refusal of ${JSON.stringify(input)}`);
  return [...parsed.problems];
}

function batchOf(...creditors: CreditTransferBatch["transfers"][number]["creditor"][]): CreditTransferBatch {
  return {
    messageId: "PEAGE-2026-01-XCT",
    createdAt: new Date("2026-02-01T09:00:00Z"),
    initiatingParty: "Peage SAS",
    debtor: DEBTOR,
    executionDate: "2026-02-02",
    sepa: false,
    transfers: creditors.map((creditor, i) => ({
      endToEndId: `PAY-2026-01-0000${i + 1}`,
      creditor,
      amount: price(10_000 + i, i % 2 === 0 ? "USD" : "JPY"),
      remittance: "Peage payout 2026-01",
    })),
  };
}

describe("domestic accounts", () => {
  it("accepts each country's account and normalises what people type", () => {
    assert.deepEqual(account(AU), { country: "AU", bsb: "062000", accountNumber: "12345678" });
    assert.equal((account(IN) as { ifsc: string }).ifsc, "HDFC0000123");
    assert.deepEqual(clearingRoute(account(US)), {
      system: "USABA",
      memberId: "011000015",
      bban: "123456789",
      accountType: "CACC",
    });
    assert.deepEqual(clearingRoute(account(CA)), {
      system: "CACPA",
      memberId: "000412345",
      bban: "1234567",
      accountType: undefined,
    });
    assert.deepEqual(clearingRoute(account(JP)), { system: "JPZGN", memberId: "0001001", bban: "1234567", accountType: "SVGS" });
    assert.equal(clearingRoute(account(IN)).system, "INFSC");
    assert.equal(clearingRoute(account(AU)).system, "AUBSB");
  });

  it("checks the ABA routing number's check digit and Federal Reserve prefix", () => {
    assert.equal(abaRoutingProblem("021000021"), undefined);
    assert.equal(abaRoutingProblem("011000015"), undefined);
    assert.match(abaRoutingProblem("011000016")!, /wrong check digit/);
    // 3·5 + 7·0 + … : a valid checksum with a prefix no Federal Reserve routing symbol has.
    assert.match(abaRoutingProblem("500000005")!, /no Federal Reserve routing symbol/);
    assert.deepEqual(problems({ ...US, routingNumber: "011000016" }), [
      { field: "routingNumber", reason: "wrong check digit (ABA: digits weighted 3, 7, 1 must sum to a multiple of 10)" },
    ]);
  });

  it("names every wrong field", () => {
    assert.deepEqual(
      problems({ country: "US", routingNumber: "01100001", accountNumber: "12a", accountType: "current" }).map((p) => p.field),
      ["routingNumber", "accountNumber", "accountType"],
    );
    assert.match(problems({ ...CA, transit: "1234" })[0]!.reason, /branch transit number has 5 digits, this one has 4/);
    assert.match(problems({ ...IN, ifsc: "HDFC1000123" })[0]!.reason, /fifth character of an IFSC is always 0/);
    assert.match(problems({ ...AU, bsb: "06200" })[0]!.reason, /BSB has 6 digits/);
    assert.match(problems({ ...JP, accountNumber: "123456" })[0]!.reason, /7 digits/);
    assert.deepEqual(problems({ ...AU, routingNumber: "011000015" })[0]!.field, "routingNumber");
    assert.match(problems({ country: "GB", accountNumber: "12345678" })[0]!.reason, /elsewhere give an IBAN/);
    assert.deepEqual(problems({ country: "US", accountNumber: "123456789", accountType: "savings" })[0], {
      field: "routingNumber",
      reason: "the ABA routing number is missing",
    });
  });
});

describe("pain.001 to domestic accounts", () => {
  it("validates against the ISO 20022 XSD, each bank by its clearing system member id and each account as a BBAN", async () => {
    const xml = buildPain001(
      batchOf(
        { name: "Acme Software Inc", domestic: account(US), country: "US" },
        { name: "Kaisha Games KK", domestic: account(JP), country: "JP" },
      ),
    );
    assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
    assert.deepEqual(elementTexts(xml, "MmbId"), ["0001001", "011000015"]);
    assert.match(xml, /<ClrSysMmbId>\s*<ClrSysId>\s*<Cd>USABA<\/Cd>\s*<\/ClrSysId>\s*<MmbId>011000015<\/MmbId>/);
    assert.match(
      xml,
      /<CdtrAcct>\s*<Id>\s*<Othr>\s*<Id>123456789<\/Id>\s*<SchmeNm>\s*<Cd>BBAN<\/Cd>\s*<\/SchmeNm>\s*<\/Othr>\s*<\/Id>\s*<Tp>\s*<Cd>CACC<\/Cd>/,
    );
    assert.doesNotMatch(xml, /<CdtrAcct>\s*<Id>\s*<IBAN>/);
    // No creditor BIC is needed where the clearing system routes the transfer.
    assert.deepEqual(elementTexts(xml, "BICFI"), [DEBTOR.bic, DEBTOR.bic]);
  });

  it("validates for every country, mixed with IBAN creditors, with a BIC beside the clearing id when known", async () => {
    const xml = buildPain001(
      batchOf(
        { name: "Maple Apps Ltd", domestic: account(CA), country: "CA" },
        { name: "Outback Games Pty", domestic: account(AU), bic: "CTBAAU2S", country: "AU" },
        { name: "Chennai Soft Pvt", domestic: account(IN), country: "IN" },
        { name: "Acme Software Inc", iban: "GB29NWBK60161331926819", bic: "NWBKGB2L", country: "GB" },
      ),
    );
    assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
    assert.deepEqual(
      elementTexts(xml, "Cd").filter((c) => /^[A-Z]{5}$/.test(c)),
      ["AUBSB", "CACPA", "INFSC"],
    );
    assert.match(xml, /<BICFI>CTBAAU2S<\/BICFI>\s*<ClrSysMmbId>/);
  });

  it("debits each currency's transfers from the debtor's account in that currency when it has one", async () => {
    const usdAccount = { iban: "GB33BUKB20201555555555", bic: "BUKBGB22" };
    const batch = batchOf(
      { name: "Acme Software Inc", domestic: account(US), country: "US" },
      { name: "Kaisha Games KK", domestic: account(JP), country: "JP" },
    );
    const xml = buildPain001({ ...batch, debtor: { ...DEBTOR, accounts: { USD: usdAccount } } });
    assert.deepEqual(await validateXml(xml, schemas.pain001), { ok: true, value: undefined });
    // JPY first (currency order), from the main account; USD from its own.
    assert.deepEqual(elementTexts(xml, "PmtInfId"), ["PEAGE-2026-01-XCT-JPY", "PEAGE-2026-01-XCT-USD"]);
    assert.deepEqual(
      [...xml.matchAll(/<DbtrAcct>\s*<Id>\s*<IBAN>([A-Z0-9]+)<\/IBAN>/g)].map((m) => m[1]),
      [DEBTOR.iban, usdAccount.iban],
    );
    assert.throws(
      () =>
        buildPain001({ ...batch, debtor: { ...DEBTOR, accounts: { USD: { iban: "GB33BUKB20201555555556", bic: "BUKBGB22" } } } }),
      (error: unknown) => error instanceof BankFileError && error.problems[0]!.field === "debtor.accounts.USD.iban",
    );
  });

  it("refuses a domestic account in a SEPA file, an account given twice, and names each bad field", () => {
    const refused = (batch: CreditTransferBatch) => {
      try {
        buildPain001(batch);
      } catch (error) {
        assert.ok(error instanceof BankFileError);
        return error.problems.map((p) => `${p.code} ${p.field}`);
      }
      assert.fail("expected a BankFileError");
    };
    const us = account(US);
    assert.deepEqual(refused({ ...batchOf({ name: "A", domestic: us, country: "US" }), sepa: true }).slice(0, 1), [
      "ERR_BANK_SCHEME transfers[0].creditor.domestic",
    ]);
    assert.deepEqual(refused(batchOf({ name: "A", domestic: us, iban: "GB29NWBK60161331926819", country: "US" })), [
      "ERR_BANK_ACCOUNT transfers[0].creditor.domestic",
    ]);
    const forged = { ...US, routingNumber: "011000016" } as unknown as DomesticAccount;
    assert.deepEqual(refused(batchOf({ name: "A", domestic: forged, country: "US" })), [
      "ERR_BANK_ACCOUNT transfers[0].creditor.domestic.routingNumber",
    ]);
  });
});
