/**
 * A newcomer's first run: `peage demo` without --yes, where a browser can be opened. Each payment
 * opens the wallet's consent window; the user (Chromium, driven by test/helpers/approver.ts)
 * approves; afterwards `peage wallet history` shows the payments with their acknowledgments
 * verified by the wallet.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertSuccess, cliPath, parseJson, peage, tempDir, type Run } from "./helpers/cli.js";

const approver = fileURLToPath(new URL("./helpers/approver.js", import.meta.url));

function demo(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("peage demo in the browser", () => {
  it("each payment is approved in the consent window, then found in the history with a verified acknowledgment", async () => {
    const work = tempDir();
    const opener = join(work, "open-browser.sh");
    writeFileSync(opener, `#!/bin/sh\nexec "${process.execPath}" "${approver}" "$1"\n`, { mode: 0o700 });
    const log = join(work, "approved.txt");
    writeFileSync(log, "");
    const data = join(work, "demo");
    const { DISPLAY: _d, WAYLAND_DISPLAY: _w, ...env } = process.env;
    const run = await demo(["demo", "--data", data], { ...env, PEAGE_BROWSER: opener, PEAGE_APPROVER_LOG: log });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /Each payment opens in your browser/);
    const approved = readFileSync(log, "utf8").trim().split("\n");
    assert.ok(approved.length >= 4, `approved in the browser: ${approved.join(", ")}`);

    const history = parseJson(
      assertSuccess(
        await peage(
          ["wallet", "history", "--data", join(data, "wallet"), "--passphrase-file", join(data, "wallet-passphrase"), "--json"],
          work,
        ),
      ),
    );
    const paid = (history["lines"] as Array<Record<string, unknown>>).filter((l) => l["outcome"] === "paid");
    assert.ok(paid.length >= 4);
    for (const line of paid) {
      assert.equal(line["acknowledgment"], "verified");
      assert.equal(line["consent"], "explicit", "approved by the user, not by a rule");
    }
  });
});
