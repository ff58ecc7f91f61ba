import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalBytes, canonicalHash } from "../src/canonical.js";

test("RFC 8785 §3.2.2 example serializes to the RFC's bytes", () => {
  const input = JSON.parse(
    '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
  ) as unknown;
  const expected =
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
  assert.equal(canonicalBytes(input).toString("utf8"), expected);
});

test("key order and whitespace do not change the canonical form or the hash", () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
      const reversed = Object.fromEntries(Object.entries(object).reverse());
      const respaced = JSON.parse(JSON.stringify(object, null, 3)) as unknown;
      assert.equal(canonicalHash(reversed), canonicalHash(object));
      assert.equal(canonicalHash(respaced), canonicalHash(object));
    }),
  );
});

test("the canonical form parses back to the same value", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const text = canonicalBytes(value).toString("utf8");
      assert.equal(canonicalBytes(JSON.parse(text)).toString("utf8"), text);
    }),
  );
});

test("any change to the value changes the hash", () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.integer()), fc.string(), fc.integer(), (object, key, value) => {
      fc.pre(object[key] !== value);
      assert.notEqual(canonicalHash({ ...object, [key]: value }), canonicalHash(object));
    }),
  );
});
