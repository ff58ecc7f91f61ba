declare const timestampBrand: unique symbol;

/**
 * A UTC instant written as RFC 3339 with milliseconds and a "Z" ("2026-11-24T23:52:39.000Z"),
 * the form `Date.prototype.toISOString` produces. One spelling per instant keeps hashes stable.
 */
export type Timestamp = string & { readonly [timestampBrand]: true };

export const timestampPattern = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$";
const timestampRegExp = new RegExp(timestampPattern);

/**
 * True for a string in the timestamp form that names a real instant: the pattern puts every digit
 * in its place, and each field must be in its range (a day that its month has, in the proleptic
 * Gregorian calendar; no hour 24, no leap second), which is exactly when Date's round trip
 * (toISOString of the parsed instant) gives the string back; Date.parse alone would roll
 * "02-30" into March.
 */
export function isTimestamp(value: unknown): value is Timestamp {
  if (typeof value !== "string" || !timestampRegExp.test(value)) return false;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    digitsAt(value, 11, 2) <= 23 &&
    digitsAt(value, 14, 2) <= 59 &&
    digitsAt(value, 17, 2) <= 59
  );
}

/** The number written by `length` ASCII digits from `start`. */
function digitsAt(text: string, start: number, length: number): number {
  let number = 0;
  for (let i = start; i < start + length; i++) number = number * 10 + text.charCodeAt(i) - 0x30;
  return number;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

export function timestamp(date: Date): Timestamp {
  return date.toISOString() as Timestamp;
}

export function toDate(value: Timestamp): Date {
  return new Date(Date.parse(value));
}

/** The one clock abstraction: injected everywhere, so tests control time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that stays where it is put; for tests and test vectors. */
export class FixedClock implements Clock {
  constructor(private current: Date) {}
  now(): Date {
    return new Date(this.current.getTime());
  }
  set(date: Date): void {
    this.current = new Date(date.getTime());
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}
