/**
 * `peage server` and `peage wallet`: each starts on a data directory prepared by its package,
 * announces itself with one JSON line, answers its health check, and stops cleanly on a signal;
 * a wrong setting or passphrase is refused with its code.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDemoPki, writePkiDir } from "@peage/protocol";
import { initDataDir } from "@peage/server";
import { initWallet } from "@peage/wallet";
import { assertError, assertUsage, peage, startService, tempDir } from "./helpers/cli.js";

describe("peage server, wallet", () => {
  let work: string;
  before(async () => {
    work = tempDir();
    const pki = await createDemoPki();
    await writePkiDir(join(work, "pki"), pki);
    await initDataDir({ dataDir: join(work, "server-data"), pkiDir: join(work, "pki") });
    await initWallet(join(work, "wallet-data"), {
      passphrase: "correct horse battery",
      user: "urn:peage:user:alice",
      serverUrl: "http://127.0.0.1:8402",
      serverId: pki.server.identity,
      homeCurrency: "EUR",
      trustRootsPem: join(work, "pki", "root.crt"),
    });
    writeFileSync(join(work, "passphrase"), "correct horse battery\n", { mode: 0o600 });
    writeFileSync(join(work, "wrong-passphrase"), "battery horse correct\n", { mode: 0o600 });
  });

  it("runs the payment server until SIGTERM", async () => {
    const service = await startService(["server", "--data", "server-data", "--port", "0", "--log-level", "silent"], work);
    assert.equal(service.listening["server"], "urn:peage:server:pay-eu");
    const url = String(service.listening["url"]);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    const run = await service.stop("SIGTERM");
    assert.equal(run.code, 0, run.stderr);
    assertUsage(
      await peage(["server", "--data", "server-data", "--port", "http"], work),
      /peage server: port must be an integer from 0 to 65535/,
    );
  });

  it("runs the wallet service with its endpoint file until SIGINT, and stays locked without the passphrase", async () => {
    const endpointFile = join(work, "wallet.json");
    const service = await startService(
      ["wallet", "--data", "wallet-data", "--passphrase-file", "passphrase", "--endpoint-file", endpointFile, "--yes"],
      work,
    );
    assert.equal(service.listening["user"], "urn:peage:user:alice");
    const endpoint = JSON.parse(readFileSync(endpointFile, "utf8")) as { url: string; token: string };
    assert.equal(endpoint.url, service.listening["url"]);
    const health = await fetch(`${endpoint.url}/v1/health`);
    assert.equal(health.status, 200);
    const run = await service.stop("SIGINT");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^warning: --yes: every offer that verifies is paid without asking/m);
    assert.ok(!existsSync(endpointFile), "the endpoint file goes with the service");

    const locked = await peage(
      ["wallet", "--data", "wallet-data", "--passphrase-file", "wrong-passphrase", "--endpoint-file", endpointFile],
      work,
    );
    assertError(locked, "ERR_WALLET_LOCKED");
    assert.ok(!existsSync(endpointFile));
  });
});
