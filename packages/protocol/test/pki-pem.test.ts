/**
 * Encodings: PEM bundles (RFC 7468), x5c entries (RFC 7515 §4.1.6), and the demo PKI directory.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { VerificationError } from "../src/errors.js";
import {
  PkiFiles,
  certificateToPem,
  certificatesToPem,
  createDemoPki,
  fromX5c,
  parseCertificatesPem,
  parseCrlsPem,
  parsePem,
  readPkiDir,
  toX5c,
  writePkiDir,
  type DemoPki,
} from "../src/pki/index.js";
import { NOW, assertOk, withTempDir } from "./helpers/pki.js";

const isMalformed = (error: unknown) => error instanceof VerificationError && error.code === "ERR_MALFORMED";

describe("PEM and x5c", () => {
  let pki: DemoPki;
  before(async () => {
    pki = await createDemoPki({ now: NOW });
  });

  it("reads every certificate of a bundle, with explanatory text and CRLF line ends", () => {
    const bundle =
      `Péage certificates\r\n${certificateToPem(pki.publisher.certificate)}subject=whatever\n${certificateToPem(pki.publishersCa.certificate)}`.replace(
        /\n/g,
        "\r\n",
      );
    const certs = parseCertificatesPem(bundle);
    assert.deepEqual(
      certs.map((cert) => cert.subject),
      [pki.publisher.certificate.subject, pki.publishersCa.certificate.subject],
    );
  });

  it("reads base64 bodies with odd line lengths and indentation", () => {
    const body = toX5c(pki.root.certificate)
      .match(/.{1,50}/g)!
      .map((line) => `  ${line}  `)
      .join("\n");
    const [cert] = parseCertificatesPem(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`);
    assert.equal(toX5c(cert!), toX5c(pki.root.certificate));
  });

  it("rejects garbage with ERR_MALFORMED", () => {
    const valid = certificateToPem(pki.root.certificate);
    const cases = [
      "",
      "no PEM here",
      valid.replace("-----END CERTIFICATE-----", ""),
      valid.replace("-----END CERTIFICATE-----", "-----END X509 CRL-----"),
      valid.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!!!!!!!!!"),
      `-----END CERTIFICATE-----\n${valid}`,
      valid.replace("-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n"),
      `-----BEGIN CERTIFICATE-----\n${Buffer.from("not DER").toString("base64")}\n-----END CERTIFICATE-----\n`,
      `${valid}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`,
    ];
    for (const text of cases) assert.throws(() => parseCertificatesPem(text), isMalformed, JSON.stringify(text.slice(0, 80)));
    assert.throws(() => parseCrlsPem(valid), isMalformed);
  });

  it("parsePem returns the blocks with their labels", () => {
    const blocks = parsePem(certificatesToPem([pki.root.certificate, pki.regulatorCa.certificate]));
    assert.deepEqual(
      blocks.map((block) => block.label),
      ["CERTIFICATE", "CERTIFICATE"],
    );
  });

  it("x5c is base64 DER and round-trips; fromX5c refuses anything else", () => {
    const x5c = toX5c(pki.server.certificate);
    assert.match(x5c, /^[A-Za-z0-9+/]+=*$/);
    assert.equal(toX5c(fromX5c(x5c)), x5c);
    for (const bad of ["", "@@@@", x5c.slice(0, -8), x5c.replace(/\+/g, "-"), certificateToPem(pki.server.certificate)]) {
      assert.throws(() => fromX5c(bad), isMalformed);
    }
  });
});

describe("demo PKI directory", () => {
  it("writes PEM files, private keys 0600, and reads them back to the same PKI", async () => {
    for (const alg of ["ES256", "EdDSA"] as const) {
      await withTempDir(async (dir) => {
        const pki = await createDemoPki({ alg, now: NOW });
        const written = await writePkiDir(dir, pki);
        const names = written.map((path) => path.slice(dir.length + 1)).sort();
        assert.deepEqual(names, [
          "publisher-chain.pem",
          "publisher.crt",
          "publisher.key",
          "publishers-ca.crt",
          "publishers-ca.key",
          "regulator-ca.crt",
          "regulator-ca.key",
          "root.crt",
          "root.key",
          "server-chain.pem",
          "server.crt",
          "server.key",
        ]);
        for (const path of written.filter((p) => p.endsWith(".key"))) {
          assert.equal(statSync(path).mode & 0o777, 0o600, path);
          assert.match(readFileSync(path, "utf8"), /^-----BEGIN PRIVATE KEY-----/);
        }
        const chain = parseCertificatesPem(readFileSync(join(dir, "publisher-chain.pem"), "utf8"));
        assert.deepEqual(chain.map(toX5c), pki.chainOf(pki.publisher.certificate));

        const back = await readPkiDir(dir);
        assert.equal(back.alg, alg);
        assert.equal(back.publisher.identity, pki.publisher.identity);
        assert.equal(back.server.identity, pki.server.identity);
        assert.equal(toX5c(back.root.certificate), toX5c(pki.root.certificate));
        assertOk(await back.trustStore().validate(back.chainOf(back.server.certificate), "acknowledgment-signing", NOW));
        // The keys read back sign what the certificates certify: a new leaf issued with them validates under the old root.
        assertOk(await pki.trustStore().validate(back.chainOf(back.publisher.certificate), "offer-signing", NOW));
      });
    }
  });

  it("rewrites an existing key file as 0600 even if it was world-readable", async () => {
    await withTempDir(async (dir) => {
      const pki = await createDemoPki({ now: NOW });
      const path = join(dir, `${PkiFiles.root}.key`);
      writeFileSync(path, "old");
      chmodSync(path, 0o644);
      await writePkiDir(dir, pki);
      assert.equal(statSync(path).mode & 0o777, 0o600);
    });
  });

  it("refuses a directory whose key does not match its certificate", async () => {
    await withTempDir(async (dir) => {
      const pki = await createDemoPki({ now: NOW });
      await writePkiDir(dir, pki);
      writeFileSync(join(dir, "server.key"), readFileSync(join(dir, "publisher.key")));
      await assert.rejects(readPkiDir(dir), /not the one certified/);
    });
  });
});
