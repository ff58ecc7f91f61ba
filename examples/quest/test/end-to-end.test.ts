/**
 * The whole chain with the real payment server: the game (merchant SDK) → the user's wallet
 * service → packages/server, and back. Every payment the game reports is one the server debited,
 * to the cent. The game's clock and timers are moved by the test: each paid period ends at a move
 * the test chooses, and the game goes on only once that renewal is paid, so no renewal is ever
 * left in flight when the game ends, however slow the machine.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { certificateToPem, createDemoPki } from "@peage/protocol";
import { AutoYesPrompt, createWallet, initWallet, startWallet } from "@peage/wallet";
import { TEST_RATES } from "@peage/wallet/testing";
import { ExitCodes, readDrafts, runQuest, scriptedAnswers, signQuestCatalog, type QuestSeams } from "../src/index.js";
import { startRealServer } from "@peage/server/testing";

const offersJson = fileURLToPath(new URL("../../offers.json", import.meta.url));

/** A monotonic clock and timers that move only when advance() is called. */
class HandTime {
  #now = 0;
  #next = 1;
  readonly #timers = new Map<number, { due: number; callback: () => void }>();
  now = (): number => this.#now;
  setTimeout = (callback: () => void, ms: number): unknown => {
    const id = this.#next++;
    this.#timers.set(id, { due: this.#now + Math.max(0, ms), callback });
    return id;
  };
  clearTimeout = (handle: unknown): void => void this.#timers.delete(handle as number);
  advance(ms: number): void {
    this.#now += ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.due <= this.#now).sort((a, b) => a[1].due - b[1].due)[0];
      if (!due) return;
      this.#timers.delete(due[0]);
      due[1].callback();
    }
  }
}

/** The game's output, kept; `paidPlayTime(n)` resolves once n play-time payments were reported. */
function gameOutput() {
  let text = "";
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const playTimePaid = () => [...text.matchAll(/\[péage\] paid play-time:/g)].length;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString("utf8");
      for (const waiter of waiters.filter((w) => playTimePaid() >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      done();
    },
  });
  return {
    stream,
    text: () => text,
    playTimePaid,
    paidPlayTime: (count: number) =>
      playTimePaid() >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve })),
  };
}

/** The scripted player; before the moves in `renewAt`, the paid period ends and the move waits for its renewal. */
function player(say: (text: string) => void, time: HandTime, out: ReturnType<typeof gameOutput>, renewAt: ReadonlySet<number>) {
  const answers = scriptedAnswers();
  let move = 0;
  const io: NonNullable<QuestSeams["io"]> = {
    say,
    async ask(prompt) {
      move++;
      if (renewAt.has(move)) {
        const before = out.playTimePaid();
        time.advance(1000);
        await out.paidPlayTime(before + 1);
      }
      const answer = answers.shift();
      say(`${prompt}> ${answer ?? "(no more moves)"}`);
      return answer;
    },
    close() {},
  };
  return io;
}

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

    const time = new HandTime();
    const out = gameOutput();
    const say = (text: string) => void out.stream.write(`${text}\n`);
    const code = await runQuest(
      ["--catalog", catalogFile, "--trust", roots, "--auto", "--wallet-file", service.endpointFile],
      out.stream,
      { io: player(say, time, out, new Set([2, 5])), time: { monotonic: time, scheduler: time } },
    );
    const result = { code, out: out.text() };
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
    assert.equal(
      reported.filter((r) => r.offerId === "play-time").length,
      3,
      "the first period and the two renewals, each reported",
    );
    const total = reported.reduce((sum, r) => sum + r.cents, 0);
    assert.equal(await server.balanceOf(user), 5000 - total);
    assert.equal(wallet.history.list(1000).filter((e) => e.outcome === "paid").length, reported.length);
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
});
