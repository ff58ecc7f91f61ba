/**
 * RFC 8785 canonicalization: the RFC's own example, the properties a canonical form must have, and
 * byte-for-byte agreement with an independent implementation (canonicalize) on random JSON, on
 * every value the test vectors carry, and on what JSON cannot carry exactly (lone surrogates,
 * numbers that are not finite), which both refuse.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import canonicalize from "canonicalize";
import fc from "fast-check";
import { canonicalBytes, canonicalHash, canonicalJson } from "../src/canonical.js";

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

/** The library's text, or "refused" when it throws. */
function reference(value: unknown): string {
  try {
    return canonicalize(value) ?? "refused";
  } catch {
    return "refused";
  }
}

function ours(value: unknown): string {
  try {
    return canonicalJson(value);
  } catch {
    return "refused";
  }
}

/** Any UTF-16 code units: non-BMP characters (surrogate pairs) and lone surrogates included. */
const codeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map((units) => String.fromCharCode(...units));
const anyString = fc.oneof(fc.string(), fc.string({ unit: "binary" }), codeUnits);
/** Doubles of every kind: -0, subnormals, the largest and smallest, NaN and the infinities. */
const anyNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(
    -0,
    0,
    1e21,
    1e-7,
    1e-6,
    2 ** 53,
    -(2 ** 53),
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    333333333.33333329,
    NaN,
    Infinity,
  ),
);
const { json } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: "small" },
    anyString,
    anyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("json")),
    fc.dictionary(anyString, tie("json")),
  ),
}));

test("the canonical form is canonicalize's, byte for byte, on random JSON (any code units, any double)", () => {
  fc.assert(
    fc.property(json, (value) => {
      assert.equal(ours(value), reference(value));
    }),
    { numRuns: 2000 },
  );
});

test("objects already in canonical order take the one-call path and still equal canonicalize's form", () => {
  fc.assert(
    fc.property(json, (value) => {
      // Parsing canonical text gives members in canonical order: what a verified payload looks like.
      const text = ours(value);
      fc.pre(text !== "refused");
      const parsed = JSON.parse(text) as unknown;
      assert.equal(canonicalJson(parsed), text);
      assert.equal(canonicalJson(parsed), reference(parsed));
    }),
    { numRuns: 1000 },
  );
});

test("member names that look like integers sort as text, not as numbers", () => {
  // Objects list integer-like names first, in numeric order: "2" before "10", which RFC 8785 puts after.
  const value = { "10": 1, "2": 2, a: 3, "": 4, "1": { b: 1, "0": 0 } };
  assert.equal(canonicalJson(value), '{"":4,"1":{"0":0,"b":1},"10":1,"2":2,"a":3}');
  assert.equal(canonicalJson(value), reference(value));
  assert.equal(canonicalJson(JSON.parse('{"1":1,"10":2,"a":3}')), '{"1":1,"10":2,"a":3}');
});

test("what JSON cannot carry exactly is refused, as canonicalize refuses it", () => {
  for (const value of [
    "\ud800",
    "a\udc00b",
    { "\ud83d": 1 },
    ["\ude00\ud83d"],
    NaN,
    -Infinity,
    { a: Infinity },
    undefined,
    10n,
  ]) {
    assert.throws(() => canonicalJson(value), TypeError, String(value));
    assert.equal(reference(value), "refused");
  }
  const cycle: Record<string, unknown> = { a: 1 };
  cycle["self"] = cycle;
  assert.throws(() => canonicalJson(cycle), /cycle/);
  // A well-formed pair is one character, written as is; -0 is written 0.
  assert.equal(canonicalJson(["\ud83d\ude00", -0, 1e21, 1e-7]), '["\ud83d\ude00",0,1e+21,1e-7]');
});

test("values with toJSON, and members JSON leaves out, are written as canonicalize writes them", () => {
  const value = { when: new Date(0), gone: undefined, list: [undefined, 1], nested: { toJSON: () => ({ b: 1, a: 2 }) } };
  assert.equal(canonicalJson(value), reference(value));
  assert.equal(canonicalJson(value), '{"list":[null,1],"nested":{"a":2,"b":1},"when":"1970-01-01T00:00:00.000Z"}');
});

test("every JSON value the test vectors carry, and every token payload in them, is canonicalized as canonicalize does", () => {
  const file = JSON.parse(readFileSync(new URL("../../test-vectors/vectors.json", import.meta.url), "utf8")) as unknown;
  let values = 0;
  let payloads = 0;
  const visit = (value: unknown): void => {
    values++;
    assert.equal(ours(value), reference(value));
    if (typeof value === "string" && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value)) {
      const text = Buffer.from(value.split(".")[1]!, "base64url").toString("utf8");
      let payload: unknown;
      try {
        payload = JSON.parse(text) as unknown;
      } catch {
        return;
      }
      payloads++;
      assert.equal(ours(payload), reference(payload));
    }
    if (typeof value === "object" && value !== null) for (const item of Object.values(value)) visit(item);
  };
  visit(file);
  assert.ok(values > 10_000 && payloads > 300, `${values} values, ${payloads} payloads`);
});
