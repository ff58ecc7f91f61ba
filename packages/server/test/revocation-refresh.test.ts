/**
 * Revocation lists kept current: /readyz is not ready while a CRL is stale (payments are 503 then),
 * CRLs are fetched from the data directory, files and http URLs and again on a schedule, and the
 * server says at start which policy is in force and which CRLs it has.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { webcrypto } from "node:crypto";
import { createCrl, createDemoPki, systemClock, writePkiDir, x509 as x509lib, type DemoPki, type x509 } from "@peage/protocol";
import { buildConfig, initDataDir, startServer } from "../src/index.js";
import { CrlRefresher, distributionPoints } from "../src/crl-refresh.js";
import { assertProblem, enrol, http, NOW, pay, paymentRequest, startFixture } from "./helpers/fixture.js";

const DAY = 86_400_000;

const crlOf = (pki: DemoPki, crlNumber: number, nextUpdate: Date, revoked: x509.X509Certificate[] = []) =>
  createCrl({
    issuer: pki.publishersCa,
    revoked: revoked.map((c) => ({
      serialNumber: c.serialNumber,
      revocationDate: new Date(NOW.getTime() - 60_000),
      reason: "keyCompromise" as const,
    })),
    thisUpdate: new Date(NOW.getTime() - DAY),
    nextUpdate,
    crlNumber,
  });

describe("revocation freshness in readiness", () => {
  it("answers /readyz ready with the CRLs installed, and 503 naming a stale CRL, as payments are", async () => {
    const pki = await createDemoPki({ now: NOW });
    const fresh = await startFixture({ pki, crls: [await crlOf(pki, 1, new Date(NOW.getTime() + 7 * DAY))] });
    try {
      const ready = await http(fresh, "GET", "/readyz");
      const check = ready.body.checks.find((c: { name: string }) => c.name === "revocation");
      assert.equal(check?.ok, true, JSON.stringify(ready.body));
      assert.match(check.detail, /policy best-effort; .*Publisher.* until/i);
    } finally {
      await fresh.close();
    }
    const stale = await startFixture({ pki, crls: [await crlOf(pki, 1, new Date(NOW.getTime() - 60_000))] });
    try {
      const ready = await http(stale, "GET", "/readyz");
      assert.equal(ready.status, 503);
      const check = ready.body.checks.find((c: { name: string }) => c.name === "revocation");
      assert.equal(check?.ok, false);
      assert.match(check.detail, /stale.*crlSources/);
      const user = await enrol(stale, { balance: 1000 });
      assertProblem(await pay(stale, (await paymentRequest(stale, user)).request), 503, "ERR_REVOCATION_UNKNOWN", true);
    } finally {
      await stale.close();
    }
  });
});

describe("CRL refresh", () => {
  let work: string;
  let pki: DemoPki;
  let served: Buffer | undefined;
  let server: Server;
  let url: string;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), "peage-crl-refresh-"));
    pki = await createDemoPki({ now: NOW });
    server = createServer((request, response) => {
      if (request.url === "/publishers.crl" && served !== undefined)
        response.writeHead(200, { "content-type": "application/pkix-crl" }).end(served);
      else if (request.url === "/endless.crl") {
        // No Content-Length, and more than any CRL: the refresher must stop reading.
        response.writeHead(200, { "content-type": "application/pkix-crl" });
        const chunk = Buffer.alloc(1024 * 1024, 0x30);
        let sent = 0;
        const more = () => {
          while (sent < 64 && response.write(chunk)) sent++;
          if (sent >= 64) response.end();
          else response.once("drain", more);
        };
        response.on("error", () => undefined);
        more();
      } else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(work, { recursive: true, force: true });
  });

  it("installs the newest CRL from a directory and an http URL, keeps it when a source fails, and fetches again on a schedule", async () => {
    const trust = pki.trustStore({ crls: [] });
    const dir = join(work, "crls");
    mkdirSync(dir);
    writeFileSync(join(dir, "publishers.pem"), (await crlOf(pki, 1, new Date(NOW.getTime() + 7 * DAY))).toString("pem"));
    const newer = await crlOf(pki, 2, new Date(NOW.getTime() + 7 * DAY), [pki.publisher.certificate]);
    served = Buffer.from(newer.rawData);
    const failures: string[] = [];
    const refresher = new CrlRefresher({
      trust,
      directory: dir,
      sources: [`${url}/publishers.crl`, `${url}/missing.crl`],
      clock: systemClock,
      onError: (o) => failures.push(o.source),
    });
    const outcomes = await refresher.refresh();
    assert.deepEqual(
      outcomes.map((o) => [o.crls, o.error ?? "ok"]),
      [
        [1, "ok"],
        [1, "ok"],
        [0, "HTTP 404"],
      ],
    );
    assert.deepEqual(failures, [`${url}/missing.crl`]);
    assert.equal(trust.crls.length, 1);
    const revoked = await trust.validate(pki.chainOf(pki.publisher.certificate), "offer-signing", NOW);
    assert.equal(revoked.ok ? "ok" : revoked.error.code, "ERR_REVOKED", "the DER CRL from the URL, newer, replaced the file's");

    // The URL goes away: the CRL installed stays. A newer one in the directory is picked up by the schedule.
    served = undefined;
    const third = await crlOf(pki, 3, new Date(NOW.getTime() + 14 * DAY));
    writeFileSync(join(dir, "publishers.pem"), third.toString("pem"));
    refresher.start(0.05);
    try {
      for (let i = 0; i < 100 && trust.crls[0]?.nextUpdate?.getTime() !== third.nextUpdate?.getTime(); i++)
        await new Promise((r) => setTimeout(r, 50));
    } finally {
      refresher.stop();
    }
    assert.equal(trust.crls[0]?.nextUpdate?.toISOString(), third.nextUpdate?.toISOString());
    assert.ok(refresher.failures >= 2, "the failed URL is counted at every refresh");
  });

  it("refuses a source that sends more than a CRL could be, or something that is not a CRL, keeping what is installed", async () => {
    const trust = pki.trustStore({ crls: [await crlOf(pki, 1, new Date(NOW.getTime() + 7 * DAY))] });
    const garbage = join(work, "garbage.crl");
    writeFileSync(garbage, "not a CRL at all");
    const refresher = new CrlRefresher({
      trust,
      sources: [`${url}/endless.crl`, garbage, `file://${garbage}`, join(work, "absent.pem")],
      clock: systemClock,
    });
    const outcomes = await refresher.refresh();
    assert.equal(outcomes.length, 4);
    assert.match(outcomes[0]!.error ?? "", /bytes accepted/);
    for (const outcome of outcomes) assert.ok(outcome.error, outcome.source);
    assert.equal(trust.crls.length, 1);
  });

  it("reads the http and file CRL distribution points of certificates, and only those", async () => {
    const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const certificate = await x509lib.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=Distribution point test",
      notBefore: new Date(NOW.getTime() - DAY),
      notAfter: new Date(NOW.getTime() + DAY),
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509lib.CRLDistributionPointsExtension([
          "http://ca.example/publishers.crl",
          "ldap://ca.example/cn=crl",
          "file:///srv/crl.pem",
        ]),
      ],
    });
    assert.deepEqual(distributionPoints([certificate, pki.publishersCa.certificate]), [
      "file:///srv/crl.pem",
      "http://ca.example/publishers.crl",
    ]);
  });

  it("says at start which revocation policy is in force and which CRLs are installed, and warns when nothing is checked", async () => {
    const lines: string[] = [];
    const root = join(work, "start");
    const realPki = await createDemoPki();
    await writePkiDir(join(root, "pki"), realPki);
    await initDataDir({ dataDir: join(root, "server"), pkiDir: join(root, "pki") });
    const running = await startServer(buildConfig({ dataDir: join(root, "server") }, { port: 0, host: "127.0.0.1" }), {
      logStream: { write: (line) => void lines.push(line) },
    });
    try {
      const logged = lines.map((line) => JSON.parse(line) as { msg: string; policy?: string; crls?: unknown[]; level: number });
      const policy = logged.find((l) => l.msg === "revocation policy best-effort");
      assert.ok(policy, lines.join("\n"));
      assert.deepEqual(policy.crls, []);
      assert.ok(logged.some((l) => l.level === 40 && /revocation is not checked/.test(l.msg)));
    } finally {
      await running.close();
    }
  });
});
