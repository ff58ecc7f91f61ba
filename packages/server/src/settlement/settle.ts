/**
 * Periodic settlement (patent: "périodiquement, tous les mois par exemple, le serveur SP calcule
 * le cumul des dépenses engagées par chaque utilisateur … de même, le cumul par l'éditeur permet
 * de calculer le montant dû à chaque éditeur"). For one period:
 *
 *   1. close it: from then on every new transaction goes to the next open period;
 *   2. compute, from the closed period's ledger, what each postpaid user owes and what each
 *      publisher is due per currency (a payout below the currency's minimum, or to a publisher
 *      without bank details, is carried to the next period);
 *   3. record that settlement, with its payouts and collections and their ledger transactions, in
 *      one database transaction; a period has one settlement (a unique key), so nothing is ever
 *      paid or collected twice;
 *   4. write the files from the recorded settlement: statements for users (CSV, HTML), payout
 *      reports for publishers (CSV, HTML), ISO 20022 bank files (pain.001 SEPA and other credit
 *      transfers for payouts, pain.008 direct debits for postpaid users with a SEPA mandate) and a
 *      JSON summary.
 *
 * Every step can be run again: a crash anywhere is repaired by running the settlement again,
 * which finds the period closed and the settlement recorded and writes the same files, byte for
 * byte (they depend on nothing but the recorded settlement and the closed period's ledger).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { formatPrice, PeageError } from "@peage/protocol";
import { BankFileInvalidError, checkBankFiles, XmlValidatorError } from "./bank-check.js";
import type { XmlValidatorErrorCode } from "../bank/index.js";
import { isPeriod, nextPeriod, periodDays, periodOf } from "../ledger/periods.js";
import { BankFileNames, buildBankFiles, isBankName, type UnbuiltFile } from "./bank-files.js";
import { renderPayoutCsv, renderPayoutHtml, renderStatementCsv, renderStatementHtml } from "../statements/index.js";
import { plan, stableJson, type PlanOptions, type SettlementDetails, type SettlementRates } from "./plan.js";
import type { RateSource } from "../rates/rate-source.js";
import { periodStatements } from "./statement-stream.js";
import { StoreStateError, type PeriodSums, type SettlementRecord, type Store, type StoreStateErrorCode } from "../store/store.js";

export {
  plan,
  periodTotals,
  stableJson,
  type Hold,
  type PeriodTotals,
  type RefusedDebit,
  type SettlementDetails,
  type SettlementRates,
} from "./plan.js";

export type SettleStep = "closed" | "recorded" | "files";

export interface SettleOptions {
  readonly store: Store;
  readonly period: string;
  /** Where the files go (created if missing). */
  readonly outDir: string;
  readonly config: PlanOptions["config"];
  /** The settlement's time, recorded with it (the first run's is kept). */
  readonly now: Date;
  /** Compute and show what would be collected, paid, carried and written, changing nothing (no close, no record, no file). */
  readonly dryRun?: boolean;
  /** Close a period that has not ended yet (the current month); without it that is refused. */
  readonly closeNow?: boolean;
  /** Called after each step and after each file written; a throw there stops the settlement as a crash would (tests). */
  readonly afterStep?: (step: SettleStep | `file:${string}`) => void | Promise<void>;
  /** Where the ISO 20022 schemas are (default: the copies shipped with the server). */
  readonly schemaDir?: string;
  /**
   * The server's rates file, consulted when no day on or before the settlement is imported in the
   * database; payouts in another currency than earned are converted with what this gives.
   */
  readonly rates?: RateSource;
  /** Ledger transactions read per page while writing statements (default: periodStatements' page). */
  readonly pageSize?: number;
}

export interface SettleResult {
  readonly period: string;
  /** False when an earlier run had already recorded this settlement (and in a dry run). */
  readonly recordedNow: boolean;
  /** True when nothing was changed: the settlement and files are what a real run would make now. */
  readonly dryRun: boolean;
  readonly settlement: SettlementRecord;
  readonly details: SettlementDetails;
  /** Paths of the files written (or, in a dry run, that would be), relative to outDir, sorted. */
  readonly files: readonly string[];
}

export const SettlementFiles = {
  summary: (period: string) => `settlement-${period}.json`,
  statement: (user: string, ext: "csv" | "html") => join("statements", `${slug(user)}.${ext}`),
  payout: (publisher: string, ext: "csv" | "html") => join("payouts", `${slug(publisher)}.${ext}`),
  ...BankFileNames,
} as const;

/** A file name for a party id: readable, and unique (a hash of the id ends it). */
function slug(id: string): string {
  return `${id
    .replace(/^urn:peage:(user|publisher):/, "")
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .slice(0, 60)}-${createHash("sha256").update(id).digest("hex").slice(0, 8)}`;
}

/**
 * Why a period cannot be settled: not a period, not over, out of order, left incomplete by an
 * earlier run, or a bank file that cannot be built or does not validate (the store's, the bank
 * builders' and the XML validator's codes are kept as they are).
 */
export type SettlementErrorCode =
  | "ERR_BAD_PERIOD"
  | "ERR_PERIOD_ORDER"
  | "ERR_SETTLEMENT_INCOMPLETE"
  | "ERR_BANK_FILE_INPUT"
  | "ERR_BANK_FILE_INVALID"
  | StoreStateErrorCode
  | XmlValidatorErrorCode;

/** A period that cannot be settled now; the message says what to do first. Nothing was written. */
export class SettlementError extends PeageError<SettlementErrorCode> {
  override readonly name = "SettlementError";
}

/** Settles a period (see the module comment); safe to run again, and again after a crash. */
export async function settle(opts: SettleOptions): Promise<SettleResult> {
  const { store, period } = opts;
  await checkSettleable(opts);
  if (opts.dryRun) return dryRun(opts);
  const step = async (name: SettleStep | `file:${string}`) => {
    if (opts.afterStep) await opts.afterStep(name);
  };
  try {
    await store.closePeriod(period, opts.now.toISOString());
  } catch (error) {
    if (error instanceof StoreStateError) throw new SettlementError(error.code, error.message);
    throw error;
  }
  await step("closed");

  const sums = await store.periodSums(period);
  const { settlement, recordedNow } = await recordOnce(opts, sums);
  await step("recorded");

  const details = JSON.parse(settlement.details) as SettlementDetails;
  const bank = buildBankFiles(settlement, details.operator, await repairNames(store, settlement));
  // Nothing is written unless every bank file validates against its schema.
  try {
    await checkBankFiles(bank.files, opts.schemaDir);
  } catch (error) {
    if (error instanceof BankFileInvalidError || error instanceof XmlValidatorError)
      throw new SettlementError(error.code, error.message);
    throw error;
  }
  const names = await eachFile(opts, settlement, details, sums, bank.files, async (name, content) => {
    await writeAtomically(join(opts.outDir, name), content);
    await step(`file:${name}`);
  });
  if (bank.unbuilt.length > 0) {
    // Only a settlement recorded before names were checked where they enter can get here.
    throw new SettlementError(
      "ERR_SETTLEMENT_INCOMPLETE",
      `period ${period} is recorded and ${names.length} files are written, but not ${describeUnbuilt(bank.unbuilt)}. ` +
        "Correct the names with PUT /v1/admin/publishers/:publisher or PUT /v1/admin/users/:user/mandate, then run peage settle again: it writes the missing files with the corrected names",
    );
  }
  await step("files");
  return { period, recordedNow, dryRun: false, settlement, details, files: names };
}

/** Refuses a period that is not one, has not ended (unless closed now), or has an unsettled period before it. */
async function checkSettleable(opts: SettleOptions): Promise<void> {
  const { store, period } = opts;
  if (!isPeriod(period)) throw new SettlementError("ERR_BAD_PERIOD", `${JSON.stringify(period)} is not a period: give YYYY-MM`);
  const current = periodOf(opts.now);
  if (period > current)
    throw new SettlementError(
      "ERR_PERIOD_NOT_OVER",
      `period ${period} has not started yet (it is ${current}): it cannot be settled`,
    );
  const alreadyClosed = (await store.closedPeriods()).some((closed) => closed.period === period);
  if (period === current && !alreadyClosed && !opts.closeNow && !opts.dryRun) {
    throw new SettlementError(
      "ERR_PERIOD_NOT_OVER",
      `period ${period} has not ended (it ends on ${periodDays(period).last}): settle it after that, or pass --close-now to close it now (later payments then go to ${nextPeriod(period)})`,
    );
  }
  // Periods are settled in order: a payout is what was earned up to the period less what earlier
  // settlements paid, so an earlier period settled later would be counted wrong.
  for (const earlier of await store.periodsWithTransactions()) {
    if (earlier < period && !(await store.getSettlement(earlier))) {
      throw new SettlementError(
        "ERR_PERIOD_ORDER",
        `period ${earlier} has transactions and is not settled: settle it before ${period}`,
      );
    }
  }
}

/** The closed period's settlement: the one recorded, or planned and recorded now. */
async function recordOnce(
  opts: SettleOptions,
  sums: PeriodSums,
): Promise<{ settlement: SettlementRecord; recordedNow: boolean }> {
  const { store, period } = opts;
  const existing = await store.getSettlement(period);
  if (existing) return { settlement: existing, recordedNow: false };
  const planned = plan(sums, await store.listPublishers(), { ...opts, rates: await ratesAt(opts) });
  // Every bank file is built before anything is recorded: what still fails now is the operator's
  // own bank details (each payout and mandate was tried alone by plan()), and nothing is paid.
  const { unbuilt } = buildBankFiles(planned, opts.config.bank);
  if (unbuilt.length > 0) {
    throw new SettlementError(
      "ERR_BANK_FILE_INPUT",
      `the bank files of ${period} cannot be built, so nothing was recorded: ${describeUnbuilt(unbuilt)}. Fix "bank" in server.json and run peage settle again`,
    );
  }
  const recorded = await store.recordSettlement(planned);
  return { settlement: recorded.settlement, recordedNow: recorded.kind === "recorded" };
}

/**
 * The server's rates at the settlement's time, as a payment at that time would convert: the
 * latest day imported on or before it, or the rates file when it is newer or nothing is imported.
 */
async function ratesAt(opts: SettleOptions): Promise<SettlementRates | undefined> {
  const date = opts.now.toISOString().slice(0, 10);
  const stored = await opts.store.ratesOn(date);
  const file = opts.rates?.current();
  if (file !== undefined && file.date <= date && (stored === undefined || file.date > stored.date))
    return { table: file, source: "the server's rates file" };
  if (stored !== undefined) return { table: stored, source: "reference rates imported with peage fx import" };
  return file === undefined ? undefined : { table: file, source: "the server's rates file" };
}

/**
 * What settle() would do now, from the same plan and the same files, with nothing written: an
 * open period's activity is what it holds so far (a real run closes it first, so payments arriving
 * in between would be added).
 */
async function dryRun(opts: SettleOptions): Promise<SettleResult> {
  const { store, period } = opts;
  const sums = await store.periodSums(period);
  const recorded = await store.getSettlement(period);
  const settlement = recorded ?? plan(sums, await store.listPublishers(), { ...opts, rates: await ratesAt(opts) });
  const details = JSON.parse(settlement.details) as SettlementDetails;
  const bank = buildBankFiles(settlement, details.operator, await repairNames(store, settlement));
  const files = await eachFile(opts, settlement, details, sums, bank.files, async () => {});
  return { period, recordedNow: false, dryRun: true, settlement, details, files };
}

/**
 * Renders every file of the settlement and hands each to `write` as soon as it is made: each
 * user's statement as the period's transactions are read, page by page; then the payout reports,
 * the bank files and last the JSON summary, which lists the others. Returns every name, sorted.
 */
async function eachFile(
  opts: Pick<SettleOptions, "store" | "pageSize">,
  settlement: SettlementRecord,
  details: SettlementDetails,
  sums: PeriodSums,
  bankFiles: ReadonlyMap<string, string>,
  write: (name: string, content: string) => Promise<void>,
): Promise<string[]> {
  const names: string[] = [];
  const put = async (name: string, content: string) => {
    names.push(name);
    await write(name, content);
  };
  for await (const statement of periodStatements(opts.store, sums, settlement, opts.pageSize)) {
    await put(SettlementFiles.statement(statement.user.id, "csv"), renderStatementCsv(statement));
    await put(SettlementFiles.statement(statement.user.id, "html"), renderStatementHtml(statement));
  }
  for (const report of details.publishers) {
    await put(SettlementFiles.payout(report.publisher.id, "csv"), renderPayoutCsv(report));
    await put(SettlementFiles.payout(report.publisher.id, "html"), renderPayoutHtml(report));
  }
  for (const [name, xml] of bankFiles) await put(name, xml);
  await put(SettlementFiles.summary(settlement.period), summaryOf(settlement, details, [...names].sort()));
  return names.sort();
}

/** The settlement-PERIOD.json file: what was paid, collected, held and written. */
function summaryOf(settlement: SettlementRecord, details: SettlementDetails, files: readonly string[]): string {
  return stableJson({
    period: settlement.period,
    createdAt: settlement.createdAt,
    executionDate: settlement.executionDate,
    collectionDate: settlement.collectionDate,
    payouts: settlement.payouts.map((p) => ({
      id: p.id,
      publisher: p.publisher,
      amount: formatPrice(p.amount),
      sepa: p.sepa,
      ...(p.conversion === undefined ? {} : { conversion: p.conversion }),
    })),
    collections: settlement.collections.map((c) => ({
      id: c.id,
      user: c.user,
      amount: formatPrice(c.amount),
      method: c.method,
    })),
    holds: details.holds,
    refusedDebits: details.refusedDebits ?? [],
    credits: details.credits,
    totals: details.totals,
    minimumPayouts: details.minimumPayouts,
    files,
  });
}

function describeUnbuilt(unbuilt: readonly UnbuiltFile[]): string {
  return unbuilt.map((u) => `${u.file} (${u.reason})`).join("; ");
}

/**
 * For a settlement recorded with a name the bank file refuses (recorded before names were
 * checked where they enter), the publisher's or the mandate's current name, if the operator has
 * corrected it since. Names the bank file takes are never replaced: the files stay the same bytes.
 */
async function repairNames(store: Store, settlement: SettlementRecord): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const payout of settlement.payouts) {
    if (isBankName(payout.creditor.name)) continue;
    const current = await store.getPublisher(payout.publisher);
    const sameAccount =
      current?.iban === payout.creditor.iban && JSON.stringify(current?.domestic) === JSON.stringify(payout.creditor.domestic);
    if (current && sameAccount && isBankName(current.name)) names.set(payout.id, current.name);
  }
  for (const collection of settlement.collections) {
    if (!collection.mandate || isBankName(collection.mandate.name)) continue;
    const current = (await store.getUser(collection.user))?.mandate;
    if (current && current.id === collection.mandate.id && isBankName(current.name)) names.set(collection.id, current.name);
  }
  return names;
}

/** Writes a file whole or not at all: a crash leaves the previous file or none, never half of one. */
async function writeAtomically(path: string, content: string): Promise<void> {
  // Owner only: statements and bank files carry names, IBANs and amounts.
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Unique per write: two settlements of one period at once (two processes, or two calls) write the same files.
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temporary, content, { encoding: "utf8", mode: 0o600 });
  await rename(temporary, path);
}

/** The periods a command may settle: closed or not, with their state. */
export async function periodStates(store: Store): Promise<{ period: string; closed: boolean; settled: boolean }[]> {
  const closed = new Set((await store.closedPeriods()).map((c) => c.period));
  const all = new Set([...(await store.periodsWithTransactions()), ...closed]);
  const out = [];
  for (const period of [...all].sort())
    out.push({ period, closed: closed.has(period), settled: (await store.getSettlement(period)) !== undefined });
  return out;
}
