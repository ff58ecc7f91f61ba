/**
 * `peage settle --data DIR --period YYYY-MM --out OUTDIR`: closes a period of the payment server
 * and settles it: statements for users, payout reports for publishers, ISO 20022 bank files
 * (pain.001 credit transfers to publishers, pain.008 direct debits from postpaid users with a
 * SEPA mandate). Run again, it pays and collects nothing more and writes the same files.
 */
import { formatPrice, type Price } from "@peage/protocol";
import type { SettleResult } from "@peage/server";
import type { Command, CommandGroup } from "../command.js";
import { bookOptions, openBooks } from "../books.js";
import { CommandError } from "../errors.js";
import { print, printJson } from "../output.js";

const settleCommand: Command = {
  spec: {
    name: "settle",
    title: "close a period, write statements, payout reports and ISO 20022 bank files",
    summary:
      "Close the period (later payments go to the next one), then settle it: what each postpaid user owes is collected (pain.008 SEPA direct debit with a mandate, an invoice otherwise), " +
      "what each publisher earned is paid per currency (pain.001: a SEPA batch in euros, another for the rest) unless it is below the currency's minimum payout or the publisher has no bank details, " +
      "in which case it is carried to the next period; so is a payout whose bank details the bank file refuses (a bill whose mandate it refuses is invoiced instead), reported with what to fix. Writes user statements and publisher payout reports (CSV and HTML), the bank files and settlement-PERIOD.json into OUTDIR. " +
      "Safe to run again, also after a crash: a period is settled once, and the files come out byte for byte the same.",
    synopsis: "--data DIR --period YYYY-MM --out OUTDIR [--database-url URL] [--json]",
    options: {
      ...bookOptions,
      period: { type: "string", value: "YYYY-MM", description: "the month to settle (UTC); earlier months with payments must be settled first" },
      out: { type: "string", value: "OUTDIR", description: "where to write the files (created if missing)" },
      json: { type: "boolean", description: "print the settlement summary as JSON" },
    },
    notes: ["Minimum payouts, the fee and the operator's bank account come from DIR/server.json (minimumPayouts, feeBasisPoints, bank); without \"bank\", demonstration values are used and the bank files say so."],
  },
  async run(o) {
    const period = o.required("period", "YYYY-MM");
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) throw o.usage(`--period ${period}: expected a month, YYYY-MM`);
    const out = o.required("out", "OUTDIR");
    const books = await openBooks(o);
    let result: SettleResult;
    try {
      result = await books.server.settle({ store: books.store, period, outDir: out, config: books.config, now: new Date() });
    } catch (cause) {
      if (cause instanceof books.server.SettlementError) throw new CommandError(cause.code, cause.message);
      throw cause;
    } finally {
      await books.store.close();
    }
    if (o.flag("json")) {
      const { settlement, details } = result;
      printJson({
        period,
        recordedNow: result.recordedNow,
        out,
        files: result.files,
        payouts: settlement.payouts,
        collections: settlement.collections,
        holds: details.holds,
        refusedDebits: details.refusedDebits ?? [],
        totals: details.totals,
      });
      return;
    }
    const { settlement, details } = result;
    print(`period ${period} of ${books.where}: closed; settlement ${result.recordedNow ? "recorded now" : `recorded before, at ${settlement.createdAt} (nothing paid or collected again)`}`);
    const sum = (prices: readonly Price[]) => {
      const byCurrency = new Map<string, number>();
      for (const p of prices) byCurrency.set(p.currency, (byCurrency.get(p.currency) ?? 0) + p.amount);
      return [...byCurrency].map(([currency, amount]) => formatPrice({ amount, currency } as Price)).join(", ") || "nothing";
    };
    print(`payouts      ${settlement.payouts.length} to publishers, ${sum(settlement.payouts.map((p) => p.amount))}; execution ${settlement.executionDate}`);
    print(`collections  ${settlement.collections.length} from postpaid users, ${sum(settlement.collections.map((c) => c.amount))}; collection ${settlement.collectionDate}`);
    for (const hold of details.holds) print(`carried      ${hold.publisher} ${hold.amount} minor units of ${hold.currency}: ${hold.reason}${hold.detail ? ` (${hold.detail})` : ""}`);
    for (const refused of details.refusedDebits ?? []) {
      print(`invoiced     ${refused.user} ${refused.amount} minor units of ${refused.currency}: mandate ${refused.mandate} refused by the direct-debit file (${refused.detail})`);
    }
    for (const [currency, t] of Object.entries(details.totals)) print(`tie-out ${currency}  billed ${t.billed} = publishers ${t.publishers} + fees ${t.fees} + exchange ${t.fx} (minor units)`);
    print(`files        ${result.files.length} in ${out}`);
    for (const file of result.files) print(`  ${file}`);
    if (result.files.some((file) => file.startsWith("bank")) && details.operator.name.includes("DEMO VALUES")) process.stderr.write("note: the bank files carry the demonstration bank account: set \"bank\" in server.json for real ones\n");
  },
};

export const settle: CommandGroup = {
  name: "settle",
  summary: "settle a period",
  commands: [settleCommand],
};
