/**
 * The PC store as a card, without a TPM (a software store): it pays through the card's own client
 * with the card's semantics, its acknowledgments pass the merchant's unchanged check, its
 * certificate says "software" and its limits are lower; its files survive the loss of n − k
 * fragments; a power cut at any write of VERIFY, PAY, SYNC or RELOAD leaves the old state or the
 * new, and a retry applies it once.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { test } from "node:test";
import { createReloadCommand, createSyncCommand, payWithCard, price, SW, x509Of } from "./imports.js";
import { assuranceOf, openPcStore, VaultDestroyed } from "../src/index.js";
import { makeStoreWorld, PIN, tempDir } from "./helpers.js";
import { Power } from "./power.js";

test("a software store pays like a prepaid card: debit in the acknowledgment, merchant check unchanged, refusal when the purse is short", async () => {
  const world = await makeStoreWorld();
  const { dir, remove } = tempDir("peage-pcstore-");
  try {
    const issued = await world.create(dir, { balance: 1000 });
    assert.equal(assuranceOf(x509Of(issued.chain[0]!)), "pc-software");
    const store = await world.open(dir);
    for (const [amount, balance] of [
      [500, 500],
      [199, 301],
      [1, 300],
    ] as const) {
      const offer = world.offer(amount);
      const ack = await world.pay(store, amount, offer);
      assert.equal(await world.merchantAccepts(ack, offer), true);
      const claims = JSON.parse(Buffer.from(ack.acknowledgment.split(".")[1]!, "base64url").toString("utf8"));
      assert.equal(claims.debit.balance, balance);
    }
    await assert.rejects(world.pay(store, 500), (error: { sw?: number }) => error.sw === SW.CONDITIONS_NOT_SATISFIED);
    const again = await world.open(dir);
    await again.client.select();
    const status = await again.client.status();
    assert.equal(status.balance, 300);
    assert.equal(status.counter, 3);
    assert.equal(status.logLength, 3);
    assert.ok(again.medium.version > 1);
  } finally {
    remove();
  }
});

test("a software store's limits are lower: it cannot be made to hold more", async () => {
  const world = await makeStoreWorld();
  const { dir, remove } = tempDir("peage-pcstore-");
  try {
    await assert.rejects(world.create(dir, { balance: 5000 }), /a pc-software store holds at most 2000 minor units/);
    await assert.rejects(world.create(dir, { mode: "postpaid", ceiling: 5000 }), /ceiling is at most 2000/);
    await assert.rejects(openPcStore(dir), /holds no PC store: make one with `peage pcstore init`/);
  } finally {
    remove();
  }
});

test("fragments: up to n − k deleted or altered are repaired at opening; more and the store refuses to open", async () => {
  const world = await makeStoreWorld();
  const { dir, remove } = tempDir("peage-pcstore-");
  try {
    await world.create(dir);
    const store = await world.open(dir);
    await world.pay(store, 50);
    const files = store.medium.vault.files().sort();
    assert.equal(files.length, 5);
    rmSync(files[1]!);
    const bytes = readFileSync(files[4]!);
    bytes[bytes.length - 40]! ^= 0x80;
    (await import("node:fs")).writeFileSync(files[4]!, bytes);
    const repaired = await world.open(dir);
    assert.equal(repaired.report.repaired, 2);
    assert.deepEqual(repaired.medium.vault.files().sort(), files);
    await repaired.client.select();
    assert.equal((await repaired.client.status()).balance, 950);
    for (const file of files.slice(0, 3)) rmSync(file);
    await assert.rejects(
      world.open(dir),
      (error: Error) =>
        error instanceof VaultDestroyed && /more were deleted or altered than can be repaired/.test(error.message),
    );
  } finally {
    remove();
  }
});

test("power cut at every write of VERIFY and PAY: old state or new, and the retried payment is debited exactly once", async () => {
  const world = await makeStoreWorld();
  let cuts = 0;
  for (let n = 0; n < 400; n++) {
    const { dir, remove } = tempDir("peage-pcstore-cut-");
    try {
      await world.create(dir, { balance: 1000 });
      const offer = world.offer(50);
      const power = new Power(n);
      const torn = await world.open(dir, { disk: power.disk() });
      const first = await payWithCard(torn.client, { offer, pin: PIN, clock: world.clock }).then(
        (ack) => ack,
        () => undefined,
      );
      if (!power.cut) {
        assert.ok(first, "without a cut the payment succeeds");
        assert.ok(cuts > 30, `a payment writes more than 30 times (${cuts} cut points tried)`);
        break;
      }
      cuts++;
      const restarted = await world.open(dir);
      await restarted.client.select();
      const before = await restarted.client.status();
      assert.ok(before.balance === 1000 || before.balance === 950, `after a cut at write ${n}: balance ${before.balance}`);
      assert.equal(before.logLength, before.balance === 1000 ? 0 : 1);
      const ack = await payWithCard(restarted.client, { offer, pin: PIN, clock: world.clock });
      assert.equal(await world.merchantAccepts(ack, offer), true);
      const after = await restarted.client.status();
      assert.equal(after.balance, 950, `cut at write ${n}: debited once`);
      assert.equal(after.counter, 1);
      assert.equal(after.pinTriesLeft, 3);
      assert.equal(restarted.medium.vault.files().length, 5, "one version left on disk");
    } finally {
      remove();
    }
  }
  assert.ok(cuts > 30);
});

test("power cut at every write of SYNC and RELOAD: applied once or not at all, and applied once when sent again", async () => {
  const world = await makeStoreWorld();
  let cuts = 0;
  for (let n = 0; n < 200; n++) {
    const { dir, remove } = tempDir("peage-pcstore-cmdcut-");
    try {
      const issued = await world.create(dir, { balance: 1000 });
      const setup = await world.open(dir);
      await world.pay(setup, 50);
      const sync = await createSyncCommand({ issuer: world.issuer, card: issued.card, seq: 0, upTo: 1, id: "sync-1" });
      const reload = await createReloadCommand({
        issuer: world.issuer,
        card: issued.card,
        seq: 1,
        amount: price(300, "EUR"),
        id: "reload-1",
      });
      const power = new Power(n);
      const torn = await world.open(dir, { disk: power.disk() });
      await torn.client.select();
      const done = await torn.client
        .sync(sync)
        .then(() => torn.client.reload(reload))
        .then(
          () => true,
          () => false,
        );
      if (!power.cut) {
        assert.ok(done);
        break;
      }
      cuts++;
      const restarted = await world.open(dir);
      await restarted.client.select();
      const before = await restarted.client.status();
      assert.ok([0, 1, 2].includes(before.seq), `cut at write ${n}: seq ${before.seq}`);
      assert.equal(before.logLength, before.seq === 0 ? 1 : 0);
      assert.equal(before.balance, before.seq === 2 ? 1250 : 950);
      if (before.seq === 0) await restarted.client.sync(sync);
      if (before.seq <= 1) await restarted.client.reload(reload);
      await assert.rejects(
        restarted.client.reload(reload),
        (error: { sw?: number }) => error.sw === SW.CONDITIONS_NOT_SATISFIED,
        "a RELOAD is applied once",
      );
      const after = await restarted.client.status();
      assert.deepEqual([after.seq, after.balance, after.logLength], [2, 1250, 0], `cut at write ${n}`);
    } finally {
      remove();
    }
  }
  assert.ok(cuts > 20, `${cuts} cut points`);
});
