/** IBAN (ISO 13616), BIC (ISO 9362), SEPA creditor identifier (EPC262-08) and the EPC Latin character set. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ibanLengths, isSepaCountry, toLatin, validateBic, validateCreditorId, validateIban } from "../src/bank/index.js";
import { mod97 } from "../src/bank/identifiers.js";
import { makeCreditorId, makeIban } from "./bank-fixtures.js";

function reason(result: { ok: true } | { ok: false; reason: string }): string {
  assert.equal(result.ok, false, "expected a refusal");
  return (result as { reason: string }).reason;
}

describe("validateIban", () => {
  it("accepts the registry's example IBANs and normalises them", () => {
    const examples: [string, string][] = [
      ["DE89370400440532013000", "DE"],
      ["FR1420041010050500013M02606", "FR"],
      ["GB29NWBK60161331926819", "GB"],
      ["NL91ABNA0417164300", "NL"],
      ["BE68539007547034", "BE"],
      ["IT60X0542811101000000123456", "IT"],
      ["ES9121000418450200051332", "ES"],
      ["AT611904300234573201", "AT"],
      ["CH9300762011623852957", "CH"],
      ["NO9386011117947", "NO"],
      ["MT84MALT011000012345MTLCAST001S", "MT"],
      ["BH67BMAG00001299123456", "BH"],
      ["SA0380000000608010167519", "SA"],
      ["AE070331234567890123456", "AE"],
      ["LC55HEMM000100010012001200023015", "LC"],
    ];
    for (const [iban, country] of examples) {
      assert.deepEqual(validateIban(iban), { ok: true, iban, country }, iban);
    }
    assert.deepEqual(validateIban("  de89 3704 0044 0532 0130 00 "), { ok: true, iban: "DE89370400440532013000", country: "DE" });
  });

  it("refuses wrong check digits", () => {
    assert.match(reason(validateIban("DE88370400440532013000")), /check digits/);
    assert.match(reason(validateIban("GB29NWBK60161331926818")), /check digits/);
    // Two digits swapped: the kind of typing error MOD 97-10 exists to catch.
    assert.match(reason(validateIban("DE89370400440532031000")), /check digits/);
  });

  it("refuses check digits 00, 01 and 99 even when MOD 97 would pass", () => {
    // Find an account whose correct check digits are 02 or 98: 99 ≡ 02 and 01 ≡ 98 (mod 97).
    let found = 0;
    for (let n = 0; found < 2 && n < 100_000; n++) {
      const iban = makeIban("DE", `37040044${String(n).padStart(10, "0")}`);
      const check = iban.slice(2, 4);
      const twin = check === "02" ? "99" : check === "98" ? "01" : undefined;
      if (twin === undefined) continue;
      const fake = `DE${twin}${iban.slice(4)}`;
      assert.equal(mod97(fake.slice(4) + fake.slice(0, 4)), 1, "the twin passes MOD 97");
      assert.match(reason(validateIban(fake)), /impossible/);
      assert.equal(validateIban(iban).ok, true);
      found++;
    }
    assert.equal(found, 2);
  });

  it("refuses a length wrong for the country", () => {
    assert.match(reason(validateIban("DE8937040044053201300")), /DE IBANs have 22 characters, this one has 21/);
    assert.match(reason(validateIban("NL91ABNA04171643001")), /NL IBANs have 18 characters, this one has 19/);
  });

  it("refuses bad characters, unknown countries and malformed starts", () => {
    assert.match(reason(validateIban("DE89-3704-0044-0532-0130-00")), /"-" \(U\+002D\)/);
    assert.match(reason(validateIban("DE89370400440532013ß00")), /U\+00DF/);
    assert.match(reason(validateIban("US12345678901234567890")), /US is not a country of the IBAN registry/);
    assert.match(reason(validateIban("1289370400440532013000")), /country code/);
    assert.match(reason(validateIban("DEAB370400440532013000")), /must be digits/);
    assert.match(reason(validateIban("")), /empty/);
    assert.match(reason(validateIban(42 as unknown as string)), /string/);
  });

  it("accepts every IBAN built with correct check digits, and refuses it with one digit changed", () => {
    const countries = [...ibanLengths.entries()];
    fc.assert(
      fc.property(
        fc.constantFrom(...countries),
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 34, maxLength: 34 }),
        fc.nat(),
        ([country, length], digits, at) => {
          const bban = digits.slice(0, length - 4).join("");
          const iban = makeIban(country, bban);
          assert.deepEqual(validateIban(iban), { ok: true, iban, country });
          const i = 4 + (at % bban.length);
          const changed = `${iban.slice(0, i)}${(Number(iban[i]) + 1) % 10}${iban.slice(i + 1)}`;
          assert.equal(validateIban(changed).ok, false);
        },
      ),
      { numRuns: 300, seed: 13616 },
    );
  });

  it("knows every SEPA country's IBAN length", () => {
    for (const country of [
      "AT",
      "BE",
      "BG",
      "CY",
      "CZ",
      "DE",
      "DK",
      "EE",
      "ES",
      "FI",
      "FR",
      "GR",
      "HR",
      "HU",
      "IE",
      "IT",
      "LT",
      "LU",
      "LV",
      "MT",
      "NL",
      "PL",
      "PT",
      "RO",
      "SE",
      "SI",
      "SK",
      "IS",
      "LI",
      "NO",
      "CH",
      "GB",
      "MC",
      "SM",
      "VA",
      "AD",
      "GI",
      "AL",
      "ME",
      "MD",
      "MK",
      "RS",
    ]) {
      assert.ok(ibanLengths.has(country), country);
      assert.ok(isSepaCountry(country), country);
    }
    assert.equal(isSepaCountry("US"), false);
    assert.equal(isSepaCountry("BH"), false);
  });
});

describe("validateBic", () => {
  it("accepts 8- and 11-character BICs and normalises them", () => {
    assert.deepEqual(validateBic("DEUTDEFF"), { ok: true, bic: "DEUTDEFF", country: "DE" });
    assert.deepEqual(validateBic("DEUTDEFF500"), { ok: true, bic: "DEUTDEFF500", country: "DE" });
    assert.deepEqual(validateBic("nedsza jj xxx"), { ok: true, bic: "NEDSZAJJXXX", country: "ZA" });
    // ISO 9362:2014 allows digits in the party prefix.
    assert.deepEqual(validateBic("1234GB2L"), { ok: true, bic: "1234GB2L", country: "GB" });
  });

  it("refuses wrong lengths, structure, countries and characters", () => {
    assert.match(reason(validateBic("DEUTDEF")), /8 or 11 characters, this one has 7/);
    assert.match(reason(validateBic("DEUTDEFF5")), /8 or 11 characters, this one has 9/);
    assert.match(reason(validateBic("DEUT12FF")), /country code/);
    assert.match(reason(validateBic("DEUTXXFF")), /XX .* is not an ISO 3166 country code/);
    assert.match(reason(validateBic("DEUT-DEFF")), /"-"/);
    assert.match(reason(validateBic("")), /empty/);
  });
});

describe("validateCreditorId", () => {
  it("accepts valid identifiers, with the business code left out of the check", () => {
    assert.deepEqual(validateCreditorId("DE98ZZZ09999999999"), { ok: true, creditorId: "DE98ZZZ09999999999", country: "DE" });
    assert.deepEqual(validateCreditorId("de98 abc 09999999999"), { ok: true, creditorId: "DE98ABC09999999999", country: "DE" });
    for (const [country, national] of [
      ["FR", "123456"],
      ["NL", "123456780000"],
      ["IT", "RSSMRA85T10A562S"],
      ["ES", "B12345678"],
      ["AT", "01234567890"],
    ] as const) {
      const id = makeCreditorId(country, "ZZZ", national);
      assert.deepEqual(validateCreditorId(id), { ok: true, creditorId: id, country });
    }
  });

  it("refuses wrong check digits, non-SEPA countries, bad lengths and characters", () => {
    assert.match(reason(validateCreditorId("DE98ZZZ09999999998")), /check digits/);
    assert.match(reason(validateCreditorId("DE97ZZZ09999999999")), /check digits/);
    assert.match(reason(validateCreditorId(makeCreditorId("US", "ZZZ", "123456789"))), /US is not a SEPA country/);
    assert.match(reason(validateCreditorId("DE98ZZ")), /8 to 35 characters/);
    assert.match(reason(validateCreditorId(`DE98ZZZ${"1".repeat(29)}`)), /8 to 35 characters/);
    assert.match(reason(validateCreditorId("DE98ZZZ0999999999_")), /"_"/);
    assert.match(reason(validateCreditorId("9898ZZZ09999999999")), /country code/);
  });
});

describe("EPC Latin character set", () => {
  it("keeps allowed characters and transliterates accents, ligatures and typography", () => {
    assert.deepEqual(toLatin("Abc 09 /-?:().,'+"), { ok: true, text: "Abc 09 /-?:().,'+" });
    assert.deepEqual(toLatin("Zoë Ångström & Søn, Straße"), { ok: true, text: "Zoe Angstrom + Son, Strasse" });
    assert.deepEqual(toLatin("Łódź – “Café”\t\n Œuvre_1…"), { ok: true, text: "Lodz - 'Cafe' OEuvre-1..." });
    assert.deepEqual(toLatin("  padded  "), { ok: true, text: "padded" });
    // Decomposed accents (base letter + combining mark) as some keyboards and macOS file names produce.
    assert.deepEqual(toLatin("Jose\u0301 q\u0303"), { ok: true, text: "Jose q" });
  });

  it("refuses characters without an equivalent", () => {
    assert.deepEqual(toLatin("株式会社"), { ok: false, char: "株" });
    assert.deepEqual(toLatin("a<b"), { ok: false, char: "<" });
    assert.deepEqual(toLatin("x@y"), { ok: false, char: "@" });
    assert.deepEqual(toLatin("Ωmega"), { ok: false, char: "Ω" });
    assert.deepEqual(toLatin("nul\u0000"), { ok: false, char: "\u0000" });
  });

  it("always yields only allowed characters", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (s) => {
        const result = toLatin(s);
        if (result.ok) assert.match(result.text, /^[A-Za-z0-9/\-?:().,'+ ]*$/);
      }),
      { numRuns: 500, seed: 20022 },
    );
  });
});
