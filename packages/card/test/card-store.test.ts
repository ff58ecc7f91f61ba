/**
 * Power-failure safety of the card's memory: the journal's recovery rules, then PAY, RELOAD and
 * VERIFY with the power cut during every single write, on a real directory (fsync, rename) and on
 * a disk model that loses whatever was not flushed. After the restart the card holds exactly the
 * old state or the new one, its balance and log agree, there is never an acknowledgment without
 * its log entry, and a retry completes the operation exactly once.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { canonicalBytes, price } from "@peage/protocol";
import {
  CardClient,
  createReloadCommand,
  decodeToken,
  FileMedium,
  InProcessTransport,
  MemoryMedium,
  Records,
  SW,
  type Medium,
} from "../src/index.js";
import { Cla, Ins, PIN_REFERENCE } from "../src/iso7816.js";
import { concatTlv, encodeTlv } from "../src/tlv.js";
import { JournalStore, TearingMedium } from "../src/store.js";
import { PayTags } from "../src/wire.js";
import { makeCardWorld, PIN, swOf, tempDir, WRONG_PIN, type CardWorld } from "./helpers.js";

describe("journal store", () => {
  it("commits several records at once and reads them back after reopening", () => {
    const medium = new MemoryMedium();
    const store = new JournalStore(medium);
    store.commit([
      { put: "a", value: { n: 1 } },
      { put: "b", value: [1, 2] },
    ]);
    store.commit([{ remove: "a" }, { put: "c", value: "x" }]);
    assert.deepEqual(new JournalStore(medium).snapshot(), { b: [1, 2], c: "x" });
    assert.deepEqual(new JournalStore(medium.crash()).snapshot(), { b: [1, 2], c: "x" });
  });

  it("a committed journal is completed on opening; a journal that fails its digest, and stray .tmp files, are discarded", () => {
    const medium = new MemoryMedium();
    new JournalStore(medium).commit([{ put: "a", value: 1 }]);
    const committed = {
      v: 1,
      ops: [
        { put: "a", value: 2 },
        { put: "b", value: 3 },
      ],
      digest: "",
    };
    committed.digest = createHash("sha256").update(canonicalBytes(committed.ops)).digest("base64url");
    medium.write("journal", Buffer.from(JSON.stringify(committed)));
    medium.write("b.tmp", Buffer.from("{"));
    assert.deepEqual(new JournalStore(medium).snapshot(), { a: 2, b: 3 });
    assert.deepEqual(medium.list().sort(), ["a", "b"]);

    medium.write("journal", Buffer.from(JSON.stringify({ ...committed, ops: [{ put: "a", value: 99 }] })));
    assert.deepEqual(new JournalStore(medium).snapshot(), { a: 2, b: 3 });
    assert.equal(medium.read("journal"), undefined);
  });

  it("the memory model forgets what was not flushed", () => {
    const medium = new MemoryMedium();
    medium.write("x", Uint8Array.of(1, 2));
    medium.syncDir();
    assert.deepEqual([...medium.crash().read("x")!], []);
    medium.sync("x");
    medium.write("y", Uint8Array.of(3));
    medium.sync("y");
    assert.deepEqual([...medium.crash().read("x")!], [1, 2]);
    assert.equal(medium.crash().read("y"), undefined);
  });
});

/** What a card's memory means: the purse, the PIN counter, and the decoded log entries. */
function meaning(medium: Medium): unknown {
  const snapshot = new JournalStore(medium).snapshot();
  const log = Object.entries(snapshot)
    .filter(([name]) => name.startsWith(Records.logPrefix))
    .map(([name, token]) => [name, decodeToken(token)?.body]);
  return { purse: snapshot[Records.purse], pin: snapshot[Records.pin], log, profile: snapshot[Records.profile] !== undefined };
}

interface Disk {
  /** A copy of the personalised card to experiment on. */
  copy(): Medium;
  /** The disk as the card finds it at the next power-up, after a cut during use of `medium`. */
  afterCut(medium: Medium): Medium;
}

describe("power cut during every write", () => {
  let world: CardWorld;
  let template: MemoryMedium;
  const dirs: Array<() => void> = [];
  before(async () => {
    world = await makeCardWorld();
    template = new MemoryMedium();
    await world.issue(template, { balance: 1000 });
  });
  after(() => dirs.forEach((remove) => remove()));

  const disks: Record<string, () => Disk> = {
    "a real directory (fsync + rename)": () => {
      const { dir, remove } = tempDir("peage-card-tear-");
      dirs.push(remove);
      const source = join(dir, "template");
      const file = new FileMedium(source);
      for (const name of template.list()) {
        file.write(name, template.read(name)!);
        file.sync(name);
      }
      file.syncDir();
      let n = 0;
      return {
        copy: () => {
          const target = join(dir, `case-${n++}`);
          cpSync(source, target, { recursive: true });
          return new FileMedium(target);
        },
        afterCut: (medium) => new FileMedium((medium as FileMedium).dir),
      };
    },
    "a disk that loses unflushed data": () => ({
      copy: () => template.clone(),
      afterCut: (medium) => (medium as MemoryMedium).crash(),
    }),
  };

  interface Command {
    readonly cla: number;
    readonly ins: number;
    readonly p2?: number;
    readonly data: Uint8Array;
  }

  /**
   * Sends `command` once without a cut, to learn how many writes it makes and the state it
   * leads to; then, for every write k, sends it with the power cut during write k (the write torn
   * in half, or not done at all), powers the card up again and checks the state is the old or
   * the new one; `afterRestart` then finishes the job as a wallet would.
   */
  async function everyCut(
    disk: Disk,
    prepare: (client: CardClient) => Promise<void>,
    command: Command,
    afterRestart: (client: CardClient, state: "old" | "new") => Promise<void>,
  ): Promise<{ writes: number; outcomes: { old: number; new: number } }> {
    const dry = disk.copy();
    const oldState = meaning(dry);
    const counting = new TearingMedium(dry);
    const dryCard = new CardClient(await InProcessTransport.open(counting, { clock: world.clock }));
    await prepare(dryCard);
    counting.arm();
    const done = await dryCard.exchange({ ...command, expectData: true });
    assert.notEqual(done.sw, SW.MEMORY_FAILURE);
    const writes = counting.operations;
    const newState = meaning(dry);
    assert.notDeepEqual(oldState, newState);
    const outcomes = { old: 0, new: 0 };
    for (let at = 1; at <= writes; at++) {
      for (const partial of [true, false]) {
        const where = `cut during write ${at} of ${writes} (${partial ? "torn" : "not done"})`;
        const medium = disk.copy();
        const cutting = new TearingMedium(medium);
        const client = new CardClient(await InProcessTransport.open(cutting, { clock: world.clock }));
        await prepare(client);
        cutting.arm({ at, partial });
        const answer = await client.exchange({ ...command, expectData: true });
        // The card lost power mid-command: it gives no result, in particular no acknowledgment.
        assert.equal(answer.sw, SW.MEMORY_FAILURE, where);
        assert.equal(answer.data.length, 0, where);
        assert.ok(cutting.torn, where);
        const restarted = disk.afterCut(medium);
        const state = meaning(restarted);
        const which = deepEquals(state, oldState) ? "old" : deepEquals(state, newState) ? "new" : undefined;
        assert.ok(which, `${where}: the card is in neither state: ${JSON.stringify(state)}`);
        outcomes[which]++;
        await afterRestart(new CardClient(await InProcessTransport.open(restarted, { clock: world.clock })), which);
      }
    }
    return { writes, outcomes };
  }

  for (const [name, makeDisk] of Object.entries(disks)) {
    describe(name, () => {
      it("PAY: old state or new, never between; no acknowledgment without its log entry; a retry pays exactly once", async () => {
        const disk = makeDisk();
        const offer = world.offer(50);
        const request = world.request(offer);
        const data = concatTlv(
          encodeTlv(PayTags.consent, new Uint8Array(canonicalBytes(request.consent))),
          encodeTlv(PayTags.signature, new Uint8Array(Buffer.from(request.signature))),
        );
        const prepare = async (client: CardClient): Promise<void> => {
          await client.select();
          await client.verifyPin(PIN);
        };
        const { writes, outcomes } = await everyCut(
          disk,
          prepare,
          { cla: Cla.proprietary, ins: Ins.pay, data },
          async (client, state) => {
            await prepare(client);
            const status = await client.status();
            // Balance and log agree: a debit always has its entry, an entry always its debit.
            assert.deepEqual([status.balance, status.counter, status.logLength], state === "new" ? [950, 1, 1] : [1000, 0, 0]);
            // The wallet asks again: the card pays once, and the merchant gets its acknowledgment.
            const ack = await client.pay(request);
            const checked = await world.merchantCheck(ack, offer);
            assert.ok(checked.ok);
            assert.deepEqual(checked.value.card?.debit, { counter: 1, balance: 950 });
            const after = await client.status();
            assert.deepEqual([after.balance, after.counter, after.logLength], [950, 1, 1]);
          },
        );
        assert.ok(writes >= 10, `PAY makes ${writes} writes`);
        assert.ok(outcomes.old > 0 && outcomes.new > 0, JSON.stringify(outcomes));
      });

      it("RELOAD: old state or new; the same reload applied again after the restart takes only if it had not (exactly once)", async () => {
        const disk = makeDisk();
        const command = await createReloadCommand({
          issuer: world.issuer,
          card: world.card,
          seq: 0,
          amount: price(300, "EUR"),
          id: "rl_1",
        });
        const prepare = (client: CardClient): Promise<void> => client.select();
        const { outcomes } = await everyCut(
          disk,
          prepare,
          { cla: Cla.proprietary, ins: Ins.reload, data: new Uint8Array(Buffer.from(command)) },
          async (client, state) => {
            await client.select();
            assert.equal((await client.status()).balance, state === "new" ? 1300 : 1000);
            assert.equal(await swOf(client.reload(command)), state === "new" ? "6985" : "9000");
            const status = await client.status();
            assert.deepEqual([status.balance, status.seq], [1300, 1]);
          },
        );
        assert.ok(outcomes.old > 0 && outcomes.new > 0, JSON.stringify(outcomes));
      });

      it("VERIFY with a wrong PIN: the try is spent before the answer, so no cut ever saves a try", async () => {
        const disk = makeDisk();
        const command = {
          cla: Cla.interindustry,
          ins: Ins.verify,
          p2: PIN_REFERENCE,
          data: new Uint8Array(Buffer.from(WRONG_PIN)),
        };
        await everyCut(
          disk,
          (client) => client.select(),
          command,
          async (client, state) => {
            await client.select();
            // "old": the card never compared the PIN, so the attacker learned nothing.
            assert.equal((await client.status()).pinTriesLeft, state === "new" ? 2 : 3);
          },
        );
      });
    });
  }
});

function deepEquals(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
