/**
 * The card behind the real PC/SC stack: pcscd (started here if none runs), vsmartcard's virtual
 * reader, the emulator inserted in it with its memory in a directory, and the wallet's PC/SC
 * client — the same path as a physical reader. Needs pcscd and vsmartcard-vpcd (scripts/setup.sh);
 * without them these tests fail, they do not skip.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { price } from "@peage/protocol";
import {
  createReloadCommand,
  createSyncCommand,
  FileMedium,
  newChallenge,
  PcscCardClient,
  payWithCard,
  readLogForSync,
  verifyReceipt,
  verifyUploadedLog,
  type CardKey,
} from "../src/index.js";
import { startPcscStack, type PcscStack } from "../src/testing/index.js";
import { makeCardWorld, PIN, swOf, tempDir, WRONG_PIN, type CardWorld } from "./helpers.js";

describe("the card through pcscd and the virtual reader", () => {
  let world: CardWorld;
  let stack: PcscStack;
  let key: CardKey;
  let dir: string;
  let removeDir: () => void;
  const clients: PcscCardClient[] = [];
  const open = async (extendedLength: boolean): Promise<PcscCardClient> => {
    const client = await PcscCardClient.open({ reader: stack.reader, timeoutMs: 30_000, extendedLength });
    clients.push(client);
    return client;
  };

  before(async () => {
    world = await makeCardWorld();
    ({ dir, remove: removeDir } = tempDir("peage-card-pcsc-"));
    key = await world.cardKey(await world.issue(new FileMedium(join(dir, "alice")), { balance: 5000 }));
    stack = await startPcscStack({ dir: join(dir, "alice"), clock: world.clock });
  });

  after(async () => {
    for (const client of clients) client.close();
    await stack?.stop();
    removeDir?.();
  });

  it("pays with short APDUs only: chained PAY, acknowledgment fetched by GET RESPONSE, accepted by the merchant", async () => {
    const client = await open(false);
    const card = await client.waitForCard();
    assert.match(Buffer.from(card.atr ?? []).toString("hex"), /^3b89800180f7f0504541474501/);
    const before = stack.emulator.stats.commands;
    const offer = world.offer(199);
    const ack = await client.session((session) => payWithCard(session, { offer, pin: PIN, clock: world.clock }));
    const checked = await world.merchantCheck(ack, offer);
    assert.ok(checked.ok, checked.ok ? "" : checked.error.message);
    assert.deepEqual(checked.value.card, { card: world.card, issuer: world.server, debit: { counter: 1, balance: 4801 } });
    // SELECT, GET DATA, VERIFY, then PAY in 255-byte links and its answer in 256-byte parts.
    assert.ok(stack.emulator.stats.commands - before > 15, `${stack.emulator.stats.commands - before} APDUs`);
  });

  it("pays with extended APDUs where the reader carries them: four exchanges", async () => {
    const client = await open(true);
    const before = stack.emulator.stats.commands;
    const offer = world.offer(50);
    const ack = await client.session((session) => payWithCard(session, { offer, pin: PIN, clock: world.clock }));
    assert.ok((await world.merchantCheck(ack, offer)).ok);
    assert.equal(stack.emulator.stats.commands - before, 4);
  });

  it("the PIN verified in one session is gone in the next (the session ends with a card reset)", async () => {
    const client = await open(true);
    await client.session(async (session) => {
      await session.select();
      await session.verifyPin(PIN);
    });
    // The next program finds the application deselected and, once it selects it, the PIN unverified.
    const answers = await client.session(async (session) => {
      const unselected = await swOf(session.pay(world.request(world.offer(1))));
      await session.select();
      return [unselected, await swOf(session.pay(world.request(world.offer(1))))];
    });
    assert.deepEqual(answers, ["6985", "6982"]);
  });

  it("one VERIFY, one PAY through pcscd: a second PAY in the same session without a new VERIFY is refused (6982)", async () => {
    const client = await open(true);
    const answers = await client.session(async (session) => {
      await session.select();
      await session.verifyPin(PIN);
      const first = await swOf(session.pay(world.request(world.offer(1))));
      const second = await swOf(session.pay(world.request(world.offer(1))));
      await session.verifyPin(PIN);
      return [first, second, await swOf(session.pay(world.request(world.offer(1))))];
    });
    assert.deepEqual(answers, ["9000", "6982", "9000"]);
  });

  it("two programs racing for the card are served one after the other; every payment is counted once", async () => {
    const [a, b] = [await open(true), await open(true)];
    const { counter: start, balance } = await a.session(async (s) => (await s.select(), s.status()));
    let inside = 0;
    let most = 0;
    const pay = (client: PcscCardClient, amount: number) =>
      client.session(async (session) => {
        inside++;
        most = Math.max(most, inside);
        try {
          const offer = world.offer(amount);
          const ack = await payWithCard(session, { offer, pin: PIN, clock: world.clock });
          const checked = await world.merchantCheck(ack, offer);
          assert.ok(checked.ok);
          return checked.value.card!.debit.counter;
        } finally {
          inside--;
        }
      });
    const counters = await Promise.all([pay(a, 1), pay(b, 50), pay(a, 199), pay(b, 1), pay(a, 50), pay(b, 199)]);
    assert.equal(most, 1, "two sessions overlapped");
    assert.deepEqual(
      [...counters].sort((x, y) => x - y),
      [1, 2, 3, 4, 5, 6].map((n) => start + n),
    );
    const status = await b.session(async (s) => (await s.select(), s.status()));
    assert.equal(status.balance, balance! - 2 * (1 + 50 + 199));
    assert.equal(status.counter, start + 6);
  });

  it("the issuing server reads the log through the reader, verifies it, syncs and reloads the card", async () => {
    const client = await open(true);
    const challenge = newChallenge();
    const upload = await client.session((session) => readLogForSync(session, challenge));
    const report = await verifyUploadedLog({ card: key, entries: upload.entries, head: upload.head, challenge, recordedUpTo: 0 });
    assert.ok(report.ok, JSON.stringify(report.problems));
    assert.equal(report.entries.length, upload.entries.length);
    const status = await client.session(async (session) => {
      await session.select();
      const { seq } = await session.status();
      const sync = await createSyncCommand({
        issuer: world.issuer,
        card: world.card,
        seq,
        upTo: report.lastCounter,
        id: "sy_pcsc",
      });
      assert.ok((await verifyReceipt(await session.sync(sync), key, { id: "sy_pcsc", seq })).ok);
      const reload = await createReloadCommand({
        issuer: world.issuer,
        card: world.card,
        seq: seq + 1,
        amount: price(1000, "EUR"),
        id: "rl_pcsc",
      });
      assert.ok((await verifyReceipt(await session.reload(reload), key, { id: "rl_pcsc", seq: seq + 1 })).ok);
      assert.equal(await swOf(session.reload(reload)), "6985");
      return session.status();
    });
    assert.equal(status.logLength, 0);
    assert.equal(status.counter, report.lastCounter);
  });

  it("a card taken out and put back keeps its balance and log: the state is in its memory, not in the emulator", async () => {
    const client = await open(true);
    const before = await client.session(async (s) => (await s.select(), s.status()));
    await stack.insert({ dir: join(dir, "alice"), clock: world.clock });
    const after = await client.session(async (s) => (await s.select(), s.status()));
    assert.deepEqual(after, before);
  });

  it("three wrong PINs through the reader block the card; the blocked card pays nothing, even after reinsertion", async () => {
    const bobDir = join(dir, "bob");
    await world.issue(new FileMedium(bobDir), { balance: 300 });
    await stack.insert({ dir: bobDir, clock: world.clock });
    const client = await open(true);
    const answers = await client.session(async (session) => {
      await session.select();
      const out: string[] = [];
      for (let i = 0; i < 3; i++) out.push(await swOf(session.verifyPin(WRONG_PIN)));
      out.push(await swOf(session.verifyPin(PIN)));
      out.push(await swOf(session.pay(world.request(world.offer(50)))));
      return out;
    });
    assert.deepEqual(answers, ["63C2", "63C1", "63C0", "6983", "6983"]);
    await stack.insert({ dir: bobDir, clock: world.clock });
    const later = await client.session(async (session) => {
      await session.select();
      const status = await session.status();
      return [
        status.pinTriesLeft,
        status.balance,
        await swOf(payWithCard(session, { offer: world.offer(50), pin: PIN, clock: world.clock })),
      ];
    });
    assert.deepEqual(later, [0, 300, "6983"]);
  });
});
