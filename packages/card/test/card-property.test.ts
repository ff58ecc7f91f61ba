/**
 * Random sequences of everything a wallet (or a thief) can do to a card — payments of every
 * price, right and wrong PINs, reloads, syncs, resets, power cycles — against a model of what
 * the card must do. Whatever the sequence: the balance never goes below zero (nor a postpaid
 * card's use above its ceiling), money is conserved (balance = loaded − paid), the log holds
 * exactly the payments not yet synced, and a blocked card pays nothing.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { price } from "@peage/protocol";
import {
  CardClient,
  createReloadCommand,
  createSyncCommand,
  decodeToken,
  InProcessTransport,
  MemoryMedium,
  type CardMode,
  type LogEntryBody,
} from "../src/index.js";
import { makeCardWorld, PIN, PRICES, swOf, WRONG_PIN, type CardWorld } from "./helpers.js";

type Action =
  | { readonly kind: "pay"; readonly amount: number }
  | { readonly kind: "reload"; readonly amount: number }
  | { readonly kind: "sync" }
  | { readonly kind: "pin" }
  | { readonly kind: "wrong-pin" }
  | { readonly kind: "reset" }
  | { readonly kind: "power-cycle" };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PRICES).map((amount) => ({ kind: "pay" as const, amount })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 3000 }).map((amount) => ({ kind: "reload" as const, amount })) },
  { weight: 2, arbitrary: fc.constant({ kind: "sync" as const }) },
  { weight: 6, arbitrary: fc.constant({ kind: "pin" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "wrong-pin" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "power-cycle" as const }) },
);

const LOG_CAPACITY = 6;
const START = 1200;

describe("random card use (property)", () => {
  let world: CardWorld;
  const images = new Map<CardMode, MemoryMedium>();
  before(async () => {
    world = await makeCardWorld();
    for (const mode of ["prepaid", "postpaid"] as const) {
      const image = new MemoryMedium();
      await world.issue(image, { mode, balance: START, ceiling: START, logCapacity: LOG_CAPACITY });
      images.set(mode, image);
    }
  });

  for (const mode of ["prepaid", "postpaid"] as const) {
    let payments = 0;
    it(`${mode}: ${mode === "prepaid" ? "the balance never goes below zero" : "use never exceeds the ceiling"}, money is conserved, the log is what is not synced`, async () => {
      await fc.assert(
        // Most sequences start with the right PIN, so that they get past it; some do not.
        fc.asyncProperty(
          fc.integer({ min: 0, max: 3 }).map((n) => n > 0),
          fc.array(action, { minLength: 1, maxLength: 30 }),
          async (pinFirst, rest) => {
            const actions: Action[] = pinFirst ? [{ kind: "pin" }, ...rest] : rest;
            const medium = images.get(mode)!.clone();
            const open = async (): Promise<CardClient> => {
              const client = new CardClient(await InProcessTransport.open(medium, { clock: world.clock }));
              await client.select();
              return client;
            };
            let client = await open();
            // The model.
            let tries = 3;
            let verified = false;
            let available = START; // prepaid: balance; postpaid: ceiling − used
            let loaded = START;
            let paid = 0;
            let synced = 0;
            let counter = 0;
            let logged = 0;
            let seq = 0;
            for (const step of actions) {
              switch (step.kind) {
                case "pay": {
                  const expected: string =
                    tries === 0
                      ? "6983"
                      : !verified
                        ? "6982"
                        : logged >= LOG_CAPACITY
                          ? "6A84"
                          : step.amount > available
                            ? "6985"
                            : "9000";
                  const offer = world.offer(step.amount);
                  assert.equal(await swOf(client.pay(world.request(offer))), expected, `pay ${step.amount}`);
                  // One VERIFY, one PAY: any PAY past the PIN checks uses the verification up.
                  if (tries > 0) verified = false;
                  if (expected === "9000") {
                    payments++;
                    available -= step.amount;
                    paid += step.amount;
                    counter++;
                    logged++;
                  }
                  break;
                }
                case "reload": {
                  const command = await createReloadCommand({
                    issuer: world.issuer,
                    card: world.card,
                    seq,
                    amount: price(step.amount, "EUR"),
                  });
                  // Claim 8: only a card whose log a SYNC cleared up to its counter is reloaded.
                  const expected: string = mode === "prepaid" && logged === 0 ? "9000" : "6985";
                  assert.equal(await swOf(client.reload(command)), expected);
                  if (expected === "9000") {
                    available += step.amount;
                    loaded += step.amount;
                    seq++;
                    // Replaying it is refused.
                    assert.equal(await swOf(client.reload(command)), "6985");
                  }
                  break;
                }
                case "sync": {
                  const entries = await client.readLog();
                  const amounts = entries.map((token) => (decodeToken(token)!.body as LogEntryBody).price.amount);
                  await client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq, upTo: counter }));
                  seq++;
                  logged = 0;
                  synced += amounts.reduce((a, b) => a + b, 0);
                  // Postpaid: what the server recorded is no longer "used since the last sync".
                  if (mode === "postpaid") available = START;
                  break;
                }
                case "pin": {
                  assert.equal(await swOf(client.verifyPin(PIN)), tries === 0 ? "6983" : "9000");
                  if (tries > 0) {
                    tries = 3;
                    verified = true;
                  }
                  break;
                }
                case "wrong-pin": {
                  if (tries === 0) {
                    assert.equal(await swOf(client.verifyPin(WRONG_PIN)), "6983");
                  } else {
                    tries--;
                    verified = false;
                    assert.equal(await swOf(client.verifyPin(WRONG_PIN)), `63C${tries}`);
                  }
                  break;
                }
                case "reset": {
                  await (client.transport as InProcessTransport).reset();
                  await client.select();
                  verified = false;
                  break;
                }
                case "power-cycle": {
                  client = await open();
                  verified = false;
                  break;
                }
              }
              const status = await client.status();
              const log = await client.readLog();
              const logSum = log
                .map((token) => (decodeToken(token)!.body as LogEntryBody).price.amount)
                .reduce((a, b) => a + b, 0);
              assert.equal(status.counter, counter);
              assert.equal(status.logLength, logged);
              assert.equal(status.pinTriesLeft, tries);
              assert.equal(logSum, paid - synced, "the log holds exactly the payments not synced");
              if (mode === "prepaid") {
                assert.ok(status.balance! >= 0);
                assert.equal(status.balance, available);
                assert.equal(status.balance, loaded - paid, "money is conserved");
              } else {
                assert.ok(status.used! <= status.ceiling!);
                assert.equal(status.used, logSum);
                assert.equal(status.ceiling! - status.used!, available);
              }
            }
          },
        ),
        { numRuns: 60 },
      );
      // The sequences did reach the interesting part: many payments went through.
      assert.ok(payments >= 30, `only ${payments} payments succeeded`);
    });
  }
});
