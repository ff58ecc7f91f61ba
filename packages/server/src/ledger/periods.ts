/**
 * Settlement periods: calendar months in UTC, "YYYY-MM". Every ledger transaction belongs to one
 * period, fixed when it is written: the month of its time, or, when that month is already closed,
 * the first month after it that is still open. A closed period therefore never changes, and a
 * payment that arrives after the close is billed and paid in the next one.
 */

const periodPattern = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function isPeriod(text: string): boolean {
  return periodPattern.test(text);
}

/** The period of an instant (RFC 3339 string or Date). */
export function periodOf(at: string | Date): string {
  const date = typeof at === "string" ? new Date(at) : at;
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a date: ${String(at)}`);
  return date.toISOString().slice(0, 7);
}

export function nextPeriod(period: string): string {
  const match = periodPattern.exec(period);
  if (!match) throw new RangeError(`not a period (YYYY-MM): ${period}`);
  const year = Number(match[1]);
  const month = Number(match[2]);
  return month === 12 ? `${String(year + 1).padStart(4, "0")}-01` : `${match[1]}-${String(month + 1).padStart(2, "0")}`;
}

/** First and last day of a period, YYYY-MM-DD. */
export function periodDays(period: string): { first: string; last: string } {
  const match = periodPattern.exec(period);
  if (!match) throw new RangeError(`not a period (YYYY-MM): ${period}`);
  const last = new Date(Date.UTC(Number(match[1]), Number(match[2]), 0));
  return { first: `${period}-01`, last: last.toISOString().slice(0, 10) };
}

/** The period a transaction of `month` goes to, given the closed periods (any order). */
export function assignPeriod(month: string, closed: Iterable<string>): string {
  const set = new Set(closed);
  let period = month;
  while (set.has(period)) period = nextPeriod(period);
  return period;
}
