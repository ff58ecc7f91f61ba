/**
 * Interoperability with the openssl command line, both ways: openssl verifies the chains and
 * CRLs this package issues, and TrustStore validates chains, CSRs and CRLs made by openssl alone.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { partyId } from "../src/identity.js";
import {
  TrustStore,
  createCrl,
  createDemoPki,
  crlToPem,
  issueFromCsr,
  certificateToPem,
  parseCertificatesPem,
  parseCrlsPem,
  roleOids,
  toX5c,
  writePkiDir,
} from "../src/pki/index.js";
import { DAY, HOUR, NOW, assertFails, assertOk, at, openssl, opensslAvailable, opensslOk, withTempDir } from "./helpers/pki.js";

const skip = opensslAvailable ? false : "the openssl command line is not installed";
/** openssl checks validity against the real clock, so these tests issue around the real "now". */
const realNow = () => new Date();

describe("openssl verifies what this package issues", { skip }, () => {
  for (const alg of ["ES256", "EdDSA"] as const) {
    it(`demo PKI chains pass openssl verify -x509_strict (${alg})`, async () => {
      await withTempDir(async (dir) => {
        const pki = await createDemoPki({ alg, now: realNow() });
        await writePkiDir(dir, pki);
        for (const [leaf, ca] of [
          ["publisher", "publishers-ca"],
          ["server", "regulator-ca"],
        ]) {
          const out = opensslOk(["verify", "-x509_strict", "-CAfile", "root.crt", "-untrusted", `${ca}.crt`, `${leaf}.crt`], dir);
          assert.match(out, new RegExp(`${leaf}.crt: OK`));
          // The chain file is leaf first, then its intermediate.
          opensslOk(["verify", "-x509_strict", "-CAfile", "root.crt", "-untrusted", `${leaf}-chain.pem`, `${leaf}.crt`], dir);
        }
        // openssl reads the role OIDs, under the 128-bit UUID arc, as this package wrote them.
        const text = opensslOk(["x509", "-in", "publisher.crt", "-noout", "-text"], dir);
        assert.ok(text.includes(roleOids["offer-signing"]));
        assert.ok(text.includes("URI:urn:peage:publisher:acme-games"));
      });
    });

    it(`openssl -crl_check_all honours the CRLs this package issues (${alg})`, async () => {
      await withTempDir(async (dir) => {
        const now = realNow();
        const pki = await createDemoPki({ alg, now });
        await writePkiDir(dir, pki);
        const crl = (issuer: typeof pki.root, serials: string[]) =>
          createCrl({
            issuer,
            revoked: serials.map((serialNumber) => ({ serialNumber, revocationDate: now, reason: "keyCompromise" as const })),
            thisUpdate: new Date(now.getTime() - HOUR),
            nextUpdate: new Date(now.getTime() + DAY),
            crlNumber: 1,
          });
        const crls = [
          await crl(pki.root, []),
          await crl(pki.publishersCa, [pki.publisher.certificate.serialNumber]),
          await crl(pki.regulatorCa, []),
        ];
        writeFileSync(join(dir, "crls.pem"), crls.map(crlToPem).join(""));
        opensslOk(["crl", "-in", "crls.pem", "-noout", "-CAfile", "root.crt"], dir);

        const server = openssl(
          [
            "verify",
            "-crl_check_all",
            "-CRLfile",
            "crls.pem",
            "-CAfile",
            "root.crt",
            "-untrusted",
            "regulator-ca.crt",
            "server.crt",
          ],
          dir,
        );
        assert.equal(server.status, 0, server.stdout + server.stderr);
        const publisher = openssl(
          [
            "verify",
            "-crl_check_all",
            "-CRLfile",
            "crls.pem",
            "-CAfile",
            "root.crt",
            "-untrusted",
            "publishers-ca.crt",
            "publisher.crt",
          ],
          dir,
        );
        assert.notEqual(publisher.status, 0);
        assert.match(publisher.stdout + publisher.stderr, /certificate revoked/);
      });
    });
  }
});

/** The two key types, as openssl genpkey names them, and the digest option each takes. */
const opensslKeys = {
  ES256: { genpkey: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], digest: ["-sha256"] },
  EdDSA: { genpkey: ["-algorithm", "ED25519"], digest: [] },
} as const;

const reqConfig = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
`;

/**
 * Builds root -> intermediate -> leaf with openssl req and openssl x509 only. The intermediate
 * is limited to offer-signing; the leaf carries `leafEku` (or no EKU when undefined).
 */
function opensslChain(dir: string, alg: "ES256" | "EdDSA", leafEku: string | undefined): void {
  const { genpkey, digest } = opensslKeys[alg];
  writeFileSync(join(dir, "req.cnf"), reqConfig);
  writeFileSync(
    join(dir, "ca.ext"),
    `basicConstraints = critical, CA:true, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\nextendedKeyUsage = ${roleOids["offer-signing"]}\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n`,
  );
  writeFileSync(
    join(dir, "leaf.ext"),
    [
      "basicConstraints = critical, CA:false",
      "keyUsage = critical, digitalSignature",
      ...(leafEku ? [`extendedKeyUsage = ${leafEku}`] : []),
      "subjectAltName = URI:urn:peage:publisher:x",
      "subjectKeyIdentifier = hash",
      "authorityKeyIdentifier = keyid",
      "",
    ].join("\n"),
  );
  for (const name of ["root", "ca", "leaf"]) opensslOk(["genpkey", ...genpkey, "-out", `${name}.key`], dir);
  // req.cnf names no x509_extensions section, so the root has exactly the -addext extensions.
  const rootExtensions = [
    "basicConstraints=critical,CA:true",
    "keyUsage=critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier=hash",
  ];
  opensslOk(
    [
      "req",
      "-config",
      "req.cnf",
      "-x509",
      "-new",
      "-key",
      "root.key",
      "-subj",
      "/O=OpenSSL Test/CN=OpenSSL Root",
      "-days",
      "30",
      ...digest,
      ...rootExtensions.flatMap((value) => ["-addext", value]),
      "-out",
      "root.crt",
    ],
    dir,
  );
  opensslOk(
    [
      "req",
      "-config",
      "req.cnf",
      "-new",
      "-key",
      "ca.key",
      "-subj",
      "/O=OpenSSL Test/CN=OpenSSL Publishers CA",
      "-out",
      "ca.csr",
    ],
    dir,
  );
  opensslOk(
    [
      "x509",
      "-req",
      "-in",
      "ca.csr",
      "-CA",
      "root.crt",
      "-CAkey",
      "root.key",
      "-set_serial",
      "0x1001",
      "-days",
      "30",
      ...digest,
      "-extfile",
      "ca.ext",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  opensslOk(["req", "-config", "req.cnf", "-new", "-key", "leaf.key", "-subj", "/O=OpenSSL Test/CN=x", "-out", "leaf.csr"], dir);
  opensslOk(
    [
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      "0x2002",
      "-days",
      "30",
      ...digest,
      "-extfile",
      "leaf.ext",
      "-out",
      "leaf.crt",
    ],
    dir,
  );
  opensslOk(["verify", "-x509_strict", "-CAfile", "root.crt", "-untrusted", "ca.crt", "leaf.crt"], dir);
}

const pemCert = (dir: string, name: string) => parseCertificatesPem(readFileSync(join(dir, name), "utf8"))[0]!;

describe("TrustStore validates what openssl issues", { skip }, () => {
  for (const alg of ["ES256", "EdDSA"] as const) {
    it(`a chain made with openssl req/x509 is accepted for offer-signing (${alg})`, async () => {
      await withTempDir(async (dir) => {
        opensslChain(dir, alg, roleOids["offer-signing"]);
        const store = TrustStore.fromPem(readFileSync(join(dir, "root.crt"), "utf8"));
        const x5c = [pemCert(dir, "leaf.crt"), pemCert(dir, "ca.crt")].map(toX5c);
        const validated = assertOk(await store.validate(x5c, "offer-signing", realNow()));
        assert.equal(validated.identity, "urn:peage:publisher:x");
        assert.equal(validated.alg, alg);
        assertFails(await store.validate(x5c, "acknowledgment-signing", realNow()), "ERR_WRONG_ROLE", "CN=x");
      });
    });

    it(`the same chain without the role EKU fails ERR_WRONG_ROLE (${alg})`, async () => {
      await withTempDir(async (dir) => {
        opensslChain(dir, alg, undefined);
        const store = TrustStore.fromPem(readFileSync(join(dir, "root.crt"), "utf8"));
        const x5c = [pemCert(dir, "leaf.crt"), pemCert(dir, "ca.crt")].map(toX5c);
        assertFails(await store.validate(x5c, "offer-signing", realNow()), "ERR_WRONG_ROLE", "CN=x");
      });
    });
  }

  it("a CRL made with openssl ca -gencrl revokes the leaf", async () => {
    await withTempDir(async (dir) => {
      opensslChain(dir, "ES256", roleOids["offer-signing"]);
      writeFileSync(join(dir, "index.txt"), "");
      writeFileSync(join(dir, "crlnumber"), "01\n");
      writeFileSync(
        join(dir, "ca.cnf"),
        `[ca]
default_ca = ca_default
[ca_default]
database = index.txt
crlnumber = crlnumber
certificate = ca.crt
private_key = ca.key
default_md = sha256
default_crl_days = 1
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
`,
      );
      const store = TrustStore.fromPem(readFileSync(join(dir, "root.crt"), "utf8"));
      const x5c = [pemCert(dir, "leaf.crt"), pemCert(dir, "ca.crt")].map(toX5c);
      opensslOk(["ca", "-config", "ca.cnf", "-gencrl", "-out", "empty.crl"], dir);
      store.addCrl(parseCrlsFile(dir, "empty.crl"));
      assertOk(await store.validate(x5c, "offer-signing", realNow()));
      opensslOk(["ca", "-config", "ca.cnf", "-revoke", "leaf.crt", "-crl_reason", "keyCompromise"], dir);
      opensslOk(["ca", "-config", "ca.cnf", "-gencrl", "-out", "revoked.crl"], dir);
      store.addCrl(parseCrlsFile(dir, "revoked.crl"));
      const error = assertFails(await store.validate(x5c, "offer-signing", realNow()), "ERR_REVOKED", "CN=x");
      assert.equal(error.detail["reason"], "keyCompromise");
    });
  });

  it("issues from a CSR made by openssl, and openssl verifies the result; refuses an RSA CSR", async () => {
    await withTempDir(async (dir) => {
      const pki = await createDemoPki({ now: realNow() });
      await writePkiDir(dir, pki);
      writeFileSync(join(dir, "req.cnf"), reqConfig);
      opensslOk(["genpkey", ...opensslKeys.EdDSA.genpkey, "-out", "new.key"], dir);
      opensslOk(
        ["req", "-config", "req.cnf", "-new", "-key", "new.key", "-subj", "/O=Indie/CN=newcomer", "-out", "new.csr"],
        dir,
      );
      const now = realNow();
      const cert = await issueFromCsr({
        issuer: pki.publishersCa,
        csrPem: readFileSync(join(dir, "new.csr"), "utf8"),
        roles: ["offer-signing"],
        identity: partyId("publisher", "newcomer"),
        notBefore: new Date(now.getTime() - HOUR),
        notAfter: new Date(now.getTime() + 30 * DAY),
      });
      writeFileSync(join(dir, "new.crt"), certificateToPem(cert));
      opensslOk(["verify", "-x509_strict", "-CAfile", "root.crt", "-untrusted", "publishers-ca.crt", "new.crt"], dir);
      // openssl agrees the certificate certifies the key it generated.
      const fromCert = opensslOk(["x509", "-in", "new.crt", "-noout", "-pubkey"], dir);
      const fromKey = opensslOk(["pkey", "-in", "new.key", "-pubout"], dir);
      assert.equal(fromCert, fromKey);
      assertOk(await pki.trustStore().validate([toX5c(cert), toX5c(pki.publishersCa.certificate)], "offer-signing", now));

      opensslOk(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key"], dir);
      opensslOk(["req", "-config", "req.cnf", "-new", "-key", "rsa.key", "-subj", "/CN=rsa", "-out", "rsa.csr"], dir);
      await assert.rejects(
        issueFromCsr({
          issuer: pki.publishersCa,
          csrPem: readFileSync(join(dir, "rsa.csr"), "utf8"),
          roles: ["offer-signing"],
          notBefore: NOW,
          notAfter: at(DAY),
        }),
        /neither a P-256 nor an Ed25519/,
      );
    });
  });
});

function parseCrlsFile(dir: string, name: string) {
  return parseCrlsPem(readFileSync(join(dir, name), "utf8"))[0]!;
}
