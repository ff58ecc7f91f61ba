/**
 * The vectors against the rules: every verification rule of the reference implementation is dropped
 * in turn (scripts/mutation.ts) and the vectors are run against the result. A rule is pinned when a
 * vector notices; every rule must be. A check that no vector can pin is either the same rule as a
 * later check (then it is one check, or none) or a rule without a vector (then the vectors need one).
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { test } from "node:test";
import { mutateLine, ruleSites, runMutation } from "../scripts/mutation.js";
import type { VectorFile } from "../scripts/vectors.js";

test("mutateLine drops a failure and keeps the line valid", () => {
  assert.equal(mutateLine('  if (x) return fail("ERR_MALFORMED", "m");'), '  if (x) void fail("ERR_MALFORMED", "m");');
  assert.equal(
    mutateLine('  return ok ? ok(1) : fail("ERR_BAD_SIGNATURE", "m");'),
    '  return ok ? ok(1) : ok(null) ?? fail("ERR_BAD_SIGNATURE", "m");',
  );
  assert.equal(mutateLine('  if (!end) throw malformed("m");'), '  if (!end) void malformed("m");');
  assert.throws(() => mutateLine("  return ok(1);"), /not a rule site/);
});

test("the certificate and PEM readers are among the rules", async () => {
  const dist = fileURLToPath(new URL("..", import.meta.url));
  const files = new Set((await ruleSites(dist)).map((site) => site.file));
  for (const file of ["src/pki/inspect.js", "src/pki/pem.js", "src/jws.js", "src/pki/validate.js"])
    assert.ok(files.has(file), file);
});

test("every verification rule is pinned by a vector", { timeout: 30 * 60_000 }, async () => {
  const dist = fileURLToPath(new URL("..", import.meta.url));
  const vectors = JSON.parse(readFileSync(join(dist, "..", "test-vectors", "vectors.json"), "utf8")) as VectorFile;
  const outcomes = await runMutation(dist, vectors, join(dist, "..", ".mutants", "test"));
  assert.ok(outcomes.length >= 90, `only ${outcomes.length} rule sites found: the site finder is broken`);
  const holes = outcomes.filter((o) => o.caughtBy === undefined);
  assert.deepEqual(
    holes.map((o) => `${o.site.file}:${o.site.line} ${o.site.text}`),
    [],
    "rules that no vector pins: add a vector to scripts/make-vectors.ts that fails without each, or merge the check with the one it repeats",
  );
});
