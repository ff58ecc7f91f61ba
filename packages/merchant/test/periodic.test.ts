import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createDemoPki, FixedClock, type DemoPki } from "@peage/protocol";
import { createTestWorld, type TestWorld } from "@peage/wallet/testing";
import { Merchant, type Authorization, type MerchantError } from "../src/index.js";
import { Inbox, ManualTime } from "./helpers.js";

const PERIOD_MS = 300_000; // the "play-time" offer grants 300 s

let pki: DemoPki;
let world: TestWorld;

before(async () => {
  pki = await createDemoPki();
  world = await createTestWorld({ pki, balance: 100_000 });
});
after(async () => {
  await world.close();
});

async function setup(clock = new FixedClock(new Date())) {
  const time = new ManualTime();
  const merchant = await Merchant.create({
    catalog: world.catalog,
    trustRoots: world.rootsPem,
    wallet: { endpointFile: world.endpointFile },
    clock,
    monotonic: time,
    scheduler: time,
  });
  return { time, merchant, clock };
}

test("a period is paid at start and renewed exactly when the monotonic clock says it ended, whatever the wall clock does", async () => {
  const { time, merchant, clock } = await setup();
  const paid = new Inbox<Authorization>();
  const paused = new Inbox<MerchantError>();
  const controller = merchant.periodic("play-time", { onPause: paused.push, onPaid: paid.push });
  const first = await paid.next();
  assert.equal(controller.state, "running");
  assert.equal(first.validUntil?.getTime(), first.serverTime.getTime() + PERIOD_MS);
  assert.equal(controller.remainingMs(), PERIOD_MS);

  // The user winds the machine's clock back two minutes: the period does not get longer...
  clock.advance(-120_000);
  time.advance(PERIOD_MS - 1);
  assert.equal(controller.remainingMs(), 1);
  assert.equal(paid.size, 0, "no renewal before the monotonic end");
  assert.equal(world.server.payments.filter((p) => p.paymentId === first.paymentId).length, 1);
  // ...and it ends at exactly PERIOD_MS of monotonic time: the renewal is asked for then.
  time.advance(1);
  const second = await paid.next();
  assert.notEqual(second.paymentId, first.paymentId);
  assert.notEqual(second.nonce, first.nonce);
  assert.equal(controller.remainingMs(), PERIOD_MS);
  // Winding the wall clock forward does not shorten it either.
  clock.advance(3_600_000);
  assert.equal(controller.remainingMs(), PERIOD_MS);
  controller.stop();
  assert.equal(controller.state, "stopped");
  assert.equal(time.pendingTimers, 0);
  time.advance(10 * PERIOD_MS);
  assert.equal(paid.size, 0, "a stopped controller pays nothing more");
  assert.equal(paused.size, 0);
});

test("a timer that fires early is re-armed for the rest of the period: nothing is paid before the end", async () => {
  const time = new ManualTime(true);
  const merchant = await Merchant.create({
    catalog: world.catalog,
    trustRoots: world.rootsPem,
    wallet: { endpointFile: world.endpointFile },
    monotonic: time,
    scheduler: time,
  });
  const paid = new Inbox<Authorization>();
  const controller = merchant.periodic("play-time", { onPause: () => assert.fail("no pause expected"), onPaid: paid.push });
  await paid.next();
  for (let step = 0; step < 10; step++) time.advance((PERIOD_MS - 1) / 10);
  assert.equal(paid.size, 0);
  assert.ok(controller.remainingMs() > 0);
  time.advance(1);
  await paid.next();
  controller.stop();
});

test("a failed renewal pauses the program; resume() pays and the program goes on", async () => {
  const { time, merchant } = await setup();
  const paid = new Inbox<Authorization>();
  const paused = new Inbox<MerchantError>();
  const resumed = new Inbox<Authorization>();
  const controller = merchant.periodic("play-time", { onPause: paused.push, onPaid: paid.push, onResume: resumed.push });
  assert.ok(await controller.started);
  await paid.next();

  world.server.setBalance(world.user, 0);
  time.advance(PERIOD_MS);
  const error = await paused.next();
  assert.equal(error.code, "ERR_INSUFFICIENT_FUNDS");
  assert.equal(controller.state, "paused");
  assert.equal(controller.remainingMs(), 0);

  // Resuming while still unfunded fails again, without a second pause notice.
  await assert.rejects(controller.resume(), (e: unknown) => (e as MerchantError).code === "ERR_INSUFFICIENT_FUNDS");
  assert.equal(paused.size, 0);
  assert.equal(controller.state, "paused");

  world.server.setBalance(world.user, 100_000);
  const again = await controller.resume();
  assert.equal((await resumed.next()).paymentId, again.paymentId);
  assert.equal(controller.state, "running");
  assert.equal(controller.remainingMs(), PERIOD_MS);
  controller.stop();
});

test("when the first payment fails the program starts paused", async () => {
  const time = new ManualTime();
  const merchant = await Merchant.create({
    catalog: world.catalog,
    trustRoots: world.rootsPem,
    wallet: { endpointFile: `${world.dir}/no-wallet-here.json` },
    monotonic: time,
    scheduler: time,
  });
  const paused = new Inbox<MerchantError>();
  const controller = merchant.periodic("play-time", { onPause: paused.push });
  assert.equal(await controller.started, undefined);
  assert.equal((await paused.next()).code, "ERR_WALLET_UNAVAILABLE");
  assert.equal(controller.state, "paused");
  controller.stop();
  await assert.rejects(controller.resume(), (e: unknown) => (e as MerchantError).code === "ERR_UNKNOWN_OFFER");
});
