/** TARGET2 business days: Easter by computation, the six holidays, and the settlement's file dates. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { easterSunday, isTarget2Day, target2DayAfter, target2Holidays } from "../src/settlement/business-days.js";

test("Easter Sunday is computed for any Gregorian year", () => {
  // Published dates, including the earliest (22 March) and latest (25 April) possible ones.
  const known: Record<number, string> = {
    1818: "03-22",
    1943: "04-25",
    2000: "04-23",
    2019: "04-21",
    2024: "03-31",
    2025: "04-20",
    2026: "04-05",
    2027: "03-28",
    2038: "04-25",
    2285: "03-22",
  };
  for (const [year, day] of Object.entries(known))
    assert.equal(easterSunday(Number(year)).toISOString().slice(0, 10), `${year}-${day}`, year);
});

test("TARGET2 is closed at weekends, on 1 January, Good Friday, Easter Monday, 1 May, 25 and 26 December", () => {
  assert.deepEqual(target2Holidays(2026), ["2026-01-01", "2026-04-03", "2026-04-06", "2026-05-01", "2026-12-25", "2026-12-26"]);
  for (const closed of [
    "2026-01-01",
    "2026-04-03",
    "2026-04-06",
    "2026-05-01",
    "2026-12-25",
    "2026-12-26",
    "2026-03-07",
    "2026-03-08",
  ])
    assert.equal(isTarget2Day(closed), false, closed);
  for (const open of ["2026-01-02", "2026-04-02", "2026-04-07", "2026-12-24", "2026-12-28", "2026-05-08"])
    assert.equal(isTarget2Day(open), true, open);
  assert.throws(() => isTarget2Day("2026-13-01"), /not a day/);
});

test("the next business day skips holidays and weekends together", () => {
  // The end of December 2026: 1 January 2027 is a Friday, then a weekend.
  assert.equal(target2DayAfter("2026-12-31", 1), "2027-01-04");
  assert.equal(target2DayAfter("2027-01-04", 1), "2027-01-05");
  // Easter 2027: Thursday 25 March, then Good Friday, the weekend and Easter Monday.
  assert.equal(target2DayAfter("2027-03-25", 1), "2027-03-30");
  // Christmas 2026 falls on a Friday and Saturday.
  assert.equal(target2DayAfter("2026-12-24", 1), "2026-12-28");
  assert.equal(target2DayAfter("2026-04-30", 2), "2026-05-05");
});
