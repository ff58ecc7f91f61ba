/**
 * The PC store anchored in a TPM 2.0 (swtpm, started here, through tpm2-tools): its key made in
 * the TPM and never outside, its certificate saying so; restoring an older copy of its files is
 * detected; a power cut at every write and around the counter's increment leaves a consistent
 * store; its files copied to another PC (another TPM) do not open.
 */
import assert from "node:assert/strict";
import { cpSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { payWithCard, x509Of } from "./imports.js";
import { assuranceOf, readConfig, RollbackDetected, type Tpm } from "../src/index.js";
import { Vault } from "../src/fragments.js";
import { startSwtpm, type RunningSwtpm } from "../src/testing.js";
import { makeStoreWorld, PIN, tempDir, type StoreWorld } from "./helpers.js";
import { Power } from "./power.js";

let swtpm: RunningSwtpm;
let tpm: Tpm;
let world: StoreWorld;
const tpmState = tempDir("peage-swtpm-");

before(async () => {
  swtpm = await startSwtpm(tpmState.dir);
  tpm = swtpm.tpm;
  world = await makeStoreWorld();
});

after(async () => {
  await swtpm?.stop();
  tpmState.remove();
});

test("the store's key is made in the TPM: certified as pc-tpm, never in the files, and it signs what the merchant checks", async () => {
  const { dir, remove } = tempDir("peage-pcstore-tpm-");
  try {
    const issued = await world.create(dir, { tpm, balance: 10_000 });
    const certificate = x509Of(issued.chain[0]!);
    assert.equal(assuranceOf(certificate), "pc-tpm");
    const config = readConfig(dir);
    assert.ok(config.tpm && config.fragmentKey === undefined, "a TPM store keeps no key in its configuration");
    const tpmKey = tpm.publicKey(config.tpm.keyHandle).export({ type: "spki", format: "der" });
    assert.deepEqual(Buffer.from(certificate.publicKey.rawData), tpmKey);
    const store = await world.open(dir, { tpm });
    const offer = world.offer(500);
    const ack = await world.pay(store, 500, offer);
    assert.equal(await world.merchantAccepts(ack, offer), true);
    // The decrypted state holds a reference to the TPM key, never a private key.
    const vault = new Vault({
      places: config.places,
      coding: config.coding,
      key: tpm.unseal(config.tpm.sealed),
      tag: config.tag,
    });
    const state = Buffer.from(vault.read().plaintext).toString("utf8");
    const profile = JSON.parse(Buffer.from(JSON.parse(state).files["profile"], "base64").toString("utf8"));
    assert.match(profile.key, /^tpm:[0-9a-f]+$/);
    assert.ok(
      !state.includes("PRIVATE KEY") && !Buffer.from(state).includes(Buffer.from("PRIVATE KEY").toString("base64").slice(0, 12)),
    );
    await assert.rejects(world.create(dir, { tpm }), /already holds a PC store/);
    tpm.removeStoreObjects(config.tpm);
  } finally {
    remove();
  }
});

test("rolling the files back to an earlier copy is detected by the TPM counter (a software store cannot tell)", async () => {
  for (const withTpm of [true, false]) {
    const { dir, remove } = tempDir("peage-pcstore-rollback-");
    const copy = tempDir("peage-pcstore-copy-");
    try {
      await world.create(dir, withTpm ? { tpm, balance: 1000 } : { balance: 1000 });
      const store = await world.open(dir, { tpm });
      await world.pay(store, 500);
      cpSync(join(dir, "fragments"), join(copy.dir, "fragments"), { recursive: true });
      await world.pay(store, 500);
      rmSync(join(dir, "fragments"), { recursive: true });
      cpSync(join(copy.dir, "fragments"), join(dir, "fragments"), { recursive: true });
      if (withTpm) {
        await assert.rejects(
          world.open(dir, { tpm }),
          (error: Error) => error instanceof RollbackDetected && /restored from an older copy/.test(error.message),
        );
        tpm.removeStoreObjects(readConfig(dir).tpm!);
      } else {
        const restored = await world.open(dir);
        await restored.client.select();
        assert.equal(
          (await restored.client.status()).balance,
          500,
          "without a TPM only the issuer's sync can catch it (see the server's fork tests)",
        );
      }
    } finally {
      remove();
      copy.remove();
    }
  }
});

test("the files of a TPM store copied to another PC do not open there: the fragment key is sealed to this TPM", async () => {
  const other = tempDir("peage-swtpm-other-");
  const otherTpm = await startSwtpm(other.dir);
  const { dir, remove } = tempDir("peage-pcstore-clone-");
  try {
    await world.create(dir, { tpm });
    await assert.rejects(world.open(dir, { tpm: otherTpm.tpm }), /tpm2_load failed|tpm2_unseal failed/);
    tpm.removeStoreObjects(readConfig(dir).tpm!);
  } finally {
    await otherTpm.stop();
    other.remove();
    remove();
  }
});

test("power cut at every write and around the TPM counter's increment: old state or new, debited once on retry", async () => {
  let cuts = 0;
  for (let n = 0; n < 400; n++) {
    const { dir, remove } = tempDir("peage-pcstore-tpmcut-");
    try {
      await world.create(dir, { tpm, balance: 1000 });
      const offer = world.offer(50);
      const power = new Power(n);
      const torn = await world.open(dir, { tpm, disk: power.disk(), anchorHook: (anchor) => power.anchor(anchor) });
      const first = await payWithCard(torn.client, { offer, pin: PIN, clock: world.clock }).catch(() => undefined);
      if (!power.cut) {
        assert.ok(first);
        tpm.removeStoreObjects(readConfig(dir).tpm!);
        break;
      }
      cuts++;
      const restarted = await world.open(dir, { tpm });
      await restarted.client.select();
      const status = await restarted.client.status();
      assert.ok(status.balance === 1000 || status.balance === 950, `cut at write ${n}: balance ${status.balance}`);
      const ack = await payWithCard(restarted.client, { offer, pin: PIN, clock: world.clock });
      assert.equal(await world.merchantAccepts(ack, offer), true);
      assert.equal((await restarted.client.status()).balance, 950, `cut at write ${n}: debited once`);
      // Reopening after the retry finds the counter and the files agreeing.
      await world.open(dir, { tpm });
      tpm.removeStoreObjects(readConfig(dir).tpm!);
    } finally {
      remove();
    }
  }
  assert.ok(cuts > 30, `${cuts} cut points`);
});

test("swtpm's TPM answers through tpm2-tools; a TPM signature that is not DER is refused", async () => {
  assert.equal(tpm.available(), true);
  const { derToP1363 } = await import("../src/tpm.js");
  assert.throws(() => derToP1363(new Uint8Array([0x30, 0x02, 0x05, 0x00])), /not a DER SEQUENCE/);
  assert.ok(readFileSync(join(tpmState.dir, "tpm2-00.permall")).length > 0, "swtpm keeps its state where it was told");
});
