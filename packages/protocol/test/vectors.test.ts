/**
 * The committed test vectors (packages/protocol/test-vectors/) against the real verifiers: every
 * case must still give exactly its expected outcome, and the file must stay what the
 * specification promises (every error code exercised, no private key, companion PEM files equal
 * to the JSON).
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { isTimestamp, parseCertificatesPem, parseCrlsPem, VerificationCodes } from "../src/index.js";
import { outcomeOf, runner, VECTOR_FORMAT, VectorKinds, type Runner, type VectorFile } from "../scripts/vectors.js";

const dir = fileURLToPath(new URL("../../test-vectors/", import.meta.url));
const file = JSON.parse(readFileSync(join(dir, "vectors.json"), "utf8")) as VectorFile;

describe("test vectors: file", () => {
  it("is in the documented format, with unique ids and well-formed contexts", () => {
    assert.equal(file.format, VECTOR_FORMAT);
    assert.ok(isTimestamp(file.generatedAt));
    assert.equal(file.trustAnchors.length, 2);
    for (const pem of file.trustAnchors) assert.equal(parseCertificatesPem(pem).length, 1);
    // A CRL text is one CRL, or it is refused, and then only by cases that expect ERR_MALFORMED.
    for (const [name, pem] of Object.entries(file.crls)) {
      const users = file.cases.filter((c) => c.context.crls?.includes(name));
      const parsed = (() => {
        try {
          return parseCrlsPem(pem).length;
        } catch {
          return 0;
        }
      })();
      if (parsed === 0)
        assert.ok(users.length > 0 && users.every((c) => !c.expected.valid && c.expected.code === "ERR_MALFORMED"), name);
      else assert.equal(parsed, 1, name);
    }
    const ids = file.cases.map((c) => c.id);
    assert.equal(new Set(ids).size, ids.length, "duplicate case id");
    for (const c of file.cases) {
      assert.ok(VectorKinds.includes(c.kind), c.id);
      assert.ok(c.id.startsWith(`${c.kind}/${c.alg.toLowerCase()}/`), c.id);
      assert.ok(c.description.length > 10, c.id);
      assert.ok(isTimestamp(c.context.at), `${c.id}: context.at`);
      for (const name of c.context.crls ?? []) assert.ok(name in file.crls, `${c.id}: unknown CRL ${name}`);
      if (c.kind === "payment-request") assert.ok(c.context.server, c.id);
      if (c.kind === "acknowledgment") assert.ok(c.context.offer, c.id);
      if (c.kind === "chain") assert.ok(c.context.role, c.id);
      if (c.kind === "jws") assert.ok(c.context.typ, c.id);
    }
  });

  it("exercises every verification code, and has a valid case of every kind for both algorithms", () => {
    const codes = new Set(file.cases.flatMap((c) => (c.expected.valid ? [] : [c.expected.code])));
    assert.deepEqual(
      VerificationCodes.filter((code) => !codes.has(code)),
      [],
    );
    for (const kind of VectorKinds) {
      for (const alg of ["ES256", "EdDSA"]) {
        assert.ok(
          file.cases.some((c) => c.kind === kind && c.alg === alg && c.expected.valid),
          `no valid ${kind} case for ${alg}`,
        );
        assert.ok(
          file.cases.some((c) => c.kind === kind && c.alg === alg && !c.expected.valid),
          `no failing ${kind} case for ${alg}`,
        );
      }
    }
  });

  it("holds no private key material", () => {
    const text = readFileSync(join(dir, "vectors.json"), "utf8");
    assert.ok(!text.includes("PRIVATE KEY"));
    // A JWK with "d" is private (RFC 7518 §6.2.2.1, RFC 8037 §2); walk every object for one.
    const walk = (value: unknown, path: string): void => {
      if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${path}/${i}`));
      else if (typeof value === "object" && value !== null) {
        const record = value as Record<string, unknown>;
        assert.ok(!("kty" in record && "d" in record), `private JWK at ${path}`);
        for (const [key, item] of Object.entries(record)) walk(item, `${path}/${key}`);
      }
    };
    walk(file, "");
    for (const key of file.enrolledKeys)
      assert.deepEqual(Object.keys(key.jwk).sort(), key.jwk["kty"] === "EC" ? ["crv", "kty", "x", "y"] : ["crv", "kty", "x"]);
  });

  it("ships the same anchors, CRLs and keys as PEM and JWK files", () => {
    assert.equal(readFileSync(join(dir, "trust-anchors.pem"), "utf8"), file.trustAnchors.join(""));
    const pemFiles = readdirSync(join(dir, "crls")).sort();
    assert.deepEqual(
      pemFiles,
      Object.keys(file.crls)
        .map((name) => `${name}.pem`)
        .sort(),
    );
    for (const [name, pem] of Object.entries(file.crls))
      assert.equal(readFileSync(join(dir, "crls", `${name}.pem`), "utf8"), pem);
    const jwks = JSON.parse(readFileSync(join(dir, "enrolled-keys.json"), "utf8")) as { keys: Record<string, unknown>[] };
    assert.deepEqual(
      jwks.keys.map((k) => [k["peage:user"], k["kid"], k["x"]]),
      file.enrolledKeys.map((k) => [k.user, k.kid, k.jwk["x"]]),
    );
  });
});

describe("test vectors: cases", () => {
  let run: Runner;
  before(async () => {
    // Also checks that every enrolled kid is the RFC 7638 thumbprint of its JWK.
    run = await runner(file);
  });
  for (const c of file.cases) {
    it(`${c.id}: ${c.expected.valid ? "valid" : c.expected.code}`, async () => {
      const result = await run.run(c);
      const detail = result.ok ? "" : ` (${result.error.message})`;
      assert.deepEqual(outcomeOf(result), c.expected, `${c.description}${detail}`);
    });
  }
});
