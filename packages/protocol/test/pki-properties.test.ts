/**
 * Property tests: the DER helpers round-trip, and no input, however broken, makes validation
 * throw or succeed when it should not.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { VerificationError } from "../src/errors.js";
import { decodeNonNegativeInteger, decodeOidSequence, encodeInteger } from "../src/pki/der.js";
import { createDemoPki, parseCertificatesPem, x509, type DemoPki, type TrustStore } from "../src/pki/index.js";
import { NOW } from "./helpers/pki.js";

const oid = fc
  .tuple(
    fc.integer({ min: 0, max: 2 }),
    fc.integer({ min: 0, max: 39 }),
    fc.array(fc.bigInt({ min: 0n, max: 2n ** 160n }), { maxLength: 6 }),
  )
  .map(([first, second, rest]) => [first, second, ...rest].join("."));

describe("DER helpers", () => {
  it("decodes every OID as the ASN.1 library encodes it, 128-bit arcs included", () => {
    fc.assert(
      fc.property(fc.array(oid, { minLength: 1, maxLength: 4 }), (oids) => {
        const encoded = new x509.ExtendedKeyUsageExtension(oids).value;
        assert.deepEqual(decodeOidSequence(new Uint8Array(encoded)), oids);
      }),
    );
  });

  it("INTEGER encoding round-trips and is minimal", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 200n }), (value) => {
        const der = encodeInteger(value);
        assert.equal(decodeNonNegativeInteger(der), value);
        // X.690 §8.3.2: no leading 0x00 unless the next octet has its high bit set.
        if (der.length > 3) assert.ok(!(der[2] === 0 && (der[3]! & 0x80) === 0));
      }),
    );
  });
});

describe("validation never throws on hostile input", () => {
  let pki: DemoPki;
  let store: TrustStore;
  let leafDer: Uint8Array;
  let intermediate: string;
  before(async () => {
    pki = await createDemoPki({ now: NOW });
    store = pki.trustStore();
    const [leaf, ca] = pki.chainOf(pki.publisher.certificate);
    leafDer = new Uint8Array(Buffer.from(leaf!, "base64"));
    intermediate = ca!;
  });

  it("random bytes are ERR_MALFORMED", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const result = await store.validate([Buffer.from(bytes).toString("base64"), intermediate], "offer-signing", NOW);
        assert.equal(result.ok, false);
        if (!result.ok) assert.equal(result.error.code, "ERR_MALFORMED");
      }),
    );
  });

  it("random strings are rejected without throwing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: "binary", maxLength: 200 }), { minLength: 1, maxLength: 6 }), async (chain) => {
        const result = await store.validate(chain, "offer-signing", NOW);
        assert.equal(result.ok, false);
      }),
    );
  });

  it("no single-byte change to a valid leaf validates", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: leafDer.length - 1 }), fc.integer({ min: 1, max: 255 }), async (index, delta) => {
        const mutated = Uint8Array.from(leafDer);
        mutated[index] = (mutated[index]! + delta) & 0xff;
        const result = await store.validate([Buffer.from(mutated).toString("base64"), intermediate], "offer-signing", NOW);
        assert.equal(result.ok, false, `byte ${index} + ${delta} still validates`);
      }),
      { numRuns: 300 },
    );
  });

  it("the PEM parser only ever throws VerificationError", () => {
    const pemish = fc.array(
      fc.oneof(
        fc.constant("-----BEGIN CERTIFICATE-----"),
        fc.constant("-----END CERTIFICATE-----"),
        fc.constant("-----BEGIN X509 CRL-----"),
        fc.base64String({ maxLength: 80 }),
        fc.string({ maxLength: 40 }),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(pemish, (lines) => {
        try {
          parseCertificatesPem(lines.join("\n"));
        } catch (error) {
          assert.ok(error instanceof VerificationError, String(error));
        }
      }),
    );
  });
});
