/**
 * The merchant SDK's periodic trigger pays by metered session when the offer allows it (a period
 * offer with a tick price) and the merchant knows where to settle: one consent for the cap, then a
 * hash-chain word per period checked offline, settled for the periods used when the schedule
 * stops. Real payment server, real wallet service, the SDK's monotonic clock driven by hand.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { certificateToPem, price } from "@peage/protocol";
import { Merchant, type Authorization, type MonotonicClock, type Scheduler, type UsageSettlement } from "@peage/merchant";
import { startPaidWorld, USER, type PaidWorld } from "./world.js";

/** A monotonic clock and scheduler moved by hand. */
class HandTime implements MonotonicClock, Scheduler {
  #now = 0;
  #timers = new Map<number, { due: number; run: () => void }>();
  #next = 1;
  now(): number {
    return this.#now;
  }
  setTimeout(run: () => void, ms: number): unknown {
    this.#timers.set(this.#next, { due: this.#now + ms, run });
    return this.#next++;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  advance(ms: number): void {
    this.#now += ms;
    for (const [id, timer] of [...this.#timers]) {
      if (timer.due > this.#now) continue;
      this.#timers.delete(id);
      timer.run();
    }
  }
}

let world: PaidWorld;
before(async () => {
  world = await startPaidWorld(1000, [
    {
      offerId: "play",
      description: "Play, 1 cent a minute, at most 10",
      price: price(10, "EUR"),
      upto: true,
      tick: price(1, "EUR"),
      grant: { kind: "period", seconds: 60 },
    },
  ]);
});
after(() => world.close());

test("the periodic trigger pays each period by the next tick of one session, settled for the periods used", async () => {
  const time = new HandTime();
  const merchant = await Merchant.create({
    catalog: world.catalog,
    trustRoots: certificateToPem(world.pki.root.certificate),
    wallet: { endpointFile: world.endpointFile },
    monotonic: time,
    scheduler: time,
    settleAt: world.server.url,
    server: world.pki.server.identity,
  });
  const before = await world.server.balanceOf(USER);
  const paid: Authorization[] = [];
  let waiting: (() => void) | undefined;
  const settled = new Promise<UsageSettlement | undefined>((resolve, reject) => {
    const controller = merchant.periodic("play", {
      onPause: (error) => reject(error),
      onPaid: (authorization) => {
        paid.push(authorization);
        waiting?.();
      },
      onSettled: (settlement, error) => (error ? reject(error as Error) : resolve(settlement)),
    });
    void (async () => {
      await controller.started;
      for (let period = 2; period <= 4; period++) {
        const next = new Promise<void>((done) => (waiting = done));
        time.advance(60_000);
        await next;
      }
      controller.stop();
    })().catch(reject);
  });
  const settlement = await settled;
  assert.equal(paid.length, 4, "four periods paid");
  assert.equal(new Set(paid.map((a) => a.paymentId)).size, 1, "by one payment: the session's");
  assert.deepEqual(settlement?.used, { amount: 4, currency: "EUR" });
  assert.deepEqual(settlement?.maximum, { amount: 10, currency: "EUR" });
  assert.equal(settlement?.ticks, 4);
  assert.equal(await world.server.balanceOf(USER), before - 4);
});
