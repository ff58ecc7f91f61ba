/**
 * The server in production shape: HTTPS with a certificate re-read on reload, its acknowledgment
 * key in a PKCS#11 token (SoftHSM2, with no key file on disk), or encrypted at rest. A real
 * payment goes through and its acknowledgment verifies against the PKI.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { webcrypto } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createCrl,
  createDemoPki,
  crlToPem,
  createOffer,
  createPaymentRequest,
  exportPrivateKeyPem,
  generateKeyPair,
  price,
  signCatalog,
  systemClock,
  verifyAcknowledgment,
  writePkiDir,
  type DemoPki,
  type PartyId,
} from "@peage/protocol";
import {
  ApiScopes,
  createApiKey,
  DataDirError,
  DataDirFiles,
  initDataDir,
  loadConfig,
  loadServerIdentity,
  startServer,
  type RunningServer,
} from "../src/index.js";
import { fingerprintOf, httpsJson, makeTlsCertificate } from "./helpers/tls.js";

const SOFTHSM_MODULE = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"].find((path) =>
  existsSync(path),
);
const PIN = "246813";

/** A SoftHSM2 token store of its own, in `dir`, holding `keyFile` under the label "ack-signing". */
function softHsmToken(dir: string, keyFile: string, label = "ack-signing"): void {
  assert.ok(SOFTHSM_MODULE, "SoftHSM2 is not installed: run scripts/setup.sh as root (it installs softhsm2)");
  const conf = join(dir, "softhsm2.conf");
  if (!existsSync(conf)) {
    execFileSync("mkdir", ["-p", join(dir, "tokens")]);
    writeFileSync(conf, `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env["SOFTHSM2_CONF"] = conf;
    execFileSync("softhsm2-util", ["--init-token", "--free", "--label", "peage", "--pin", PIN, "--so-pin", "13572468"], {
      stdio: "ignore",
    });
  }
  execFileSync(
    "softhsm2-util",
    ["--import", keyFile, "--token", "peage", "--label", label, "--id", label === "ack-signing" ? "01" : "02", "--pin", PIN],
    { stdio: "ignore" },
  );
}

let dir: string;
let data: string;
let pki: DemoPki;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "peage-tls-hsm-"));
  data = join(dir, "server");
  pki = await createDemoPki();
  await writePkiDir(join(dir, "pki"), pki);
  await initDataDir({ dataDir: data, pkiDir: join(dir, "pki") });
  softHsmToken(dir, join(data, DataDirFiles.key));
  const other = await generateKeyPair("ES256");
  writeFileSync(join(dir, "other.key"), exportPrivateKeyPem(other));
  softHsmToken(dir, join(dir, "other.key"), "not-the-server");
  // The key now lives only in the token.
  unlinkSync(join(data, DataDirFiles.key));
  writeFileSync(join(data, "pin"), `${PIN}\n`, { mode: 0o600 });
  writeFileSync(
    join(data, DataDirFiles.config),
    JSON.stringify({ pkcs11: { module: SOFTHSM_MODULE, token: "peage", label: "ack-signing", pinFile: "pin" } }),
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("a signing key in a PKCS#11 token that does not fit", () => {
  // Run before any server logs in: a login is per process and token, so a wrong PIN would not be asked again.
  it("refuses to start with a wrong PIN, a missing label, or a token key that is not the certified one", async () => {
    const base = { module: SOFTHSM_MODULE!, token: "peage", label: "ack-signing", pin: PIN };
    const refuses = (key: typeof base, message: RegExp) =>
      assert.rejects(
        loadServerIdentity(data, { key: { kind: "pkcs11", ...key } }),
        (error: unknown) => error instanceof DataDirError && message.test(error.message),
      );
    await refuses({ ...base, pin: "000000" }, /cannot log in to the token "peage".*PIN/);
    await refuses({ ...base, label: "nothing" }, /no private key labelled "nothing"/);
    await refuses({ ...base, token: "elsewhere" }, /no PKCS#11 token labelled "elsewhere"/);
    await refuses({ ...base, label: "not-the-server" }, /not the key the server's certificate names/);
    await refuses({ ...base, module: join(dir, "missing.so") }, /cannot load the PKCS#11 module/);
  });
});

describe("TLS, and the signing key in a PKCS#11 token", () => {
  let server: RunningServer;
  let tls: { cert: string; key: string };

  before(async () => {
    tls = makeTlsCertificate(dir, "tls-a");
    const { config } = loadConfig(
      // Two payment threads: they check each request; the token's key signs on the event loop, the only thread that may use it.
      ["--data", data, "--port", "0", "--tls-cert", tls.cert, "--tls-key", tls.key, "--log-level", "silent", "--workers", "2"],
      {},
    );
    assert.equal(config.key.kind, "pkcs11");
    server = await startServer(config, { logs: false });
    assert.equal(server.paymentPool?.threads, 2);
    assert.equal(server.paymentPool.signsOnThreads, false);
  });
  after(async () => {
    await server?.close();
  });

  it("answers over HTTPS only, and a payment is acknowledged with the token's key and verifies", async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(tls.cert);
    await assert.rejects(fetch(`${server.url.replace("https:", "http:")}/healthz`), "plain HTTP on the TLS port gets no answer");
    assert.equal((await httpsJson(`${server.url}/healthz`, ca)).status, 200);

    const secret = await createApiKey(server.store, ApiScopes, "tls test");
    const operator = { authorization: `Bearer ${secret}` };
    const userKey = await generateKeyPair("ES256");
    const user = "urn:peage:user:tls-alice" as PartyId<"user">;
    const enrolled = await httpsJson(`${server.url}/v1/admin/users`, ca, {
      method: "POST",
      headers: operator,
      body: { user, publicKey: await webcrypto.subtle.exportKey("jwk", userKey.publicKey), mode: "prepaid", homeCurrency: "EUR" },
    });
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    const topup = await httpsJson(`${server.url}/v1/admin/users/${user}/topups`, ca, {
      method: "POST",
      headers: operator,
      body: { amount: 1000, idempotencyKey: "tls-topup-1" },
    });
    assert.equal(topup.status, 201, JSON.stringify(topup.body));

    const catalog = await signCatalog(
      pki.publisher.identity,
      [{ offerId: "launch", description: "One launch", price: price(150, "EUR"), grant: { kind: "launch" } }],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    const offer = createOffer(catalog.offers[0]!, systemClock);
    const request = await createPaymentRequest({ offer, user, server: pki.server.identity, userKey, clock: systemClock });
    const paid = await httpsJson(`${server.url}/v1/payments`, ca, { method: "POST", body: request });
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    const verified = await verifyAcknowledgment(paid.body, offer, {
      trust: pki.trustStore(),
      clock: systemClock,
      server: pki.server.identity,
    });
    assert.ok(verified.ok, JSON.stringify(verified));
    const account = await httpsJson(`${server.url}/v1/admin/users/${user}`, ca, { headers: operator });
    assert.equal(account.body.balance.amount, 850);
  });

  it("re-reads the CRLs on reload: a publisher revoked since start is refused", async () => {
    const ca = readFileSync(tls.cert);
    const secret = await createApiKey(server.store, ApiScopes, "crl test");
    const userKey = await generateKeyPair("ES256");
    const user = "urn:peage:user:crl-bob" as PartyId<"user">;
    const operator = { authorization: `Bearer ${secret}` };
    await httpsJson(`${server.url}/v1/admin/users`, ca, {
      method: "POST",
      headers: operator,
      body: { user, publicKey: await webcrypto.subtle.exportKey("jwk", userKey.publicKey), mode: "prepaid", homeCurrency: "EUR" },
    });
    await httpsJson(`${server.url}/v1/admin/users/${user}/topups`, ca, {
      method: "POST",
      headers: operator,
      body: { amount: 1000, idempotencyKey: "crl-topup-1" },
    });
    const catalog = await signCatalog(
      pki.publisher.identity,
      [{ offerId: "launch", description: "One launch", price: price(100, "EUR"), grant: { kind: "launch" } }],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    const pay = async () => {
      const request = await createPaymentRequest({
        offer: createOffer(catalog.offers[0]!, systemClock),
        user,
        server: pki.server.identity,
        userKey,
        clock: systemClock,
      });
      return httpsJson(`${server.url}/v1/payments`, ca, { method: "POST", body: request });
    };
    assert.equal((await pay()).status, 200);
    const now = Date.now();
    const crl = await createCrl({
      issuer: pki.publishersCa,
      revoked: [
        { serialNumber: pki.publisher.certificate.serialNumber, revocationDate: new Date(now - 1000), reason: "keyCompromise" },
      ],
      thisUpdate: new Date(now - 1000),
      nextUpdate: new Date(now + 7 * 86_400_000),
      crlNumber: 1,
    });
    mkdirSync(join(data, DataDirFiles.crls), { recursive: true });
    writeFileSync(join(data, DataDirFiles.crls, "publishers.pem"), crlToPem(crl));
    assert.equal((await server.reload()).crls, "reloaded (1 from 1 source(s))");
    const refused = await pay();
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.code, "ERR_REVOKED");
  });

  it("re-reads the TLS certificate on reload: new connections get the new one", async () => {
    const before = await httpsJson(`${server.url}/healthz`, readFileSync(tls.cert));
    assert.equal(before.peerFingerprint, fingerprintOf(readFileSync(tls.cert)));
    const next = makeTlsCertificate(dir, "tls-b");
    copyFileSync(next.cert, tls.cert);
    copyFileSync(next.key, tls.key);
    const report = await server.reload();
    assert.equal(report.tls, "reloaded");
    const after = await httpsJson(`${server.url}/healthz`, readFileSync(next.cert));
    assert.equal(after.peerFingerprint, fingerprintOf(readFileSync(next.cert)));
    assert.notEqual(after.peerFingerprint, before.peerFingerprint);
    // A broken certificate file is reported, and the one in force stays.
    writeFileSync(tls.cert, "not a certificate");
    assert.match((await server.reload()).tls, /^failed/);
    assert.equal((await httpsJson(`${server.url}/healthz`, readFileSync(next.cert))).status, 200);
  });
});

describe("the signing key encrypted at rest", () => {
  it("opens with its passphrase from a file or the environment, and not without it", async () => {
    const data = join(dir, "encrypted");
    await initDataDir({ dataDir: data, pkiDir: join(dir, "pki") });
    writeFileSync(join(data, DataDirFiles.key), exportPrivateKeyPem(pki.server.keys, "correct horse battery"), { mode: 0o600 });
    assert.match(readFileSync(join(data, DataDirFiles.key), "utf8"), /BEGIN ENCRYPTED PRIVATE KEY/);
    writeFileSync(join(dir, "passphrase"), "correct horse battery\n", { mode: 0o600 });

    const fromFile = loadConfig(["--data", data, "--key-passphrase-file", join(dir, "passphrase")], {}).config;
    const loaded = await loadServerIdentity(data, { key: fromFile.key });
    assert.equal(loaded.identity.id, pki.server.identity);
    const fromEnv = loadConfig(["--data", data], { PEAGE_KEY_PASSPHRASE: "correct horse battery" }).config;
    assert.equal((await loadServerIdentity(data, { key: fromEnv.key })).identity.id, pki.server.identity);

    const refuses = (passphrase: string | undefined, message: RegExp) =>
      assert.rejects(
        loadServerIdentity(data, { key: { kind: "file", passphrase } }),
        (error: unknown) => error instanceof DataDirError && message.test(error.message),
      );
    await refuses(undefined, /server.key is encrypted: give its passphrase/);
    await refuses("wrong horse", /server.key: wrong passphrase/);
    assert.equal(statSync(join(data, DataDirFiles.key)).mode & 0o777, 0o600);
  });
});
