/**
 * CA keys encrypted at rest: `peage pki protect-key` rewrites a key encrypted (OpenSSL reads it
 * with the passphrase, not without), and `peage pki issue` then needs PEAGE_KEY_PASSPHRASE.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { assertSuccess, assertUsage, peage, tempDir } from "./helpers/cli.js";

describe("peage pki protect-key", () => {
  let work: string;
  before(async () => {
    work = tempDir();
    assertSuccess(await peage(["pki", "init", "--dir", "."], work));
    writeFileSync(join(work, "passphrase"), "a long CA passphrase\n", { mode: 0o600 });
    writeFileSync(join(work, "short"), "short\n", { mode: 0o600 });
  });

  const issue = (out: string) =>
    peage(
      [
        "pki",
        "issue",
        "--ca-cert",
        "regulator-ca.crt",
        "--ca-key",
        "regulator-ca.key",
        "--new-key",
        `${out}.key`,
        "--subject",
        `CN=${out},O=Pay`,
        "--role",
        "acknowledgment-signing",
        "--identity",
        `urn:peage:server:${out}`,
        "--out",
        `${out}.crt`,
      ],
      work,
    );

  /** Runs with PEAGE_KEY_PASSPHRASE set (the helper's child processes inherit this process's environment). */
  async function withPassphrase<T>(value: string, task: () => Promise<T>): Promise<T> {
    process.env["PEAGE_KEY_PASSPHRASE"] = value;
    try {
      return await task();
    } finally {
      delete process.env["PEAGE_KEY_PASSPHRASE"];
    }
  }

  it("encrypts a CA key in place; issuing then needs its passphrase", async () => {
    assertUsage(
      await peage(["pki", "protect-key", "--key", "regulator-ca.key", "--passphrase-file", "short"], work),
      /at least 12 characters/,
    );
    assertSuccess(await peage(["pki", "protect-key", "--key", "regulator-ca.key", "--passphrase-file", "passphrase"], work));
    const pem = readFileSync(join(work, "regulator-ca.key"), "utf8");
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    assert.equal(statSync(join(work, "regulator-ca.key")).mode & 0o777, 0o600);
    const opened = spawnSync("openssl", ["pkey", "-in", "regulator-ca.key", "-passin", "pass:a long CA passphrase", "-noout"], {
      cwd: work,
    });
    assert.equal(opened.status, 0, "OpenSSL opens it with the passphrase");
    const refused = spawnSync("openssl", ["pkey", "-in", "regulator-ca.key", "-passin", "pass:wrong", "-noout"], { cwd: work });
    assert.notEqual(refused.status, 0, "and not without it");
    assertUsage(
      await peage(["pki", "protect-key", "--key", "regulator-ca.key", "--passphrase-file", "passphrase"], work),
      /already encrypted/,
    );

    assertUsage(await issue("pay-a"), /--ca-key regulator-ca\.key is encrypted: set PEAGE_KEY_PASSPHRASE/);
    assertUsage(
      await withPassphrase("not the passphrase", () => issue("pay-b")),
      /cannot decrypt it with the passphrase in PEAGE_KEY_PASSPHRASE/,
    );
    const issued = assertSuccess(await withPassphrase("a long CA passphrase", () => issue("pay-c")));
    assert.match(issued.stdout, /urn:peage:server:pay-c/);
  });
});
