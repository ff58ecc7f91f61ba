/**
 * Reference rate tables by day, cached: a payment that needs a conversion asks for the table of
 * its date, and reading a whole day of rates for every payment would double its queries. The key
 * is the day with its import time, which a re-import changes; the day in force for a date is looked
 * up again after a minute, since `peage fx import` may run in another process.
 */
import type { RateTable } from "@peage/protocol";

const RECHECK_MS = 60_000;

export class RateDayCache {
  readonly #tables = new Map<string, RateTable | undefined>();
  readonly #dayOf = new Map<string, { key: string | undefined; checkedAt: number }>();

  async get(
    date: string,
    latestDay: (date: string) => Promise<{ date: string; importedAt: string } | undefined>,
    load: (date: string) => Promise<RateTable | undefined>,
  ): Promise<RateTable | undefined> {
    const now = performance.now();
    let known = this.#dayOf.get(date);
    if (!known || now - known.checkedAt > RECHECK_MS) {
      const day = await latestDay(date);
      known = { key: day && `${day.date}@${day.importedAt}`, checkedAt: now };
      if (this.#dayOf.size > 10_000) this.#dayOf.clear();
      this.#dayOf.set(date, known);
    }
    if (known.key === undefined) return undefined;
    if (!this.#tables.has(known.key)) {
      if (this.#tables.size > 1000) this.#tables.clear();
      this.#tables.set(known.key, await load(known.key.slice(0, 10)));
    }
    return this.#tables.get(known.key);
  }

  clear(): void {
    this.#tables.clear();
    this.#dayOf.clear();
  }
}
