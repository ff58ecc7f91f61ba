/**
 * `peage fx import --data DIR FILE.xml`: stores the European Central Bank's euro reference rates,
 * from the daily file or the historical ones (one Cube time=… per day), in the payment server's
 * database. A payment converts with the latest day on or before its own date.
 */
import { readFile, stat } from "node:fs/promises";
import type { Command, CommandGroup } from "../command.js";
import { bookOptions, openBooks } from "../books.js";
import { CommandError, UsageError } from "../errors.js";
import { print, printJson } from "../output.js";

/** The ECB's full history since 1999 is about 6 MiB. */
const MAX_RATES_BYTES = 16 * 1024 * 1024;

const importCommand: Command = {
  spec: {
    name: "fx import",
    title: "import ECB euro reference rates (daily or historical XML) into the payment server",
    summary:
      "Store the ECB's euro foreign exchange reference rates in the payment server's database, one table per day: eurofxref-daily.xml, eurofxref-hist-90d.xml or eurofxref-hist.xml. " +
      "A payment is converted at the latest day on or before its own date, and records the rate it used. A day imported again with other rates replaces the stored one; the same rates change nothing.",
    synopsis: "--data DIR [--database-url URL] FILE.xml [--json]",
    positionals: ["FILE.xml"],
    options: {
      ...bookOptions,
      json: { type: "boolean", description: "print {days, first, last, inserted, replaced, unchanged} as JSON" },
    },
  },
  async run(o) {
    const file = o.positional(0, "FILE.xml");
    let xml: string;
    try {
      if ((await stat(file)).size > MAX_RATES_BYTES)
        throw new UsageError(`peage fx import: ${file} is larger than ${MAX_RATES_BYTES} bytes`);
      xml = await readFile(file, "utf8");
    } catch (cause) {
      if (cause instanceof UsageError) throw cause;
      throw o.usage(`${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`);
    }
    const books = await openBooks(o);
    try {
      let days;
      try {
        days = books.server.parseEcbRateDays(xml);
      } catch (cause) {
        if (cause instanceof books.server.RatesError) throw new CommandError(cause.code, `${file}: ${cause.message}`);
        throw cause;
      }
      const result = await books.store.importRates(days, file.split("/").pop() ?? file, new Date().toISOString());
      const summary = { days: days.length, first: days[0]!.date, last: days[days.length - 1]!.date, ...result };
      if (o.flag("json")) printJson(summary);
      else
        print(
          `imported ${summary.days} day(s) of rates, ${summary.first} to ${summary.last}, into ${books.where}: ${result.inserted} new, ${result.replaced} replaced, ${result.unchanged} unchanged`,
        );
    } finally {
      await books.store.close();
    }
  },
};

export const fx: CommandGroup = {
  name: "fx",
  summary: "exchange rates of the payment server",
  commands: [importCommand],
};
