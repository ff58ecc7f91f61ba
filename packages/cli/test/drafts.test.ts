/**
 * The offer drafts `peage catalog sign` reads, in-process: every mistake is refused with a
 * message naming the offer, and decimal prices become minor units exactly, never through floats.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseDrafts } from "../src/commands/catalog.js";
import { CommandError } from "../src/errors.js";

const good = {
  offerId: "launch",
  description: "Start the game",
  price: { amount: "1.50", currency: "EUR" },
  grant: { kind: "launch" },
};

function refused(value: unknown, message: RegExp): void {
  assert.throws(
    () => parseDrafts(typeof value === "string" ? value : JSON.stringify(value), "offers.json"),
    (error: unknown) => {
      assert.ok(error instanceof CommandError, String(error));
      assert.equal(error.code, "ERR_BAD_OFFER");
      assert.match(error.message, /^--offers offers\.json: /);
      assert.match(error.message, message);
      assert.match(error.message, /; fix it and sign again$/);
      return true;
    },
  );
}

describe("offer drafts", () => {
  it("accepts the three kinds of grant and both spellings of a price", () => {
    const drafts = parseDrafts(
      JSON.stringify([
        good,
        {
          offerId: "hour",
          description: "One hour",
          price: { amount: 300, currency: "JPY" },
          grant: { kind: "period", seconds: 3600 },
        },
        {
          offerId: "level-2",
          description: "Level 2",
          price: { amount: "0.250", currency: "BHD" },
          grant: { kind: "event", event: "level-2" },
        },
        { offerId: "free", description: "Free", price: { amount: "0", currency: "EUR" }, grant: { kind: "launch" } },
      ]),
      "offers.json",
    );
    assert.deepEqual(
      drafts.map((d) => [d.offerId, d.price.amount, d.price.currency, d.grant.kind]),
      [
        ["launch", 150, "EUR", "launch"],
        ["hour", 300, "JPY", "period"],
        ["level-2", 250, "BHD", "event"],
        ["free", 0, "EUR", "launch"],
      ],
    );
  });

  it("refuses a file that is not a list of offers", () => {
    refused("[{", /it is not JSON/);
    refused({ offers: [good] }, /it must be a JSON array of offers/);
    refused([], /it holds no offer/);
    refused(
      Array.from({ length: 1001 }, (_, i) => ({ ...good, offerId: `o${i}` })),
      /it holds 1001 offers; a catalog has at most 1000/,
    );
  });

  it("names the offer and the mistake", () => {
    const cases: [unknown, RegExp][] = [
      ["launch", /offer #1: must be a JSON object/],
      [{ ...good, priority: 1 }, /offer #1 \("launch"\): unknown field "priority"/],
      [{ ...good, offerId: "Launch" }, /offer #1 \("Launch"\): offerId must be 1 to 63 lower-case letters/],
      [{ ...good, offerId: 7 }, /offer #1: offerId must be/],
      [{ ...good, description: "" }, /description must be a text of 1 to 500 characters/],
      [{ ...good, description: "x".repeat(501) }, /description must be a text of 1 to 500 characters/],
      [{ ...good, description: "Pay \u202e01.0 EUR" }, /must not contain control characters or bidirectional overrides/],
      [{ ...good, description: "line\nbreak" }, /must not contain control characters/],
      [{ ...good, price: 150 }, /price must be an object/],
      [{ ...good, price: { amount: 150, currency: "EUR", vat: 20 } }, /price has an unknown field "vat"/],
      [{ ...good, price: { amount: 150, currency: "eur" } }, /price.currency "eur" is not an active ISO 4217 currency code/],
      [{ ...good, price: { amount: 150 } }, /price.currency undefined is not an active ISO 4217 currency code/],
      [
        { ...good, price: { amount: 1.5, currency: "EUR" } },
        /price.amount 1.5 is not a whole number of minor units: write EUR amounts as integers of minor units or as a decimal string such as "1.50"/,
      ],
      [{ ...good, price: { amount: -1, currency: "EUR" } }, /price.amount -1 is negative/],
      [{ ...good, price: { amount: 2 ** 53, currency: "EUR" } }, /is too large to be carried exactly in JSON/],
      [{ ...good, price: { amount: "1.505", currency: "EUR" } }, /price.amount: EUR has 2 decimal place\(s\); "1.505" has 3/],
      [{ ...good, price: { amount: "1.5", currency: "JPY" } }, /price.amount: JPY has 0 decimal place\(s\)/],
      [{ ...good, price: { amount: "1,50", currency: "EUR" } }, /price.amount: not a decimal amount: "1,50"/],
      [{ ...good, price: { amount: "-1.00", currency: "EUR" } }, /price.amount: not a decimal amount/],
      [{ ...good, price: { amount: "1e3", currency: "EUR" } }, /price.amount: not a decimal amount/],
      [
        { ...good, price: { amount: null, currency: "EUR" } },
        /price.amount must be an integer of minor units \(150\) or a decimal string \("1.50"\)/,
      ],
      [{ ...good, grant: { kind: "forever" } }, /grant must be \{"kind":"launch"\}/],
      [{ ...good, grant: { kind: "period", seconds: 0 } }, /grant \{"kind":"period"\} needs "seconds"/],
      [{ ...good, grant: { kind: "period", seconds: 366 * 86400 + 1 } }, /grant \{"kind":"period"\} needs "seconds"/],
      [{ ...good, grant: { kind: "event", event: "Level 2" } }, /grant \{"kind":"event"\} needs "event"/],
      [{ ...good, grant: { kind: "launch", times: 2 } }, /grant \{"kind":"launch"\} takes no other field/],
    ];
    for (const [draft, message] of cases) refused([draft], message);
    // The position counts from 1 and follows the file.
    refused([good, { ...good, offerId: "b" }, { ...good, offerId: "c", grant: null }], /offer #3 \("c"\): grant must be/);
    refused([good, { ...good, offerId: "b" }, good], /offers #1 and #3 have the same offerId "launch"; each offer needs its own/);
  });

  it("converts decimal prices to minor units exactly, for any amount and exponent", () => {
    const currencies = [
      ["JPY", 0],
      ["EUR", 2],
      ["BHD", 3],
    ] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...currencies),
        fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) }),
        fc.nat(4),
        ([currency, exponent], minor, padding) => {
          // The decimal spelling of `minor` minor units, written with strings only, with optional leading zeros.
          const digits = minor.toString().padStart(exponent + 1, "0");
          const decimal = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
          const spelled = "0".repeat(padding) + decimal;
          const [fromString, fromInteger] = parseDrafts(
            JSON.stringify([
              { ...good, offerId: "a", price: { amount: spelled, currency } },
              { ...good, offerId: "b", price: { amount: Number(minor), currency } },
            ]),
            "offers.json",
          );
          assert.equal(fromString!.price.amount, Number(minor));
          assert.equal(fromInteger!.price.amount, Number(minor));
          if (exponent > 0) refused([{ ...good, price: { amount: `${decimal}1`, currency } }], /decimal place/);
        },
      ),
      { numRuns: 200 },
    );
  });
});
