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
