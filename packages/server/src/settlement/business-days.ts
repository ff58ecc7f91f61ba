/**
 * TARGET2 business days: the days the euro's settlement system (T2, and with it SEPA credit
 * transfers and direct debits) is open. It is closed at weekends and on six holidays: 1 January,
 * Good Friday, Easter Monday, 1 May, 25 and 26 December. A bank file dated on a closed day is
 * executed on the next open one at best, or rejected; the settlement dates its files on open days.
 */

/** Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm, Meeus/Jones/Butcher), as a UTC date. */
export function easterSunday(year: number): Date {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return new Date(Date.UTC(year, month - 1, day));
}

const DAY_MS = 86_400_000;

/** The TARGET2 holidays of a year, YYYY-MM-DD. */
export function target2Holidays(year: number): string[] {
  const easter = easterSunday(year).getTime();
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const y = String(year).padStart(4, "0");
  return [`${y}-01-01`, iso(easter - 2 * DAY_MS), iso(easter + DAY_MS), `${y}-05-01`, `${y}-12-25`, `${y}-12-26`].sort();
}

/** Whether TARGET2 is open on a day (YYYY-MM-DD). */
export function isTarget2Day(day: string): boolean {
  const date = new Date(`${day}T00:00:00.000Z`);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a day (YYYY-MM-DD): ${day}`);
  const weekday = date.getUTCDay();
  if (weekday === 0 || weekday === 6) return false;
  return !target2Holidays(date.getUTCFullYear()).includes(day);
}

/** The TARGET2 business day `days` open days after `day` (YYYY-MM-DD). */
export function target2DayAfter(day: string, days: number): string {
  const date = new Date(`${day}T00:00:00.000Z`);
  let left = days;
  while (left > 0) {
    date.setUTCDate(date.getUTCDate() + 1);
    if (isTarget2Day(date.toISOString().slice(0, 10))) left--;
  }
  return date.toISOString().slice(0, 10);
}
