/**
 * The ISO 4217 table published with the vectors (test-vectors/iso4217.json, docs/protocol.md §2) is
 * the one the implementation uses: an outside implementation converts and validates with the
 * same exponents.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { currencyExponents } from "../src/iso4217.js";
import { exponentOf, isCurrencyCode } from "../src/index.js";

const file = JSON.parse(readFileSync(fileURLToPath(new URL("../../test-vectors/iso4217.json", import.meta.url)), "utf8")) as {
  exponents: Record<string, number>;
};

test("the published ISO 4217 table equals the implementation's", () => {
  assert.deepEqual(new Map(Object.entries(file.exponents)), new Map([...currencyExponents].sort(([a], [b]) => (a < b ? -1 : 1))));
  assert.equal(file.exponents["JPY"], 0);
  assert.equal(file.exponents["BHD"], 3);
  assert.equal(file.exponents["CLF"], 4);
  assert.equal(file.exponents["XAU"], undefined, "metals have no minor unit and are not priced in");
});

test("every code of the table is accepted, with its exponent, and no other", () => {
  for (const [code, exponent] of Object.entries(file.exponents)) {
    assert.ok(isCurrencyCode(code) && exponentOf(code) === exponent, code);
  }
  for (const code of ["XAU", "XDR", "XTS", "XXX", "HRK", "eur", "EURO"]) assert.equal(isCurrencyCode(code), false, code);
});
