/**
 * Timestamps: the one spelling per instant that every message uses. isTimestamp decides from the
 * digits; here it is held to the definition it replaces, Date's round trip (the string is the
 * toISOString of the instant it parses to), over every field's range and beyond.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isTimestamp } from "../src/time.js";

/** The definition: the string is the toISOString of the instant Date.parse reads from it. */
function roundTrips(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value)) return false;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && new Date(ms).toISOString() === value;
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

test("isTimestamp accepts exactly the strings that Date writes back unchanged", () => {
  const field = (max: number) => fc.integer({ min: 0, max });
  fc.assert(
    fc.property(field(9999), field(19), field(39), field(29), field(69), field(69), field(999), (y, mo, d, h, mi, s, ms) => {
      const value = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad(ms, 3)}Z`;
      assert.equal(isTimestamp(value), roundTrips(value), value);
    }),
    { numRuns: 20_000 },
  );
});

test("isTimestamp on the edges: leap days, month lengths, hour 24, leap seconds, other spellings", () => {
  const cases = [
    "2024-02-29T00:00:00.000Z",
    "2023-02-29T00:00:00.000Z",
    "2000-02-29T12:00:00.000Z",
    "1900-02-29T12:00:00.000Z",
    "0000-02-29T00:00:00.000Z",
    "2026-04-31T00:00:00.000Z",
    "2026-12-31T23:59:59.999Z",
    "2026-00-10T00:00:00.000Z",
    "2026-01-00T00:00:00.000Z",
    "2026-01-01T24:00:00.000Z",
    "2026-06-30T23:59:60.000Z",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.000+00:00",
    "+02026-01-01T00:00:00.000Z",
    "２０２６-01-01T00:00:00.000Z",
  ];
  for (const value of cases) assert.equal(isTimestamp(value), roundTrips(value), value);
  assert.equal(isTimestamp(new Date(0).toISOString()), true);
  for (const value of [undefined, null, 0, new Date(0)]) assert.equal(isTimestamp(value), false);
});
