/**
 * `peage pki`: the demonstration tree, issuing from a request and for a new key, revocation and
 * CRLs, each checked by running the command and, where it matters, by OpenSSL as an independent
 * implementation of RFC 5280.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseCertificatesPem, parseCrlsPem, crlNumberOf } from "@peage/protocol";
import { assertError, assertInvalid, assertSuccess, assertUsage, openssl, parseJson, peage, tempDir } from "./helpers/cli.js";

const treeFiles = [
  "root.crt",
  "root.key",
  "publishers-ca.crt",
  "publishers-ca.key",
  "regulator-ca.crt",
  "regulator-ca.key",
  "publisher.crt",
  "publisher.key",
  "server.crt",
  "server.key",
  "publisher-chain.pem",
  "server-chain.pem",
];

/** openssl verify of `cert` against root.crt with the intermediates of `dir`. */
function opensslVerify(dir: string, cert: string, ...extra: string[]) {
  return openssl(
    ["verify", "-CAfile", "root.crt", "-untrusted", "publishers-ca.crt", "-untrusted", "regulator-ca.crt", ...extra, cert],
    dir,
  );
}

describe("peage pki init", () => {
  let work: string;
  before(() => {
    work = tempDir();
  });

  it("writes the tree, keys 0600, and with --json prints only the absolute paths", async () => {
    const run = assertSuccess(await peage(["pki", "init", "--dir", "tree", "--json"], work));
    const { files } = parseJson(run) as { files: Record<string, string> };
    assert.deepEqual(Object.keys(files).sort(), [...treeFiles].sort());
    for (const [name, path] of Object.entries(files)) {
      assert.equal(path, join(work, "tree", name));
      assert.ok(existsSync(path), `${name} exists`);
      if (name.endsWith(".key")) assert.equal(statSync(path).mode & 0o777, 0o600, `${name} is private`);
    }
    assert.equal(run.stderr, "");
  });

  it("makes certificates OpenSSL verifies through the intermediates, and not without them", () => {
    const dir = join(work, "tree");
    for (const leaf of ["publisher.crt", "server.crt"]) {
      const result = opensslVerify(dir, leaf);
      assert.equal(result.status, 0, result.output);
      assert.match(result.output, new RegExp(`${leaf}: OK`));
    }
    // The publisher is not certified by the root directly: without its intermediate the path breaks.
    const direct = openssl(["verify", "-CAfile", "root.crt", "publisher.crt"], dir);
    assert.notEqual(direct.status, 0);
  });

  it("refuses to overwrite a tree without --force, and replaces it with --force", async () => {
    const dir = join(work, "tree");
    const before = readFileSync(join(dir, "root.crt"), "utf8");
    const [refused, eddsa] = await Promise.all([
      peage(["pki", "init", "--dir", "tree"], work),
      peage(["pki", "init", "--dir", "tree-ed", "--alg", "EdDSA", "--publisher-name", "other-games"], work),
    ]);
    assertError(refused, "ERR_EXISTS");
    assert.match(refused.stderr, /--force/);
    assert.equal(readFileSync(join(dir, "root.crt"), "utf8"), before, "the existing tree is untouched");

    assertSuccess(eddsa);
    assert.match(eddsa.stdout, /EdDSA/);
    assert.match(eddsa.stdout, /urn:peage:publisher:other-games/);
    const ed = opensslVerify(join(work, "tree-ed"), "publisher.crt");
    assert.equal(ed.status, 0, ed.output);

    assertSuccess(await peage(["pki", "init", "--dir", "tree-ed", "--force"], work));
    assert.notEqual(readFileSync(join(work, "tree-ed", "root.crt"), "utf8"), "", "rewritten");
    assert.match(readFileSync(join(work, "tree-ed", "publisher.crt"), "utf8"), /BEGIN CERTIFICATE/);
    assert.equal(statSync(join(work, "tree-ed", "root.key")).mode & 0o777, 0o600);
  });
});

describe("peage pki issue, csr", () => {
  let work: string;
  before(async () => {
    work = tempDir();
    assertSuccess(await peage(["pki", "init", "--dir", ".", "--json"], work));
  });

  it("issues from a CSR: the request's subject and key, the CA's role and identity", async () => {
    assertSuccess(
      await peage(["pki", "csr", "--new-key", "pay-us.key", "--subject", "CN=pay-us,O=Pay US", "--out", "pay-us.csr"], work),
    );
    assert.equal(statSync(join(work, "pay-us.key")).mode & 0o777, 0o600);
    const run = assertSuccess(
      await peage(
        [
          "pki",
          "issue",
          "--ca-cert",
          "regulator-ca.crt",
          "--ca-key",
          "regulator-ca.key",
          "--csr",
          "pay-us.csr",
          "--role",
          "acknowledgment-signing",
          "--identity",
          "urn:peage:server:pay-us",
          "--out",
          "pay-us.crt",
          "--chain-out",
          "pay-us-chain.pem",
          "--days",
          "30",
          "--json",
        ],
        work,
      ),
    );
    const info = parseJson(run);
    assert.equal(info["certificate"], join(work, "pay-us.crt"));
    assert.equal(info["subject"], "CN=pay-us, O=Pay US");
    assert.deepEqual(info["roles"], ["acknowledgment-signing"]);
    assert.deepEqual(info["identities"], ["urn:peage:server:pay-us"]);
    const days = (Date.parse(String(info["notAfter"])) - Date.parse(String(info["notBefore"]))) / 86_400_000;
    assert.equal(days, 30);
    const verified = opensslVerify(work, "pay-us.crt");
    assert.equal(verified.status, 0, verified.output);
    // The chain file is what a server sends as x5c: the leaf and its intermediate, no root.
    const chain = parseCertificatesPem(readFileSync(join(work, "pay-us-chain.pem"), "utf8"));
    assert.deepEqual(
      chain.map((c) => c.subject),
      ["CN=pay-us, O=Pay US", "CN=Payment Regulator, O=Péage"],
    );
    // The key written by csr is the one certified.
    const inspected = assertSuccess(await peage(["inspect", "pay-us-chain.pem", "--trust", "root.crt"], work));
    assert.match(inspected.stdout, /^valid: certificate chain of urn:peage:server:pay-us for acknowledgment-signing/m);
  });

  it("issues for a new key, and that key signs what the certificate vouches for", async () => {
    const run = assertSuccess(
      await peage(
        [
          "pki",
          "issue",
          "--ca-cert",
          "publishers-ca.crt",
          "--ca-key",
          "publishers-ca.key",
          "--new-key",
          "beta.key",
          "--alg",
          "EdDSA",
          "--subject",
          "CN=beta,O=Beta",
          "--role",
          "offer-signing",
          "--identity",
          "urn:peage:publisher:beta",
          "--out",
          "beta.crt",
          "--chain-out",
          "beta-chain.pem",
        ],
        work,
      ),
    );
    assert.match(run.stdout, /urn:peage:publisher:beta/);
    assert.equal(statSync(join(work, "beta.key")).mode & 0o777, 0o600);
    const verified = opensslVerify(work, "beta.crt");
    assert.equal(verified.status, 0, verified.output);
    // The new key pairs with the certificate: OpenSSL derives the same public key from both.
    const fromKey = openssl(["pkey", "-in", "beta.key", "-pubout"], work).output;
    const fromCert = openssl(["x509", "-in", "beta.crt", "-noout", "-pubkey"], work).output;
    assert.equal(fromKey, fromCert);
  });

  it("issues an intermediate CA limited to the roles given", async () => {
    const run = assertSuccess(
      await peage(
        [
          "pki",
          "issue",
          "--ca-cert",
          "root.crt",
          "--ca-key",
          "root.key",
          "--new-key",
          "guild.key",
          "--subject",
          "CN=Guild,O=Guild",
          "--ca",
          "--path-length",
          "0",
          "--role",
          "offer-signing",
          "--out",
          "guild.crt",
          "--json",
        ],
        work,
      ),
    );
    const info = parseJson(run);
    assert.deepEqual(info["ca"], { pathLength: 0 });
    assert.deepEqual(info["roles"], ["offer-signing"]);
    const verified = openssl(["verify", "-CAfile", "root.crt", "guild.crt"], work);
    assert.equal(verified.status, 0, verified.output);
  });

  it("refuses what could never validate or was not asked by the key holder", async () => {
    const csr = readFileSync(join(work, "pay-us.csr"), "utf8");
    // Flip one character of the request's signature: proof of possession no longer holds.
    const lines = csr.trimEnd().split("\n");
    const last = lines.length - 2;
    const line = lines[last]!;
    const index = line.length - 6;
    lines[last] = line.slice(0, index) + (line[index] === "A" ? "B" : "A") + line.slice(index + 1);
    writeFileSync(join(work, "forged.csr"), `${lines.join("\n")}\n`);
    const [wrongRole, forged, mismatch, subject, identityKind] = await Promise.all([
      // The regulator may not certify publishers (EKU chaining).
      peage(
        [
          "pki",
          "issue",
          "--ca-cert",
          "regulator-ca.crt",
          "--ca-key",
          "regulator-ca.key",
          "--csr",
          "pay-us.csr",
          "--role",
          "offer-signing",
          "--identity",
          "urn:peage:publisher:x",
          "--out",
          "x1.crt",
        ],
        work,
      ),
      peage(
        [
          "pki",
          "issue",
          "--ca-cert",
          "regulator-ca.crt",
          "--ca-key",
          "regulator-ca.key",
          "--csr",
          "forged.csr",
          "--role",
          "acknowledgment-signing",
          "--identity",
          "urn:peage:server:x",
          "--out",
          "x2.crt",
        ],
        work,
      ),
      peage(
        [
          "pki",
          "issue",
          "--ca-cert",
          "regulator-ca.crt",
          "--ca-key",
          "publishers-ca.key",
          "--csr",
          "pay-us.csr",
          "--role",
          "acknowledgment-signing",
          "--identity",
          "urn:peage:server:x",
          "--out",
          "x3.crt",
        ],
        work,
      ),
      peage(
        [
          "pki",
          "issue",
          "--ca-cert",
          "regulator-ca.crt",
          "--ca-key",
          "regulator-ca.key",
          "--csr",
          "pay-us.csr",
          "--subject",
          "CN=someone-else",
          "--role",
          "acknowledgment-signing",
          "--identity",
          "urn:peage:server:x",
          "--out",
          "x4.crt",
        ],
        work,
      ),
      peage(
        [
          "pki",
          "issue",
          "--ca-cert",
          "regulator-ca.crt",
          "--ca-key",
          "regulator-ca.key",
          "--csr",
          "pay-us.csr",
          "--role",
          "acknowledgment-signing",
          "--identity",
          "urn:peage:publisher:x",
          "--out",
          "x5.crt",
        ],
        work,
      ),
    ]);
    assertError(wrongRole, "ERR_WRONG_ROLE");
    assertError(forged, "ERR_BAD_SIGNATURE");
    assertError(mismatch, "ERR_KEY_MISMATCH");
    assertError(subject, "ERR_SUBJECT_MISMATCH");
    assertUsage(
      identityKind,
      /--identity urn:peage:publisher:x is a publisher, but the role acknowledgment-signing is held by a server/,
    );
    for (const name of ["x1.crt", "x2.crt", "x3.crt", "x4.crt", "x5.crt"])
      assert.ok(!existsSync(join(work, name)), `${name} was not written`);
  });
});

describe("peage pki revoke, crl", () => {
  let work: string;
  let publisherSerial: string;
  before(async () => {
    work = tempDir();
    assertSuccess(await peage(["pki", "init", "--dir", ".", "--json"], work));
    publisherSerial = parseCertificatesPem(readFileSync(join(work, "publisher.crt"), "utf8"))[0]!.serialNumber.toLowerCase();
  });

  it("revokes once, idempotently, and publishes CRLs with increasing numbers", async () => {
    const first = parseJson(
      assertSuccess(
        await peage(
          [
            "pki",
            "revoke",
            "--ca-cert",
            "publishers-ca.crt",
            "--ca-key",
            "publishers-ca.key",
            "--cert",
            "publisher.crt",
            "--reason",
            "keyCompromise",
            "--json",
          ],
          work,
        ),
      ),
    );
    assert.equal(first["serialNumber"], publisherSerial);
    assert.equal(first["alreadyRevoked"], false);
    assert.equal(first["state"], join(work, "publishers-ca.key.revoked.json"));

    const again = parseJson(
      assertSuccess(
        await peage(
          [
            "pki",
            "revoke",
            "--ca-cert",
            "publishers-ca.crt",
            "--ca-key",
            "publishers-ca.key",
            "--serial",
            publisherSerial,
            "--json",
          ],
          work,
        ),
      ),
    );
    assert.equal(again["alreadyRevoked"], true);
    assert.equal(again["revocationDate"], first["revocationDate"], "the first revocation is kept");
    const state = JSON.parse(readFileSync(join(work, "publishers-ca.key.revoked.json"), "utf8")) as { revoked: unknown[] };
    assert.equal(state.revoked.length, 1);

    const crl1 = parseJson(
      assertSuccess(
        await peage(
          ["pki", "crl", "--ca-cert", "publishers-ca.crt", "--ca-key", "publishers-ca.key", "--out", "publishers.crl", "--json"],
          work,
        ),
      ),
    );
    assert.equal(crl1["crlNumber"], "1");
    assert.equal(crl1["revoked"], 1);
    const crl2 = parseJson(
      assertSuccess(
        await peage(
          [
            "pki",
            "crl",
            "--ca-cert",
            "publishers-ca.crt",
            "--ca-key",
            "publishers-ca.key",
            "--out",
            "publishers.crl",
            "--days",
            "2",
            "--json",
          ],
          work,
        ),
      ),
    );
    assert.equal(crl2["crlNumber"], "2");
    const [crl] = parseCrlsPem(readFileSync(join(work, "publishers.crl"), "utf8"));
    assert.equal(crlNumberOf(crl!), 2n);
    assert.equal(crl!.entries.length, 1);
    assert.equal(crl!.nextUpdate!.getTime() - crl!.thisUpdate.getTime(), 2 * 86_400_000);
  });

  it("makes inspect fail the revoked chain with ERR_REVOKED, as OpenSSL does, and keeps others valid", async () => {
    const [revoked, other] = await Promise.all([
      peage(["inspect", "publisher-chain.pem", "--trust", "root.crt", "--crl", "publishers.crl"], work),
      peage(["inspect", "server-chain.pem", "--trust", "root.crt", "--crl", "publishers.crl", "--json"], work),
    ]);
    assertInvalid(revoked, "ERR_REVOKED");
    assert.match(
      revoked.stderr,
      /certificate "CN=acme-games, O=Péage" .* was revoked by "CN=Publishers' Association, O=Péage" .* \(keyCompromise\)/,
    );
    assert.equal(parseJson(assertSuccess(other))["valid"], true);

    const rejected = opensslVerify(work, "publisher.crt", "-crl_check", "-CRLfile", "publishers.crl");
    assert.notEqual(rejected.status, 0);
    assert.match(rejected.output, /certificate revoked/);
    const without = opensslVerify(work, "publisher.crt");
    assert.equal(without.status, 0, "only the CRL makes the difference");
  });

  it("revokes by serial with --crl-out, and refuses a certificate or state file of another CA", async () => {
    const serverSerial = parseCertificatesPem(readFileSync(join(work, "server.crt"), "utf8"))[0]!.serialNumber;
    const run = assertSuccess(
      await peage(
        [
          "pki",
          "revoke",
          "--ca-cert",
          "regulator-ca.crt",
          "--ca-key",
          "regulator-ca.key",
          "--serial",
          serverSerial,
          "--crl-out",
          "regulator.crl",
        ],
        work,
      ),
    );
    assert.match(run.stdout, /published CRL number 1 of CN=Payment Regulator/);
    const [foreignCert, foreignState, badSerial] = await Promise.all([
      peage(["pki", "revoke", "--ca-cert", "regulator-ca.crt", "--ca-key", "regulator-ca.key", "--cert", "publisher.crt"], work),
      peage(
        [
          "pki",
          "crl",
          "--ca-cert",
          "regulator-ca.crt",
          "--ca-key",
          "regulator-ca.key",
          "--state",
          "publishers-ca.key.revoked.json",
          "--out",
          "x.crl",
        ],
        work,
      ),
      peage(["pki", "revoke", "--ca-cert", "regulator-ca.crt", "--ca-key", "regulator-ca.key", "--serial", "xyz"], work),
    ]);
    assertError(foreignCert, "ERR_NOT_ISSUED_BY_CA");
    assertError(foreignState, "ERR_STATE_MISMATCH");
    assertUsage(badSerial, /--serial: serial number "xyz" is not hexadecimal/);
    assert.ok(!existsSync(join(work, "x.crl")));
    const rejected = opensslVerify(work, "server.crt", "-crl_check", "-CRLfile", "regulator.crl");
    assert.match(rejected.output, /certificate revoked/);
  });
});
