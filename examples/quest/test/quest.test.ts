import { before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDemoPki, price, verifyCatalog, writePkiDir, type DemoPki, type OfferDraft } from "@peage/protocol";
import { ScriptedPrompt } from "@peage/wallet";
import { createTestWorld, type TestWorldOptions } from "@peage/wallet/testing";
import { ExitCodes, LEVELS, playQuest, readDrafts, scriptedAnswers, signQuestCatalog } from "../src/index.js";

const mainJs = fileURLToPath(new URL("../src/main.js", import.meta.url));
const signJs = fileURLToPath(new URL("../src/sign-catalog.js", import.meta.url));
const offersJson = fileURLToPath(new URL("../../offers.json", import.meta.url));

let pki: DemoPki;
let drafts: OfferDraft[];

before(async () => {
  pki = await createDemoPki();
  // The published offers, with one-second play periods so that a short game sees renewals.
  drafts = (await readDrafts(offersJson)).map((d) =>
    d.grant.kind === "period" ? { ...d, grant: { kind: "period" as const, seconds: 1 } } : d,
  );
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the game as a separate program, as a user would, and waits for it to end. */
function run(script: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function withWorld<T>(
  options: TestWorldOptions,
  fn: (world: Awaited<ReturnType<typeof createTestWorld>>) => Promise<T>,
): Promise<T> {
  const world = await createTestWorld({ pki, drafts, ...options });
  try {
    return await fn(world);
  } finally {
    await world.close();
  }
}

test("--auto plays the whole quest, paying at launch, for play time and for each new level", async () => {
  await withWorld({}, async (world) => {
    const result = await run(
      mainJs,
      ["--catalog", world.catalogFile, "--trust", world.rootsPemFile, "--auto", "--move-delay-ms", "60"],
      { PEAGE_WALLET_FILE: world.endpointFile },
    );
    assert.equal(result.code, ExitCodes.played, result.stdout + result.stderr);
    assert.match(result.stdout, /\[péage\] paid launch: 0\.50 EUR \(pay_/);
    assert.match(result.stdout, /\[péage\] paid play-time: 0\.20 EUR \(pay_[^,]+, play time until \d{4}-/);
    assert.match(result.stdout, /\[péage\] paid level-2: 1\.00 EUR/);
    assert.match(result.stdout, /\[péage\] paid level-3: 1\.50 EUR/);
    assert.match(result.stdout, /Not quite\. Hint: It makes music\./);
    assert.match(result.stdout, /You have won!/);
    assert.match(result.stdout, /3 level\(s\) completed, 9 riddle\(s\) solved \(won\)/);
    const amounts = world.server.payments.map((p) => p.charged.amount);
    assert.equal(amounts.filter((a) => a === 50).length, 1, "one launch");
    assert.equal(amounts.filter((a) => a === 100).length, 1, "level 2 once");
    assert.equal(amounts.filter((a) => a === 150).length, 1, "level 3 once");
    assert.ok(amounts.filter((a) => a === 20).length >= 1, "play time paid at start");
    // Every payment the server recorded is one the game reported, and the other way round.
    assert.equal((result.stdout.match(/\[péage\] paid /g) ?? []).length, world.server.payments.length);
  });
});

test("a level the wallet refuses stays locked and the game ends there", async () => {
  const rules = { autoAccept: { perPayment: price(3000, "EUR") }, refuse: { perPayment: price(100, "EUR") } };
  await withWorld({ rules }, async (world) => {
    const result = await run(mainJs, [
      "--catalog",
      world.catalogFile,
      "--trust",
      world.rootsPemFile,
      "--auto",
      "--move-delay-ms",
      "0",
      "--wallet-file",
      world.endpointFile,
    ]);
    assert.equal(result.code, ExitCodes.played, result.stdout + result.stderr);
    assert.match(result.stdout, /\[péage\] paid level-2/);
    assert.match(result.stdout, /\[péage\] level 3 not paid: ERR_DECLINED/);
    assert.match(result.stdout, /Level 3, The Lamp Room, stays locked/);
    assert.match(result.stdout, /2 level\(s\) completed/);
    assert.equal(world.server.payments.filter((p) => p.charged.amount === 150).length, 0);
  });
});

test("a launch the user declines does not start the game", async () => {
  const rules = { autoAccept: { perPayment: price(0, "EUR") }, refuse: {} };
  await withWorld({ rules, prompt: new ScriptedPrompt([false]) }, async (world) => {
    const result = await run(mainJs, [
      "--catalog",
      world.catalogFile,
      "--trust",
      world.rootsPemFile,
      "--auto",
      "--wallet-file",
      world.endpointFile,
    ]);
    assert.equal(result.code, ExitCodes.notPaid);
    assert.match(result.stdout, /\[péage\] launch not paid: ERR_DECLINED/);
    assert.doesNotMatch(result.stdout, /Level 1/);
    assert.equal(world.server.payments.length, 0);
  });
});

test("without a running wallet the game says so and exits 3", async () => {
  await withWorld({ service: false }, async (world) => {
    const result = await run(mainJs, [
      "--catalog",
      world.catalogFile,
      "--trust",
      world.rootsPemFile,
      "--auto",
      "--wallet-file",
      join(world.dir, "none.json"),
    ]);
    assert.equal(result.code, ExitCodes.noWallet);
    assert.match(result.stdout, /ERR_WALLET_UNAVAILABLE/);
  });
});

test("play time that cannot be paid pauses the game, and --auto stops it", async () => {
  // Free levels, so only play time can run out; the balance covers the launch and one period.
  const freeLevels = drafts.map((d) => (d.grant.kind === "event" ? { ...d, price: price(0, "EUR") } : d));
  await withWorld({ drafts: freeLevels, balance: 50 + 20 }, async (world) => {
    // Ten moves of at least 400 ms outlast the one-second period by far.
    const result = await run(mainJs, [
      "--catalog",
      world.catalogFile,
      "--trust",
      world.rootsPemFile,
      "--auto",
      "--move-delay-ms",
      "400",
      "--wallet-file",
      world.endpointFile,
    ]);
    assert.equal(result.code, ExitCodes.unpaidTime, result.stdout + result.stderr);
    assert.match(result.stdout, /\[péage\] play time not paid: ERR_INSUFFICIENT_FUNDS/);
    assert.match(result.stdout, /The game is paused\./);
    assert.match(result.stdout, /\(stopped\)/);
    assert.equal(world.server.balanceOf(world.user), 0);
  });
});

test("bad arguments and a catalog from an untrusted publisher are refused", async () => {
  await withWorld({ service: false }, async (world) => {
    const usage = await run(mainJs, ["--catalog", world.catalogFile]);
    assert.equal(usage.code, ExitCodes.usage);
    assert.match(usage.stderr, /usage: peage-quest/);
    const other = await createDemoPki();
    const dir = await mkdtemp(join(tmpdir(), "peage-quest-"));
    try {
      await writePkiDir(dir, other);
      const untrusted = await run(mainJs, ["--catalog", world.catalogFile, "--trust", join(dir, "root.crt"), "--auto"]);
      assert.equal(untrusted.code, ExitCodes.failed);
      assert.match(untrusted.stderr, /ERR_UNKNOWN_ISSUER/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test("the catalog signing step signs offers.json with the publisher's key, with the demo's period override", async () => {
  const dir = await mkdtemp(join(tmpdir(), "peage-quest-"));
  try {
    await writePkiDir(join(dir, "pki"), pki);
    const out = join(dir, "catalog.json");
    const result = await run(signJs, ["--offers", offersJson, "--pki", join(dir, "pki"), "--out", out, "--period-seconds", "20"]);
    assert.equal(result.code, 0, result.stderr);
    const catalog = JSON.parse(await readFile(out, "utf8")) as unknown;
    const verified = await verifyCatalog(catalog, pki.trustStore(), new Date());
    assert.ok(verified.ok, verified.ok ? "" : verified.error.message);
    if (!verified.ok) return;
    assert.deepEqual(verified.value.byOfferId.get("play-time")?.terms.grant, { kind: "period", seconds: 20 });
    assert.deepEqual(verified.value.byOfferId.get("level-2")?.terms.grant, { kind: "event", event: "level-2" });
    assert.equal(verified.value.catalog.offers.length, 4);
    const unsigned = await signQuestCatalog({ drafts: await readDrafts(offersJson), pki });
    assert.deepEqual(unsigned.offers.find((e) => e.terms.offerId === "play-time")?.terms.grant, { kind: "period", seconds: 300 });
    const bad = await run(signJs, ["--offers", offersJson, "--pki", join(dir, "pki"), "--out", out, "--period-seconds", "0"]);
    assert.equal(bad.code, 64);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the game logic alone: every scripted answer is accepted and hints follow wrong ones", async () => {
  const said: string[] = [];
  const answers = scriptedAnswers();
  const result = await playQuest(
    { say: (t) => said.push(t), ask: async () => answers.shift() },
    { enterLevel: async () => true, beforeMove: async () => true },
  );
  assert.deepEqual(result, { levelsCompleted: LEVELS.length, riddlesSolved: 9, ending: "won" });
  assert.ok(said.includes("Not quite. Hint: It makes music."));
});
