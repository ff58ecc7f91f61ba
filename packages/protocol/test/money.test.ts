import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { exponentOf, formatPrice, MoneyError, parseCurrency, parseDecimal, price } from "../src/money.js";

test("ISO 4217 exponents: JPY 0, EUR 2, BHD 3, CLF 4", () => {
  assert.equal(exponentOf(parseCurrency("JPY")), 0);
  assert.equal(exponentOf(parseCurrency("EUR")), 2);
  assert.equal(exponentOf(parseCurrency("BHD")), 3);
  assert.equal(exponentOf(parseCurrency("CLF")), 4);
});

test("unknown, lower-case and metal codes are not currencies", () => {
  for (const code of ["eur", "XXX", "XAU", "EURO", "", 978]) assert.throws(() => parseCurrency(code), MoneyError);
});

test("decimal amounts parse exactly into minor units", () => {
  assert.equal(parseDecimal("12.5", parseCurrency("EUR")), 1250);
  assert.equal(parseDecimal("0.001", parseCurrency("BHD")), 1);
  assert.equal(parseDecimal("500", parseCurrency("JPY")), 500);
  assert.throws(() => parseDecimal("1.5", parseCurrency("JPY")), /0 decimal place/);
  assert.throws(() => parseDecimal("0.123", parseCurrency("EUR")), /2 decimal place/);
  assert.throws(() => parseDecimal("-1", parseCurrency("EUR")), MoneyError);
  assert.throws(() => parseDecimal("1e3", parseCurrency("EUR")), MoneyError);
});

test("amounts are non-negative safe integers", () => {
  assert.throws(() => price(1.5, "EUR"), MoneyError);
  assert.throws(() => price(-1, "EUR"), MoneyError);
  assert.throws(() => price(2 ** 53, "EUR"), MoneyError);
  assert.throws(() => price(Number.NaN, "EUR"), MoneyError);
});

test("formatting and parsing are inverse for every amount and exponent", () => {
  fc.assert(
    fc.property(fc.constantFrom("JPY", "EUR", "BHD", "CLF"), fc.integer({ min: 0, max: 2 ** 50 }), (code, amount) => {
      const p = price(amount, code);
      const [text] = formatPrice(p).split(" ");
      assert.equal(parseDecimal(text ?? "", p.currency), amount);
    }),
  );
});
