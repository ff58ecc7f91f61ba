declare const timestampBrand: unique symbol;

/**
 * A UTC instant written as RFC 3339 with milliseconds and a "Z" ("2026-11-24T23:52:39.000Z"),
 * the form `Date.prototype.toISOString` produces. One spelling per instant keeps hashes stable.
 */
export type Timestamp = string & { readonly [timestampBrand]: true };

export const timestampPattern = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$";
const timestampRegExp = new RegExp(timestampPattern);

export function isTimestamp(value: unknown): value is Timestamp {
  if (typeof value !== "string" || !timestampRegExp.test(value)) return false;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && new Date(ms).toISOString() === value;
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
