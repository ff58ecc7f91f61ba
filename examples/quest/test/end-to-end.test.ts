/**
 * The whole chain with the real payment server: the game (merchant SDK, its own process) → the
 * user's wallet service → packages/server, and back. Every payment the game reports is one the
 * server debited, to the cent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { certificateToPem, createDemoPki } from "@peage/protocol";
import { AutoYesPrompt, createWallet, initWallet, startWallet } from "@peage/wallet";
import { TEST_RATES } from "@peage/wallet/testing";
import { ExitCodes, readDrafts, signQuestCatalog } from "../src/index.js";
import { startRealServer } from "@peage/server/testing";

const mainJs = fileURLToPath(new URL("../src/main.js", import.meta.url));
const offersJson = fileURLToPath(new URL("../../offers.json", import.meta.url));

test("end to end with the real payment server: the quest is paid for, and the balance moves by exactly what the game reports", async () => {
  const pki = await createDemoPki();
  const dir = await mkdtemp(join(tmpdir(), "peage-quest-e2e-"));
  const server = await startRealServer(pki, TEST_RATES);
  const cleanup: Array<() => unknown> = [() => rm(dir, { recursive: true, force: true }), () => server.close()];
  try {
    const roots = join(dir, "root.pem");
    await writeFile(roots, certificateToPem(pki.root.certificate));
    const catalogFile = join(dir, "catalog.json");
    await writeFile(
      catalogFile,
      JSON.stringify(await signQuestCatalog({ drafts: await readDrafts(offersJson), pki, periodSeconds: 1 })),
    );
    const user = "urn:peage:user:quest-player";
    const passphrase = "the quest player's passphrase";
    const init = await initWallet(join(dir, "wallet"), {
      passphrase,
      user,
      serverUrl: server.url,
      serverId: pki.server.identity,
      homeCurrency: "EUR",
      trustRootsPem: roots,
    });
    await server.enrol(user, init.publicJwk, "EUR", 5000);
    const wallet = await createWallet({ dir: join(dir, "wallet"), passphrase, prompt: new AutoYesPrompt() });
    cleanup.push(() => wallet.close());
    const service = await startWallet({ wallet, endpointFile: join(dir, "run", "wallet.json") });
    cleanup.push(() => service.close());

    const result = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [mainJs, "--catalog", catalogFile, "--trust", roots, "--auto", "--move-delay-ms", "60"],
        {
          env: { ...process.env, PEAGE_WALLET_FILE: service.endpointFile },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
      const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(killer);
        resolve({ code, out });
      });
    });
    assert.equal(result.code, ExitCodes.played, result.out);
    assert.match(result.out, /You have won!/);
    const reported = [...result.out.matchAll(/\[péage\] paid ([a-z0-9-]+): (\d+)\.(\d{2}) EUR/g)].map((m) => ({
      offerId: m[1]!,
      cents: Number(m[2]) * 100 + Number(m[3]),
    }));
    assert.deepEqual(
      reported.filter((r) => r.offerId !== "play-time").map((r) => r.offerId),
      ["launch", "level-2", "level-3"],
    );
    assert.ok(reported.some((r) => r.offerId === "play-time"));
    const total = reported.reduce((sum, r) => sum + r.cents, 0);
    assert.equal(await server.balanceOf(user), 5000 - total);
    assert.equal(wallet.history.list(1000).filter((e) => e.outcome === "paid").length, reported.length);
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
});
