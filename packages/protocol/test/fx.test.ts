import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { convert, rateTable } from "../src/fx.js";
import { parseCurrency, price } from "../src/money.js";

const table = rateTable("EUR", "2026-11-24", { USD: "1.0845", JPY: "162.35", BHD: "0.4089", GBP: "0.8321" });
const code = parseCurrency;

test("EUR to USD rounds half away from zero to the cent", () => {
  // 9.99 EUR * 1.0845 = 10.834155 USD -> 10.83
  assert.deepEqual(convert(price(999, "EUR"), code("USD"), table)?.price, price(1083, "USD"));
  // 0.02 EUR * 1.0845 = 0.02169 -> 0.02; 10.00 EUR -> 10.845 -> 10.85 (half up)
  assert.deepEqual(convert(price(1000, "EUR"), code("USD"), table)?.price, price(1085, "USD"));
});

test("exponents differ: EUR (2) to JPY (0) and to BHD (3)", () => {
  assert.deepEqual(convert(price(250, "EUR"), code("JPY"), table)?.price, price(406, "JPY")); // 405.875
  assert.deepEqual(convert(price(250, "EUR"), code("BHD"), table)?.price, price(1022, "BHD")); // 1.02225 -> 1.022
});

test("cross rates go through EUR: USD to JPY", () => {
  // 1.00 USD = 162.35 / 1.0845 JPY = 149.700... -> 150
  const result = convert(price(100, "USD"), code("JPY"), table);
  assert.deepEqual(result?.price, price(150, "JPY"));
  assert.equal(result?.rate, "149.7003227294");
});

test("same currency is the identity; a missing rate is undefined, never a guess", () => {
  assert.deepEqual(convert(price(123, "USD"), code("USD"), table)?.price, price(123, "USD"));
  assert.equal(convert(price(123, "USD"), code("CHF"), table), undefined);
});

test("bad tables are refused", () => {
  assert.throws(() => rateTable("EUR", "2026-11-24", { USD: "1,08" }));
  assert.throws(() => rateTable("EUR", "2026-11-24", { USD: "0" }));
  assert.throws(() => rateTable("EUR", "2026-11-24", { XYZ: "1.0" }));
  assert.throws(() => rateTable("EUR", "24/11/2026", { USD: "1.0" }));
});

test("conversion is monotonic and never off by more than half a minor unit", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 ** 12 }), (amount) => {
      const a = convert(price(amount, "EUR"), code("USD"), table)?.price.amount ?? -1;
      const b = convert(price(amount + 1, "EUR"), code("USD"), table)?.price.amount ?? -1;
      assert.ok(b >= a);
      // exact value in 1/10000 of a cent: amount * 10845
      assert.ok(Math.abs(a * 10_000 - amount * 10_845) <= 5_000);
    }),
  );
});
