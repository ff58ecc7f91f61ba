import { test } from "node:test";
import assert from "node:assert/strict";
import { children, singleSequence } from "../src/pki/der.js";
import { createDemoPki } from "../src/pki/index.js";

test("a certificate whose signature BIT STRING declares unused bits is malformed, for every non-zero count", async () => {
  const pki = await createDemoPki();
  const [leaf, intermediate] = pki.chainOf(pki.publisher.certificate);
  assert.ok(leaf && intermediate);
  const der = Buffer.from(leaf, "base64");
  const signature = children(der, singleSequence(der))[2];
  assert.ok(signature);
  assert.equal(der[signature.contentStart], 0);
  assert.ok((await pki.trustStore().validate([leaf, intermediate], "offer-signing", new Date())).ok);
  for (let unused = 1; unused <= 7; unused++) {
    const altered = Buffer.from(der);
    altered[signature.contentStart] = unused;
    const result = await pki.trustStore().validate([altered.toString("base64"), intermediate], "offer-signing", new Date());
    assert.equal(result.ok ? "ok" : result.error.code, "ERR_MALFORMED", `unused bits ${unused}`);
  }
});

test("an ES256 certificate whose signature integer carries a non-zero padding octet is malformed", async () => {
  // A positive INTEGER whose top bit is set is written with a leading 0x00 (X.690 §8.3.2). Changing
  // that octet must not leave another spelling of the same certificate that still validates.
  for (let attempt = 0; attempt < 20; attempt++) {
    const pki = await createDemoPki({ alg: "ES256" });
    const [leaf, intermediate] = pki.chainOf(pki.publisher.certificate);
    assert.ok(leaf && intermediate);
    const der = Buffer.from(leaf, "base64");
    const bitString = children(der, singleSequence(der))[2];
    assert.ok(bitString);
    const value = der.subarray(bitString.contentStart + 1, bitString.end);
    const padded = children(value, singleSequence(value)).find((integer) => integer.end - integer.contentStart === 33);
    if (!padded) continue;
    const altered = Buffer.from(der);
    altered[bitString.contentStart + 1 + padded.contentStart] = 0x70;
    const result = await pki.trustStore().validate([altered.toString("base64"), intermediate], "offer-signing", new Date());
    assert.equal(result.ok ? "ok" : result.error.code, "ERR_MALFORMED");
    return;
  }
  assert.fail("no ES256 signature with a padded integer in 20 certificates");
});
