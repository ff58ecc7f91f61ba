/**
 * parseStrictJson: RFC 8259 as JSON.parse reads it, minus documents that name a member twice in
 * one object (I-JSON, docs/protocol.md §2), which another parser could read differently.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeJws, JwsTypes, signJws } from "../src/jws.js";
import { generateKeyPair } from "../src/keys.js";
import { keyThumbprint } from "../src/messages/payment-request.js";
import { parseStrictJson, StrictJsonError, tryParseStrictJson } from "../src/strict-json.js";

test("documents without repeated names read as JSON.parse reads them", () => {
  for (const text of [
    '{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}',
    '[{"x":1},{"x":1}]',
    '"{\\"a\\":1,\\"a\\":2}"',
    "{}",
    "[]",
    "null",
    '{"a\\"b":1,"a":2}',
  ]) {
    assert.deepEqual(parseStrictJson(text), JSON.parse(text), text);
  }
});

test("a member name twice in one object is refused, at any depth and however it is escaped", () => {
  const cases = [
    '{"typ":"peage-offer+jws","typ":"peage-consent+jws"}',
    '{"offer":{"nonce":"a","date":"b","nonce":"c"}}',
    '[1,{"x":[{"k":1,"k":1}]}]',
    '{"nonce":"a","\\u006eonce":"b"}',
    '{ "a" : "}" , "a" : 1 }',
  ];
  for (const text of cases) {
    assert.throws(
      () => parseStrictJson(text),
      (error: unknown) => error instanceof StrictJsonError && error instanceof SyntaxError && /appears twice/.test(error.message),
      text,
    );
    assert.equal(tryParseStrictJson(text), undefined, text);
  }
});

test("text JSON.parse refuses is refused the same way", () => {
  for (const text of ["", "{", "{'a':1}", '{"a":1,}', "NaN"]) assert.throws(() => parseStrictJson(text), StrictJsonError, text);
});

test("property: any JSON.stringify output parses back equal; adding a repeated member makes it refused", () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.string(), (value, name) => {
      const text = JSON.stringify(value);
      assert.deepEqual(parseStrictJson(text), JSON.parse(text));
      const doubled = `{${JSON.stringify(name)}:${text},${JSON.stringify(name)}:0}`;
      assert.equal(tryParseStrictJson(doubled), undefined);
    }),
  );
});

test("a JWS whose protected header names typ twice is malformed, even when the last one is right", async () => {
  const key = await generateKeyPair("ES256");
  const kid = await keyThumbprint(key.publicKey);
  const token = await signJws(JwsTypes.consent, { a: 1 }, key, { kid });
  const [, payload, signature] = token.split(".");
  const header = `{"alg":"ES256","typ":"${JwsTypes.acknowledgment}","typ":"${JwsTypes.consent}","kid":"${kid}"}`;
  const forged = `${Buffer.from(header).toString("base64url")}.${payload}.${signature}`;
  const decoded = decodeJws(forged, JwsTypes.consent);
  assert.equal(decoded.ok, false);
  assert.equal(decoded.ok ? undefined : decoded.error.code, "ERR_MALFORMED");
});
