/** Reference exchange rates by day (the ECB's), as imported: a day re-imported with other rates replaces the day. */
import type { RateTable } from "@peage/protocol";
import { all, get, run, type Logic } from "./operation.js";
import { currency, str } from "./rows.js";

export function* importRates(
  tables: readonly RateTable[],
  source: string,
  at: string,
): Logic<{ inserted: number; replaced: number; unchanged: number }> {
  let inserted = 0;
  let replaced = 0;
  let unchanged = 0;
  for (const table of tables) {
    const day = yield* get("SELECT base FROM fx_days WHERE date = ?", table.date);
    if (day) {
      const stored = yield* ratesOfDay(table.date, str(day["base"]));
      if (stored.base === table.base && sameRates(stored.rates, table.rates)) {
        unchanged++;
        continue;
      }
      yield* run("DELETE FROM fx_rates WHERE date = ?", table.date);
      yield* run("UPDATE fx_days SET base = ?, source = ?, imported_at = ? WHERE date = ?", table.base, source, at, table.date);
      replaced++;
    } else {
      yield* run("INSERT INTO fx_days (date, base, source, imported_at) VALUES (?, ?, ?, ?)", table.date, table.base, source, at);
      inserted++;
    }
    const entries = Object.entries(table.rates);
    for (let i = 0; i < entries.length; i += 200) {
      const chunk = entries.slice(i, i + 200);
      yield* run(
        `INSERT INTO fx_rates (date, currency, rate) VALUES ${chunk.map(() => "(?, ?, ?)").join(", ")}`,
        ...chunk.flatMap(([currency, rate]) => [table.date, currency, rate]),
      );
    }
  }
  return { inserted, replaced, unchanged };
}

function sameRates(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

function* ratesOfDay(date: string, base: string): Logic<RateTable> {
  const rows = yield* all<{ currency: string; rate: string }>(
    "SELECT currency, rate FROM fx_rates WHERE date = ? ORDER BY currency",
    date,
  );
  return { base: currency(base, "fx_days.base"), date, rates: Object.fromEntries(rows.map((row) => [row.currency, row.rate])) };
}

/** The latest stored day on or before `date`, with its import time (a cache key: a re-import changes it). */
export function* latestRateDay(date: string): Logic<{ date: string; base: string; importedAt: string } | undefined> {
  const row = yield* get("SELECT date, base, imported_at FROM fx_days WHERE date <= ? ORDER BY date DESC LIMIT 1", date);
  return row && { date: str(row["date"]), base: str(row["base"]), importedAt: str(row["imported_at"]) };
}

export function* ratesOn(date: string): Logic<RateTable | undefined> {
  const day = yield* latestRateDay(date);
  return day && (yield* ratesOfDay(day.date, day.base));
}
