/**
 * `peage demo`: the whole loop with the real server, wallet and example program, run as the
 * compiled command. With --yes the run is deterministic: the launch, periods of play and a new
 * level are acknowledged, one renewal is declined, the last level is refused for lack of funds,
 * and the server's database holds exactly the acknowledged payments. Without --data nothing is
 * left behind, also when the run is interrupted.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PartyId } from "@peage/protocol";
import { DataDirFiles, SqliteStore } from "@peage/server";
import { assertError, assertUsage, cliPath, peage, tempDir, type Run } from "./helpers/cli.js";

/** The official ISO 20022 schemas beside the checkout, not the server's copies of them. */
const OFFICIAL_SCHEMAS =
  process.env["PEAGE_ISO20022_SCHEMAS"] ?? fileURLToPath(new URL("../../../../../shared/schemas/iso20022/", import.meta.url));

interface Price {
  amount: number;
  currency: string;
}

interface Step {
  step: number;
  offerId: string;
  trigger: string;
  description: string;
  price: Price;
  converted?: Price;
  outcome: string;
  code: string | null;
  paymentId?: string;
  serverTime?: string;
  charged?: Price;
  balanceBefore: Price;
  balanceAfter: Price;
  expected: boolean;
}

interface Report {
  ok: boolean;
  mode: string;
  user: { id: string; homeCurrency: string };
  topup: Price;
  steps: Step[];
  totals: { acknowledged: number; declined: number; insufficientFunds: number; charged: Price };
  balance: { expected: Price; server: Price };
  publisher: string;
  serverPayments: { paymentId: string; charged: Price; serverTime: string }[];
  postpaid: { user: string; mode: string; paymentId: string; charged: Price };
  program: { exitCode: number | null; ending?: string };
  checks: { check: string; ok: boolean }[];
  data: { dir: string; kept: boolean };
}

/** A demo run takes about fifteen seconds on an idle machine; more than this is stuck. */
const RUN_TIMEOUT_MS = 90_000;

/** Runs `peage ...args` with extra environment (TMPDIR); `onStdout` sees the output as it comes. */
function demo(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      onStdout?.(stdout, child);
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end();
  });
}

const show = (run: Run) => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;

describe("peage demo", () => {
  it("--yes --json --data DIR: acknowledged launch, periods and level, one decline, one lack of funds, and the server's books agree", async () => {
    const dir = join(tempDir(), "demo-data");
    const run = await demo(["demo", "--yes", "--json", "--data", dir], {});
    assert.equal(run.code, 0, show(run));
    const report = JSON.parse(run.stdout) as Report;
    assert.equal(report.ok, true, show(run));
    assert.ok(
      report.checks.every((c) => c.ok),
      JSON.stringify(report.checks),
    );
    assert.equal(report.mode, "yes");
    assert.equal(report.user.id, "urn:peage:user:alice");
    const home = report.user.homeCurrency;
    const { steps } = report;

    const acknowledged = steps.filter((s) => s.outcome === "acknowledged");
    assert.equal(steps[0]?.offerId, "launch");
    assert.equal(steps[0]?.outcome, "acknowledged");
    const periods = acknowledged.filter((s) => s.offerId === "play-time");
    assert.ok(periods.length >= 2, "periods of play time are paid");
    assert.ok(
      periods.some((s) => s.trigger === "period-renewal"),
      "a period is renewed when it ends",
    );
    assert.ok(
      acknowledged.some((s) => s.offerId === "level-2" && s.trigger === "event"),
      "the new level is paid",
    );
    for (const step of acknowledged) {
      assert.match(step.paymentId ?? "", /^pay_/);
      assert.ok(!Number.isNaN(Date.parse(step.serverTime ?? "")), "the server's time of payment");
      assert.equal(step.charged?.currency, home);
      assert.equal(step.code, null);
      // The offers are in EUR and the user's home currency is not: each shows its converted price.
      assert.equal(step.price.currency, "EUR");
      assert.deepEqual(step.converted, step.charged);
    }

    const declined = steps.filter((s) => s.code === "ERR_DECLINED");
    assert.equal(declined.length, 1);
    assert.equal(declined[0]!.offerId, "play-time");
    assert.equal(declined[0]!.outcome, "declined");
    const short = steps.filter((s) => s.code === "ERR_INSUFFICIENT_FUNDS");
    assert.equal(short.length, 1);
    assert.equal(short[0]!.offerId, "level-3");
    assert.ok(short[0]!.balanceBefore.amount < (short[0]!.converted?.amount ?? 0), "the balance does not cover the last level");
    assert.equal(steps.filter((s) => s.code !== null).length, 2, "no other failure");
    assert.ok(steps.every((s) => s.expected));
    assert.equal(report.program.exitCode, 0);
    assert.equal(report.program.ending, "locked");

    // Exact minor units: the top-up less every acknowledged charge, as the server holds it.
    const charged = acknowledged.reduce((sum, s) => sum + s.charged!.amount, 0);
    assert.equal(report.topup.currency, home);
    assert.equal(report.totals.charged.amount, charged);
    assert.equal(report.balance.server.amount, report.topup.amount - charged);
    assert.deepEqual(report.balance.expected, report.balance.server);
    assert.deepEqual(steps.at(-1)!.balanceAfter, report.balance.server);

    // The server's database, left in DIR/server, holds exactly the acknowledged payments.
    const database = join(dir, "server", DataDirFiles.database);
    assert.ok(existsSync(database));
    const store = SqliteStore.open(database, { readonly: true });
    try {
      const page = await store.listPayments({ user: report.user.id as PartyId<"user">, limit: 1000 });
      assert.deepEqual(page.payments.map((p) => p.id).sort(), acknowledged.map((s) => s.paymentId).sort());
      assert.deepEqual(page.payments.map((p) => p.charged.amount).sort(), acknowledged.map((s) => s.charged!.amount).sort());
      const user = await store.getUser(report.user.id as PartyId<"user">);
      assert.equal(user?.balance, report.topup.amount - charged);
    } finally {
      await store.close();
    }

    // The layout is described, and the wallet's endpoint file went with the wallet.
    const manifest = JSON.parse(readFileSync(join(dir, "demo.json"), "utf8")) as {
      status: string;
      ok: boolean;
      layout: Record<string, string>;
      payments: string[];
    };
    assert.equal(manifest.status, "finished");
    assert.equal(manifest.ok, true);
    assert.equal(manifest.layout["serverDatabase"], join("server", DataDirFiles.database));
    assert.deepEqual(manifest.payments.sort(), acknowledged.map((s) => s.paymentId).sort());
    for (const name of ["pki", "wallet", "catalog.json", "operator-key", "wallet-passphrase"])
      assert.ok(existsSync(join(dir, name)), name);
    assert.ok(!existsSync(join(dir, "wallet", "endpoint.json")));

    // The postpaid user paid the launch; settling the demo's month writes a pain.001 paying the
    // publisher and a pain.008 collecting from the postpaid user, both valid against the official XSDs.
    assert.equal(report.postpaid.mode, "postpaid");
    assert.match(report.postpaid.paymentId, /^pay_/);
    const period = report.serverPayments[0]!.serverTime.slice(0, 7);
    const settled = await peage(
      ["settle", "--data", dir, "--period", period, "--close-now", "--out", "settlement", "--json"],
      dir,
    );
    assert.equal(settled.code, 0, show(settled));
    const summary = JSON.parse(settled.stdout) as {
      files: string[];
      payouts: { publisher: string }[];
      collections: { user: string; method: string }[];
    };
    assert.deepEqual(
      summary.payouts.map((p) => p.publisher),
      [report.publisher],
    );
    assert.deepEqual(
      summary.collections.map((c) => [c.user, c.method]),
      [[report.postpaid.user, "sepa-direct-debit"]],
    );
    const bankFiles: [string, string][] = [
      [`pain.001-${period}-sepa.xml`, "pain.001.001.09.epc-sct.xsd"],
      [`pain.008-${period}.xml`, "pain.008.001.02.xsd"],
    ];
    for (const [file, schema] of bankFiles) {
      assert.ok(summary.files.includes(join("bank", file)), `${file} is written`);
      const lint = spawnSync(
        "xmllint",
        ["--noout", "--nonet", "--schema", join(OFFICIAL_SCHEMAS, schema), join(dir, "settlement", "bank", file)],
        { encoding: "utf8" },
      );
      assert.equal(lint.status, 0, lint.stderr);
    }

    // A directory that holds a demo is not run again.
    assertError(await peage(["demo", "--yes", "--data", dir], dir), "ERR_EXISTS");
  });

  it("leaves nothing behind without --data, and narrates each step", async () => {
    const tmp = join(tempDir(), "tmp");
    mkdirSync(tmp);
    const run = await demo(["demo", "--yes"], { TMPDIR: tmp });
    assert.equal(run.code, 0, show(run));
    assert.match(run.stdout, /^ 1\. launch \(at launch\): The Lighthouse Quest: start a game$/m);
    assert.match(run.stdout, /price 0\.50 EUR \(0\.\d\d USD at the reference rates of \d{4}-\d\d-\d\d\)/);
    assert.match(run.stdout, /ACKNOWLEDGED pay_\S+ at server time \d{4}-/);
    assert.match(run.stdout, /DECLINED \(ERR_DECLINED\)/);
    assert.match(run.stdout, /REFUSED \(ERR_INSUFFICIENT_FUNDS\)/);
    assert.match(run.stdout, /quest \| \[péage\] paid level-2/);
    assert.doesNotMatch(run.stdout, /FAIL/);
    assert.match(run.stdout, /temporary data is removed/);
    assert.deepEqual(readdirSync(tmp), []);
  });

  it("stops the program, the wallet and the server on SIGINT, and removes its temporary data", async () => {
    const tmp = join(tempDir(), "tmp");
    mkdirSync(tmp);
    let sent = false;
    const run = await demo(["demo", "--yes"], { TMPDIR: tmp }, (stdout, child) => {
      if (!sent && /ACKNOWLEDGED/.test(stdout)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    assert.ok(sent, show(run));
    assert.equal(run.code, 1, show(run));
    assert.match(run.stderr, /^error: ERR_INTERRUPTED: /m, show(run));
    assert.deepEqual(readdirSync(tmp), []);
    const url = /the payment server on (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout)?.[1];
    assert.ok(url, show(run));
    await assert.rejects(fetch(`${url}/healthz`), "the server no longer listens");
  });

  it("needs a browser or a terminal to ask the user unless --yes, and a new or empty --data directory", async () => {
    const work = tempDir();
    assertUsage(
      await peage(["demo"], work),
      /peage demo: the wallet asks the user in a browser or on the terminal, and neither is here.*--yes/,
    );
    writeFileSync(join(work, "something"), "");
    assertError(await peage(["demo", "--yes", "--data", work], work), "ERR_EXISTS");
    assertUsage(await peage(["demo", "--data"], work), /--data needs a value/);
  });
});
