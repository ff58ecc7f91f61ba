/**
 * What an operator watches and relies on: liveness and readiness (stale rates, expiring
 * certificates, demonstration bank details refused), the Prometheus metrics on their own
 * listener, the client's address behind a trusted proxy only, and files readable by their owner only.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createDemoPki, writePkiDir } from "@peage/protocol";
import { buildConfig, ConfigError, DataDirFiles, initDataDir, loadConfig, startServer } from "../src/index.js";
import { http, pay, paymentRequest, enrol, NOW, startFixture, type Fixture } from "./helpers/fixture.js";

const DAY = 86_400_000;

describe("the operations settings", () => {
  it("read TLS, proxies, metrics and the key's location, and refuse bad values naming the setting", () => {
    const dir = mkdtempSync(join(tmpdir(), "peage-ops-config-"));
    try {
      const config = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(["--data", dir, ...argv], env, "/srv").config;
      const base = config([]);
      assert.deepEqual(
        [base.tls, base.trustProxy, base.metrics, base.key],
        [undefined, [], { kind: "separate", host: "127.0.0.1", port: 9402 }, { kind: "file", passphrase: undefined }],
      );
      assert.deepEqual(config(["--port", "0"]).metrics, { kind: "separate", host: "127.0.0.1", port: 0 });
      assert.deepEqual(config(["--tls-cert", "c.pem", "--tls-key", "k.pem"]).tls, { cert: "/srv/c.pem", key: "/srv/k.pem" });
      assert.deepEqual(config([], { PEAGE_TRUST_PROXY: "127.0.0.1, 10.0.0.0/8,::1" }).trustProxy, [
        "127.0.0.1",
        "10.0.0.0/8",
        "::1",
      ]);
      assert.deepEqual(config(["--metrics", "[::1]:9500"]).metrics, { kind: "separate", host: "::1", port: 9500 });
      assert.deepEqual(config(["--metrics", "off"]).metrics, { kind: "off" });
      const refuses = (argv: string[], message: RegExp, env: NodeJS.ProcessEnv = {}) =>
        assert.throws(
          () => config(argv, env),
          (error: unknown) => error instanceof ConfigError && message.test(error.message),
        );
      refuses(["--tls-cert", "c.pem"], /TLS needs both --tls-cert and --tls-key/);
      refuses(["--trust-proxy", "proxy.example"], /trustProxy: "proxy.example" is not an IP address or CIDR range/);
      refuses(["--trust-proxy", "10.0.0.0/33"], /not an IP address or CIDR range/);
      refuses(["--metrics", "everywhere"], /metrics must be HOST:PORT, "public" or "off"/);
      refuses(["--key-passphrase-file", "missing"], /cannot read the key passphrase file \/srv\/missing \(ENOENT\)/);
      writeFileSync(join(dir, DataDirFiles.config), JSON.stringify({ pkcs11: { module: "/lib/x.so", token: "t", label: "l" } }));
      refuses([], /the PKCS#11 token needs its PIN: set pkcs11.pinFile in server.json or PEAGE_PKCS11_PIN/);
      assert.deepEqual(config([], { PEAGE_PKCS11_PIN: "1234" }).key, {
        kind: "pkcs11",
        module: "/lib/x.so",
        token: "t",
        label: "l",
        pin: "1234",
      });
      writeFileSync(
        join(dir, DataDirFiles.config),
        JSON.stringify({ pkcs11: { module: "/lib/x.so", token: "t", label: "l", slot: 1 } }),
      );
      refuses([], /pkcs11: unknown member\(s\) slot/, { PEAGE_PKCS11_PIN: "1234" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("readiness", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  it("is ready with fresh rates and certificates, and says why not when the rates are stale", async () => {
    const ready = await http(fx, "GET", "/readyz");
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.status, "ready");
    assert.deepEqual(ready.body.checks.map((c: { name: string }) => c.name).sort(), [
      "certificates",
      "database",
      "rates",
      "revocation",
    ]);

    fx.clock.set(new Date(NOW.getTime() + 7 * DAY));
    try {
      const stale = await http(fx, "GET", "/readyz");
      assert.equal(stale.status, 503);
      assert.equal(stale.body.status, "not-ready");
      const rates = stale.body.checks.find((c: { name: string }) => c.name === "rates");
      assert.equal(rates.ok, false);
      assert.match(
        rates.detail,
        /the rates of 2026-03-09 are 8 days old \(more than 5\): import the ECB's current file \(peage fx import\)/,
      );
      // Liveness does not depend on the rates.
      assert.equal((await http(fx, "GET", "/healthz")).status, 200);
    } finally {
      fx.clock.set(NOW);
    }
  });

  it("is not ready when a certificate expires within 30 days", async () => {
    fx.clock.set(new Date(fx.pki.server.certificate.notAfter.getTime() - 20 * DAY));
    try {
      const answer = await http(fx, "GET", "/readyz");
      assert.equal(answer.status, 503);
      const certificates = answer.body.checks.find((c: { name: string }) => c.name === "certificates");
      assert.match(certificates.detail, /the server's certificate \(20 days left\)/);
    } finally {
      fx.clock.set(NOW);
    }
  });

  it("is not ready without rates", async () => {
    const bare = await startFixture({ rates: undefined });
    try {
      const answer = await http(bare, "GET", "/readyz");
      assert.equal(answer.status, 503);
      assert.match(answer.body.checks.find((c: { name: string }) => c.name === "rates").detail, /no exchange rates loaded/);
    } finally {
      await bare.close();
    }
  });

  it("counts payments by outcome and currency, with the process's own metrics and gauges", async () => {
    const user = await enrol(fx, { balance: 1000 });
    const { request } = await paymentRequest(fx, user, "level-2");
    assert.equal((await pay(fx, request)).status, 200);
    const text = (await http(fx, "GET", "/metrics")).body as string;
    assert.match(text, /peage_payments_total\{outcome="recorded",currency="USD"\} 1/);
    for (const family of [
      "nodejs_eventloop_lag_seconds",
      "process_resident_memory_bytes",
      "peage_payment_duration_seconds_bucket",
      "peage_http_request_duration_seconds_bucket",
    ]) {
      assert.match(text, new RegExp(`^${family}`, "m"), family);
    }
    assert.match(text, /peage_certificate_expiry_seconds\{certificate="server",subject="urn:peage:server:[^"]+"\} \d+/);
    assert.match(text, /peage_certificate_expiry_seconds\{certificate="publisher",subject="urn:peage:publisher:[^"]+"\} \d+/);
    // Rates of 2026-03-09 read at 2026-03-10T12:00Z: 36 hours old.
    assert.match(text, /^peage_rates_age_seconds 129600$/m);
    assert.match(text, /peage_settlement_periods\{state="closed"\} 0/);
  });
});

describe("a started server", () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "peage-ops-"));
    await writePkiDir(join(dir, "pki"), await createDemoPki());
    await initDataDir({ dataDir: join(dir, "server"), pkiDir: join(dir, "pki") });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps its files to its owner: the data directory 0700, the database and every file in it 0600", async () => {
    const data = join(dir, "server");
    const running = await startServer(buildConfig({ dataDir: data }, { port: 0 }), { logs: false });
    await running.close();
    assert.equal(statSync(data).mode & 0o777, 0o700);
    for (const name of [
      DataDirFiles.database,
      DataDirFiles.key,
      DataDirFiles.chain,
      DataDirFiles.trustRoots,
      DataDirFiles.rates,
    ]) {
      assert.equal(statSync(join(data, name)).mode & 0o777, 0o600, name);
    }
  });

  it("answers /metrics on its own loopback listener, not the public one, and warns at start of what is not ready", async () => {
    const main = fileURLToPath(new URL("../src/main.js", import.meta.url));
    const child = spawn(process.execPath, [main, "--data", join(dir, "server"), "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines = createInterface({ input: child.stdout! });
    const seen: Record<string, unknown>[] = [];
    try {
      // Logs are written asynchronously: the warnings may come before or after the listening line.
      let listening: { url: string; metrics: string } | undefined;
      const warnings: string[] = [];
      for await (const line of lines) {
        const value = JSON.parse(line) as Record<string, unknown>;
        seen.push(value);
        if (value["event"] === "listening") listening = value as unknown as { url: string; metrics: string };
        if (value["level"] === 40) warnings.push(String(value["msg"]));
        // The readiness warnings (rates, bank) come after the revocation policy's at start.
        if (listening && warnings.filter((m) => m.startsWith("not ready: ")).length >= 2) break;
      }
      assert.ok(listening, "the server printed its listening line");
      // The data directory holds the sample rates (dated 2025) and no bank details of the operator.
      assert.ok(
        warnings.some((m) => /^not ready: rates: the rates of 2025-11-21 are \d+ days old/.test(m)),
        warnings.join("\n"),
      );
      assert.ok(
        warnings.some((m) => /^not ready: bank: the bank details are the demonstration values/.test(m)),
        warnings.join("\n"),
      );

      assert.match(listening.metrics, /^http:\/\/127\.0\.0\.1:\d+$/);
      const metrics = await fetch(`${listening.metrics}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^nodejs_eventloop_lag_seconds /m);
      assert.equal((await fetch(`${listening.url}/metrics`)).status, 404, "no metrics on the public listener");
      const ready = await fetch(`${listening.url}/readyz`);
      assert.equal(ready.status, 503);

      // SIGHUP re-reads the rates (and TLS and CRLs), each part logged.
      child.kill("SIGHUP");
      for await (const line of lines) if (/rates reloaded/.test(line)) break;
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  });

  it("refuses to start when the metrics port is taken, and leaves nothing listening", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const config = buildConfig({ dataDir: join(dir, "server") }, { port: 0, metrics: `127.0.0.1:${port}` });
      await assert.rejects(
        startServer(config, { logs: false }),
        (error: unknown) =>
          error instanceof ConfigError &&
          new RegExp(`metrics listener cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\): choose another`).test(
            error.message,
          ),
      );
      // The database was closed: a server starts on the same directory at once.
      const running = await startServer(buildConfig({ dataDir: join(dir, "server") }, { port: 0, metrics: "off" }), {
        logs: false,
      });
      assert.equal(running.metricsUrl, undefined);
      await running.close();
    } finally {
      taken.close();
    }
  });

  it("takes the client's address from X-Forwarded-For only from a trusted proxy", async () => {
    const addresses = async (trustProxy: string[]) => {
      const logs: string[] = [];
      const fx = await startFixture({ logLines: logs, ...(trustProxy.length > 0 ? { trustProxy } : {}) });
      try {
        await http(fx, "GET", "/healthz", { headers: { "x-forwarded-for": "203.0.113.7" } });
      } finally {
        await fx.close();
      }
      return logs
        .map((line) => JSON.parse(line) as { req?: { remoteAddress?: string } })
        .flatMap((entry) => (entry.req?.remoteAddress ? [entry.req.remoteAddress] : []));
    };
    assert.deepEqual(await addresses([]), ["127.0.0.1"]);
    assert.deepEqual(await addresses(["127.0.0.1"]), ["203.0.113.7"]);
    assert.deepEqual(await addresses(["10.0.0.0/8"]), ["127.0.0.1"]);
  });
});
