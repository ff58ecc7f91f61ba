/**
 * `peage settle --data DIR --period YYYY-MM --out OUTDIR`: closes a period of the payment server
 * and settles it: statements for users, payout reports for publishers, ISO 20022 bank files
 * (pain.001 credit transfers to publishers, pain.008 direct debits from postpaid users with a
 * SEPA mandate). Run again, it pays and collects nothing more and writes the same files.
 * --dry-run shows all of that and changes nothing; the current month is closed only with --close-now.
 */
import { formatMinorUnits, formatPrice, type Price } from "@peage/protocol";
import type { SettleResult } from "@peage/server";
import type { Command, CommandGroup } from "../command.js";
import { bookOptions, openBooks, type Books } from "../books.js";
import { CommandError } from "../errors.js";
import { print, printJson } from "../output.js";

const settleCommand: Command = {
  spec: {
    name: "settle",
    title: "close a period, write statements, payout reports and ISO 20022 bank files",
    summary:
      "Close the period (later payments go to the next one), then settle it: what each postpaid user owes is collected (pain.008 SEPA direct debit with a mandate, an invoice otherwise), " +
      "what each publisher earned is paid per currency (pain.001: a SEPA batch in euros, another for the rest), or all in its payout currency converted at the rates imported with peage fx import (or the server's rates file), " +
      "unless it is below the currency's minimum payout, the publisher has no bank details or a rate is missing, " +
      "in which case it is carried to the next period; so is a payout whose bank details the bank file refuses (a bill whose mandate it refuses is invoiced instead), reported with what to fix. Writes user statements and publisher payout reports (CSV and HTML), the bank files and settlement-PERIOD.json into OUTDIR. " +
      "Safe to run again, also after a crash: a period is settled once, and the files come out byte for byte the same. " +
      "Execution and collection dates are TARGET2 business days. --dry-run shows all of it and changes nothing; the month in progress is closed only with --close-now.",
    synopsis: "--data DIR --period YYYY-MM --out OUTDIR [--dry-run] [--close-now] [--database-url URL] [--json]",
    options: {
      ...bookOptions,
      period: {
        type: "string",
        value: "YYYY-MM",
        description: "the month to settle (UTC); earlier months with payments must be settled first",
      },
      out: { type: "string", value: "OUTDIR", description: "where to write the files (created if missing)" },
      json: { type: "boolean", description: "print the settlement summary as JSON" },
      "dry-run": {
        type: "boolean",
        description: "show what would be collected, paid, carried and written, and change nothing (no close, no record, no file)",
      },
      "close-now": {
        type: "boolean",
        description: "close the current month before it has ended (later payments go to the next month)",
      },
    },
    notes: [
      'Minimum payouts, the fee and the operator\'s bank account come from DIR/server.json (minimumPayouts, feeBasisPoints, bank); without "bank", demonstration values are used and the bank files say so.',
    ],
  },
  async run(o) {
    const period = o.required("period", "YYYY-MM");
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) throw o.usage(`--period ${period}: expected a month, YYYY-MM`);
    const out = o.required("out", "OUTDIR");
    const books = await openBooks(o);
    const dryRun = o.flag("dry-run");
    let result: SettleResult;
    try {
      result = await books.server.settle({
        store: books.store,
        period,
        outDir: out,
        config: books.config,
        now: new Date(),
        dryRun,
        closeNow: o.flag("close-now"),
        // Payouts in a publisher's payout currency convert with the rates imported, or the server's rates file.
        rates: await ratesFile(books),
      });
    } catch (cause) {
      if (cause instanceof books.server.SettlementError) throw new CommandError(cause.code, cause.message);
      throw cause;
    } finally {
      await books.store.close();
    }
    if (o.flag("json")) {
      printJson({
        period,
        dryRun,
        recordedNow: result.recordedNow,
        out,
        files: result.files,
        payouts: result.settlement.payouts,
        collections: result.settlement.collections,
        holds: result.details.holds,
        refusedDebits: result.details.refusedDebits ?? [],
        totals: result.details.totals,
      });
      return;
    }
    printSummary(result, books.where, out);
    if (result.files.some((file) => file.startsWith("bank")) && result.details.operator.name.includes("DEMO VALUES"))
      process.stderr.write(
        'note: the bank files carry the demonstration bank account: set "bank" in server.json for real ones\n',
      );
  },
};

/**
 * The server's rates file, for payouts in a publisher's payout currency when no imported day is
 * newer. A file that cannot be read stops nothing: it is reported, and the imported rates are used.
 */
async function ratesFile(books: Books) {
  try {
    return await books.server.FileRateSource.load(books.config.ratesFile, { optional: true });
  } catch (cause) {
    if (!(cause instanceof books.server.RatesError)) throw cause;
    process.stderr.write(`warning: ${cause.message}; payouts in a payout currency use the rates imported with peage fx import\n`);
    return undefined;
  }
}

/** The settlement as a person reads it: every amount in major units with its currency ("35.00 USD"). */
function printSummary(result: SettleResult, where: string, out: string): void {
  const { settlement, details, period, dryRun } = result;
  if (dryRun) print(`DRY RUN: nothing was closed, recorded or written. A real run on ${where} would do this:`);
  else
    print(
      `period ${period} of ${where}: closed; settlement ${result.recordedNow ? "recorded now" : `recorded before, at ${settlement.createdAt} (nothing paid or collected again)`}`,
    );
  const sum = (prices: readonly Price[]) => {
    const byCurrency = new Map<string, bigint>();
    for (const p of prices) byCurrency.set(p.currency, (byCurrency.get(p.currency) ?? 0n) + BigInt(p.amount));
    return [...byCurrency].map(([currency, amount]) => formatMinorUnits(amount, currency)).join(", ") || "nothing";
  };
  print(
    `payouts      ${settlement.payouts.length} to publishers, ${sum(settlement.payouts.map((p) => p.amount))}; execution ${settlement.executionDate}`,
  );
  for (const p of settlement.payouts) {
    print(`  pay        ${p.publisher} ${formatPrice(p.amount)}${p.sepa ? " (SEPA)" : ""}`);
    for (const l of p.conversion?.lines ?? [])
      print(`             ${formatPrice(l.from)} → ${formatPrice(l.to)} at ${l.rate} (rates of ${p.conversion!.date})`);
  }
  print(
    `collections  ${settlement.collections.length} from postpaid users, ${sum(settlement.collections.map((c) => c.amount))}; collection ${settlement.collectionDate}`,
  );
  for (const c of settlement.collections) print(`  collect    ${c.user} ${formatPrice(c.amount)} (${c.method})`);
  for (const hold of details.holds)
    print(
      `carried      ${hold.publisher} ${formatMinorUnits(hold.amount, hold.currency)}: ${hold.reason}${hold.detail ? ` (${hold.detail})` : ""}`,
    );
  for (const refused of details.refusedDebits ?? []) {
    print(
      `invoiced     ${refused.user} ${formatMinorUnits(refused.amount, refused.currency)}: mandate ${refused.mandate} refused by the direct-debit file (${refused.detail})`,
    );
  }
  for (const [currency, t] of Object.entries(details.totals)) {
    const f = (amount: string) => formatMinorUnits(amount, currency);
    print(`tie-out ${currency}  billed ${f(t.billed)} = publishers ${f(t.publishers)} + fees ${f(t.fees)} + exchange ${f(t.fx)}`);
  }
  print(`files        ${result.files.length}${dryRun ? " would be written" : ""} in ${out}`);
  for (const file of result.files) print(`  ${file}`);
}

export const settle: CommandGroup = {
  name: "settle",
  summary: "settle a period",
  commands: [settleCommand],
};
