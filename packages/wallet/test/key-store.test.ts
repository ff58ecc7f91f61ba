import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportPublicKeyPem, generateKeyPair, keyThumbprint } from "@peage/protocol";
import { loadKey, parseKeyFile, saveKey, sealKey, unsealKey, WalletError, DEFAULT_SCRYPT } from "../src/index.js";

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "peage-keystore-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function assertCode(error: unknown, code: string): true {
  assert.ok(error instanceof WalletError, `expected a WalletError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return true;
}

test("a sealed key opens with its passphrase and is the same key", async () => {
  for (const alg of ["ES256", "EdDSA"] as const) {
    const pair = await generateKeyPair(alg);
    const sealed = await sealKey(pair, "open sesame, please");
    assert.equal(sealed.kdf.N, 2 ** 15);
    assert.equal(sealed.kdf.r, 8);
    assert.equal(sealed.kdf.p, 1);
    assert.equal(Buffer.from(sealed.kdf.salt, "base64url").length, 16);
    assert.equal(Buffer.from(sealed.cipher.iv, "base64url").length, 12);
    assert.equal(sealed.kid, await keyThumbprint(pair.publicKey));
    const opened = await unsealKey(sealed, "open sesame, please");
    assert.equal(opened.alg, alg);
    assert.equal(exportPublicKeyPem(opened.publicKey), exportPublicKeyPem(pair.publicKey));
  }
});

test("the stored file holds no plaintext key and every sealing is salted anew", async () => {
  const pair = await generateKeyPair();
  const a = await sealKey(pair, "same passphrase");
  const b = await sealKey(pair, "same passphrase");
  assert.notEqual(a.kdf.salt, b.kdf.salt);
  assert.notEqual(a.cipher.iv, b.cipher.iv);
  assert.notEqual(a.ciphertext, b.ciphertext);
  assert.ok(!JSON.stringify(a).includes("PRIVATE KEY"));
  assert.ok(!("d" in a.publicJwk), "the stored JWK is public only");
});

test("a wrong passphrase is ERR_WALLET_LOCKED", async () => {
  const sealed = await sealKey(await generateKeyPair(), "the right one");
  await assert.rejects(unsealKey(sealed, "the wrong one"), (e) => assertCode(e, "ERR_WALLET_LOCKED"));
  await assert.rejects(unsealKey(sealed, ""), (e) => assertCode(e, "ERR_WALLET_LOCKED"));
});

test("editing the stored parameters or ciphertext makes the file unreadable, not weaker", async () => {
  const sealed = await sealKey(await generateKeyPair(), "the right one");
  const weaker = { ...sealed, kdf: { ...sealed.kdf, N: 2 ** 14 } };
  await assert.rejects(unsealKey(weaker, "the right one"), (e) => assertCode(e, "ERR_WALLET_LOCKED"));
  const otherKid = { ...sealed, kid: "A".repeat(43) };
  await assert.rejects(unsealKey(otherKid, "the right one"), (e) => assertCode(e, "ERR_WALLET_LOCKED"));
  const flipped = Buffer.from(sealed.ciphertext, "base64url");
  flipped[0] = flipped[0]! ^ 1;
  await assert.rejects(unsealKey({ ...sealed, ciphertext: flipped.toString("base64url") }, "the right one"), (e) =>
    assertCode(e, "ERR_WALLET_LOCKED"),
  );
});

test("a passphrase opens the key however its accents were composed (NFC)", async () => {
  const pair = await generateKeyPair();
  const sealed = await sealKey(pair, "p\u00e9age"); // é precomposed
  const opened = await unsealKey(sealed, "pe\u0301age"); // e + combining acute
  assert.equal(exportPublicKeyPem(opened.publicKey), exportPublicKeyPem(pair.publicKey));
});

test("the key file is written with mode 0600 in a 0700 directory and loads back", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "wallet", "key.json");
    const pair = await generateKeyPair();
    await saveKey(path, pair, "a long passphrase");
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, "wallet"))).mode & 0o777, 0o700);
    const { pair: loaded } = await loadKey(path, "a long passphrase");
    assert.equal(exportPublicKeyPem(loaded.publicKey), exportPublicKeyPem(pair.publicKey));
    await assert.rejects(loadKey(path, "not it"), (e) => assertCode(e, "ERR_WALLET_LOCKED"));
  });
});

test("a key file asking for absurd scrypt memory, or not a key file at all, is refused before any derivation", async () => {
  const sealed = await sealKey(await generateKeyPair(), "whatever it is");
  const json = JSON.parse(JSON.stringify(sealed)) as Record<string, unknown>;
  assert.throws(
    () => parseKeyFile({ ...json, kdf: { ...sealed.kdf, N: 2 ** 30 } }),
    (e) => assertCode(e, "ERR_MALFORMED"),
  );
  assert.throws(
    () => parseKeyFile({ ...json, kdf: { ...sealed.kdf, N: 1000 } }),
    (e) => assertCode(e, "ERR_MALFORMED"),
  );
  assert.throws(
    () => parseKeyFile({ ...json, kdf: { ...sealed.kdf, r: 1 } }),
    (e) => assertCode(e, "ERR_MALFORMED"),
  );
  assert.throws(
    () => parseKeyFile({ ...json, cipher: { ...sealed.cipher, iv: "AAAA" } }),
    (e) => assertCode(e, "ERR_MALFORMED"),
  );
  assert.throws(
    () => parseKeyFile({ type: "something-else" }),
    (e) => assertCode(e, "ERR_MALFORMED"),
  );
  assert.deepEqual(parseKeyFile(json), json);
  await withDir(async (dir) => {
    const path = join(dir, "key.json");
    await writeFile(path, "not json");
    await assert.rejects(loadKey(path, "x"), (e) => assertCode(e, "ERR_MALFORMED"));
    await assert.rejects(loadKey(join(dir, "missing.json"), "x"), (e) => assertCode(e, "ERR_WALLET_UNAVAILABLE"));
  });
  assert.deepEqual(DEFAULT_SCRYPT, { N: 32768, r: 8, p: 1 });
});
