/**
 * Reed-Solomon erasure coding and the fragment vault: any k of n shares rebuild the data, for every
 * subset; deleting or corrupting up to n − k fragments is repaired, more is detected; a fragment
 * altered by one bit, moved to another name or another store is never counted.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { VaultDestroyed } from "../src/index.js";
import { decodeShares, encodeShares, gfInv, gfMul, invert } from "../src/reed-solomon.js";
import { Vault } from "../src/fragments.js";

function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n - 1])];
}

test("GF(256): every non-zero element has an inverse, multiplication is commutative and distributes over XOR", () => {
  for (let a = 1; a < 256; a++) assert.equal(gfMul(a, gfInv(a)), 1);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      (a, b, c) => {
        assert.equal(gfMul(a, b), gfMul(b, a));
        assert.equal(gfMul(a, b ^ c), gfMul(a, b) ^ gfMul(a, c));
      },
    ),
  );
  assert.throws(() => gfInv(0), RangeError);
  assert.throws(() => invert([new Uint8Array([1, 2]), new Uint8Array([2, 4])]), /singular/);
});

test("any k of n shares rebuild the data, for every subset of several codings", () => {
  for (const [k, n] of [
    [1, 1],
    [1, 3],
    [2, 3],
    [3, 5],
    [4, 7],
    [5, 8],
  ] as const) {
    const data = new Uint8Array(randomBytes(100 + k));
    const shares = encodeShares(data, { k, n });
    assert.equal(shares.length, n);
    assert.deepEqual(
      Buffer.concat(shares.slice(0, k)).subarray(0, data.length),
      Buffer.from(data),
      "systematic: the first k shares are the data",
    );
    for (const subset of subsets(n, k)) {
      const decoded = decodeShares(new Map(subset.map((i) => [i, shares[i]!])), { k, n }, data.length);
      assert.deepEqual(Buffer.from(decoded), Buffer.from(data), `k=${k} n=${n} shares ${subset}`);
    }
    if (k > 1)
      assert.throws(() => decodeShares(new Map([[0, shares[0]!]]), { k, n }, data.length), /1 shares present, \d needed/);
  }
});

test("property: random data, random coding, random k shares", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 0, max: 8 }),
      fc.integer(),
      (data, k, extra, seed) => {
        const n = k + extra;
        const shares = encodeShares(data, { k, n });
        const order = [...Array(n).keys()].sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
        const chosen = order.slice(0, k);
        const decoded = decodeShares(new Map(chosen.map((i) => [i, shares[i]!])), { k, n }, data.length);
        assert.deepEqual(Buffer.from(decoded), Buffer.from(data));
      },
    ),
    { numRuns: 300 },
  );
  assert.throws(() => encodeShares(new Uint8Array(1), { k: 0, n: 2 }), RangeError);
  assert.throws(() => encodeShares(new Uint8Array(1), { k: 3, n: 2 }), RangeError);
  assert.throws(() => encodeShares(new Uint8Array(1), { k: 3, n: 256 }), RangeError);
});

function vaultIn(root: string, key = new Uint8Array(32).fill(7), tag = "storetag01"): Vault {
  return new Vault({ places: ["p0", "p1", "p2"].map((p) => join(root, p)), coding: { k: 3, n: 5 }, key, tag });
}

function fragmentsOf(vault: Vault): string[] {
  return vault.files().sort((a, b) => Number(/-(\d+)\.frag$/.exec(a)![1]) - Number(/-(\d+)\.frag$/.exec(b)![1]));
}

test("vault: spread over the places; up to n − k fragments deleted or altered are repaired, byte for byte", () => {
  const root = mkdtempSync(join(tmpdir(), "peage-vault-"));
  try {
    const vault = vaultIn(root);
    const secret = Buffer.from("the purse holds 450 cents and the log 7 entries");
    vault.write(1, secret);
    const files = fragmentsOf(vault);
    assert.equal(files.length, 5);
    assert.deepEqual(
      ["p0", "p1", "p2"].map((p) => readdirSync(join(root, p)).length),
      [2, 2, 1],
    );
    for (const file of files) assert.ok(!readFileSync(file).includes(Buffer.from("purse")), "fragments are encrypted");
    const original = files.map((file) => readFileSync(file));

    rmSync(files[0]!);
    const flipped = Buffer.from(original[3]!);
    flipped[20]! ^= 0x01;
    writeFileSync(files[3]!, flipped);
    const found = vault.read();
    assert.equal(found.version, 1);
    assert.deepEqual(Buffer.from(found.plaintext), secret);
    assert.deepEqual(found.damaged, [0, 3]);
    assert.equal(found.rejected, 1);
    vault.repair(found);
    assert.deepEqual(
      fragmentsOf(vault).map((file) => readFileSync(file)),
      original,
      "the repaired fragments are the originals",
    );
    assert.deepEqual(vault.read().damaged, []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("vault: more than n − k fragments lost is detected, never read as another state", () => {
  const root = mkdtempSync(join(tmpdir(), "peage-vault-"));
  try {
    const vault = vaultIn(root);
    vault.write(1, Buffer.from("version one"));
    const files = fragmentsOf(vault);
    for (const file of files.slice(0, 2))
      writeFileSync(file, Buffer.concat([readFileSync(file).subarray(0, 10), Buffer.alloc(30)]));
    rmSync(files[4]!);
    assert.throws(
      () => vault.read(),
      (error: Error) =>
        error instanceof VaultDestroyed && /no version of the store has 3 intact fragments of 5/.test(error.message),
    );
    for (const file of files) rmSync(file, { force: true });
    assert.throws(() => vault.read(), /no fragments at all: it was deleted/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("vault: fragments of another key, another store or renamed to another index do not count", () => {
  const root = mkdtempSync(join(tmpdir(), "peage-vault-"));
  try {
    const vault = vaultIn(root);
    vault.write(1, Buffer.from("mine"));
    const other = vaultIn(root, new Uint8Array(32).fill(9));
    assert.throws(() => other.read(), VaultDestroyed, "another key authenticates nothing");
    const files = fragmentsOf(vault);
    // Swap two fragments' names: each authenticates only under its own index.
    const a = readFileSync(files[0]!);
    writeFileSync(files[0]!, readFileSync(files[1]!));
    writeFileSync(files[1]!, a);
    const found = vault.read();
    assert.deepEqual(found.damaged, [0, 1]);
    assert.deepEqual(Buffer.from(found.plaintext), Buffer.from("mine"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("vault: a newer version with fewer than k fragments (a torn write) leaves the older one current", () => {
  const root = mkdtempSync(join(tmpdir(), "peage-vault-"));
  try {
    const vault = vaultIn(root);
    vault.write(1, Buffer.from("old"));
    vault.write(2, Buffer.from("new"));
    for (const file of vault.files().filter((f) => /-2-[0-2]\.frag$/.test(f))) rmSync(file);
    const found = vault.read();
    assert.equal(found.version, 1);
    assert.equal(found.others.length, 2);
    vault.clean(1);
    assert.equal(vault.files().length, 5);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
