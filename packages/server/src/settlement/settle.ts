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
import { formatPrice, PeageError, type CurrencyCode, type MinorUnits, type PartyId, type Price } from "@peage/protocol";
import { BankFileInvalidError, checkBankFiles, XmlValidatorError } from "./bank-check.js";
import { isSepaCountry, validateIban, type XmlValidatorErrorCode } from "../bank/index.js";
import { minimumPayoutOf, type ServerConfig } from "../config.js";
import { partyOf } from "../ledger/ledger.js";
import { isPeriod, nextPeriod, periodDays, periodOf } from "../ledger/periods.js";
import {
  BankFileNames,
  buildBankFiles,
  debitRefusal,
  isBankName,
  transferRefusal,
  type NameOverrides,
  type UnbuiltFile,
} from "./bank-files.js";
import {
  renderPayoutCsv,
  renderPayoutHtml,
  renderStatementCsv,
  renderStatementHtml,
  type PayoutLine,
  type PublisherPayout,
  type Statement,
  type StatementLine,
} from "../statements/index.js";
import { target2DayAfter } from "./business-days.js";
import {
  StoreStateError,
  type StoreStateErrorCode,
  type CollectionRecord,
  type LedgerTransaction,
  type PayoutRecord,
  type PeriodActivity,
  type PublisherRecord,
  type SettlementRecord,
  type Store,
  type UserRecord,
} from "../store/store.js";

export type SettleStep = "closed" | "recorded" | "files";

export interface SettleOptions {
  readonly store: Store;
  readonly period: string;
  /** Where the files go (created if missing). */
  readonly outDir: string;
  readonly config: Pick<ServerConfig, "minimumPayouts" | "bank">;
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
}

/** Per currency: what the period's payments and refunds moved, from the users to the publishers, fees and exchange. */
export interface PeriodTotals {
  /** Users' accounts debited (prepaid funds and postpaid bills), refunds deducted. */
  readonly billed: string;
  /** Publishers' payables credited, refunds deducted. */
  readonly publishers: string;
  readonly fees: string;
  /** The exchange account's part: positive where it received the currency (user legs), negative where it paid it (publisher legs). */
  readonly fx: string;
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

/** A payout that is not made this period, and why; the amount is carried to the next one. */
export interface Hold {
  readonly publisher: string;
  readonly currency: string;
  /** Minor units; negative when refunds exceed what the publisher had earned (it owes the difference). */
  readonly amount: string;
  readonly reason: "below-minimum" | "no-bank-details" | "no-bic-for-non-sepa" | "nothing-due" | "bank-details-refused";
  /** For bank-details-refused: what the bank file refused (field: reason), to fix with PUT /v1/admin/publishers/:publisher. */
  readonly detail?: string;
}

/** A postpaid bill that could not go into the direct-debit file (its mandate's details were refused): it is invoiced instead. */
export interface RefusedDebit {
  readonly user: string;
  readonly mandate: string;
  readonly currency: string;
  readonly amount: string;
  /** What the direct-debit file refused (field: reason), to fix with PUT /v1/admin/users/:user/mandate. */
  readonly detail: string;
}

/** What the settlement decided besides its payouts and collections, recorded with it as JSON. */
export interface SettlementDetails {
  readonly period: string;
  readonly minimumPayouts: Readonly<Record<string, string>>;
  readonly operator: { readonly name: string; readonly iban: string; readonly bic: string; readonly creditorId: string };
  readonly totals: Readonly<Record<string, PeriodTotals>>;
  readonly publishers: readonly PublisherPayout[];
  readonly holds: readonly Hold[];
  /** Postpaid users whose refunds exceed what they owe: the credit is deducted from their next bill. */
  readonly credits: readonly { readonly user: string; readonly currency: string; readonly amount: string }[];
  /** Absent from settlements recorded before mandates were checked against the direct-debit file. */
  readonly refusedDebits?: readonly RefusedDebit[];
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
  if (!isPeriod(period)) throw new SettlementError("ERR_BAD_PERIOD", `${JSON.stringify(period)} is not a period: give YYYY-MM`);
  const step = async (name: SettleStep | `file:${string}`) => {
    if (opts.afterStep) await opts.afterStep(name);
  };

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
  if (opts.dryRun) return dryRun(opts);

  try {
    await store.closePeriod(period, opts.now.toISOString());
  } catch (error) {
    if (error instanceof StoreStateError) throw new SettlementError(error.code, error.message);
    throw error;
  }
  await step("closed");

  let settlement = await store.getSettlement(period);
  let recordedNow = false;
  let activity: PeriodActivity | undefined;
  if (!settlement) {
    activity = await store.periodActivity(period);
    const planned = plan(activity, await store.listPublishers(), opts);
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
    settlement = recorded.settlement;
    recordedNow = recorded.kind === "recorded";
  }
  await step("recorded");

  activity ??= await store.periodActivity(period);
  const details = JSON.parse(settlement.details) as SettlementDetails;
  const { files, unbuilt } = render(settlement, details, activity, await repairNames(store, settlement));
  // Nothing is written unless every bank file validates against its schema.
  try {
    await checkBankFiles(files, opts.schemaDir);
  } catch (error) {
    if (error instanceof BankFileInvalidError || error instanceof XmlValidatorError)
      throw new SettlementError(error.code, error.message);
    throw error;
  }
  const names = [...files.keys()].sort();
  for (const name of names) {
    await writeAtomically(join(opts.outDir, name), files.get(name)!);
    await step(`file:${name}`);
  }
  if (unbuilt.length > 0) {
    // Only a settlement recorded before names were checked where they enter can get here.
    throw new SettlementError(
      "ERR_SETTLEMENT_INCOMPLETE",
      `period ${period} is recorded and ${names.length} files are written, but not ${describeUnbuilt(unbuilt)}. ` +
        "Correct the names with PUT /v1/admin/publishers/:publisher or PUT /v1/admin/users/:user/mandate, then run peage settle again: it writes the missing files with the corrected names",
    );
  }
  await step("files");
  return { period, recordedNow, dryRun: false, settlement, details, files: names };
}

/**
 * What settle() would do now, from the same plan and the same renderer, with nothing written: an
 * open period's activity is what it holds so far (a real run closes it first, so payments arriving
 * in between would be added).
 */
async function dryRun(opts: SettleOptions): Promise<SettleResult> {
  const { store, period } = opts;
  const activity = await store.periodActivity(period);
  const recorded = await store.getSettlement(period);
  const settlement = recorded ?? plan(activity, await store.listPublishers(), opts);
  const details = JSON.parse(settlement.details) as SettlementDetails;
  const files = [...render(settlement, details, activity, await repairNames(store, settlement)).files.keys()].sort();
  return { period, recordedNow: false, dryRun: true, settlement, details, files };
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
    if (current && current.iban === payout.creditor.iban && isBankName(current.name)) names.set(payout.id, current.name);
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

// ---------------------------------------------------------------------------------------------
// The plan: what to pay and collect

const price = (amount: bigint, currency: string): Price => ({
  amount: Number(amount) as MinorUnits,
  currency: currency as CurrencyCode,
});
const positive = (amount: bigint): bigint => (amount > 0n ? amount : 0n);

/** Sums of postings by key over transactions of some kinds. */
function sumPostings(
  transactions: readonly LedgerTransaction[],
  kinds: readonly string[],
  key: (account: string, currency: string) => string | undefined,
): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const txn of transactions) {
    if (!kinds.includes(txn.kind)) continue;
    for (const posting of txn.postings) {
      const k = key(posting.account, posting.currency);
      if (k !== undefined) sums.set(k, (sums.get(k) ?? 0n) + BigInt(posting.amount));
    }
  }
  return sums;
}

export function plan(
  activity: PeriodActivity,
  publishers: readonly PublisherRecord[],
  opts: Pick<SettleOptions, "config" | "now">,
): SettlementRecord {
  const { period } = activity;
  const createdAt = opts.now.toISOString();
  // Transfers are executed, and bills collected, once the period is over and not before the next business day.
  const today = createdAt.slice(0, 10);
  const { last } = periodDays(period);
  // TARGET2 days: the euro files' calendar, also used for the others (one date per settlement).
  const executionDate = target2DayAfter(today > last ? today : last, 1);
  const collectionDate = target2DayAfter(executionDate, 1);
  const frame = { period, operator: opts.config.bank, createdAt: opts.now, executionDate, collectionDate };
  const settled = new Map(activity.settledBefore.map((s) => [`${s.direction} ${s.party} ${s.currency}`, s.sum]));
  const publisherById = new Map(publishers.map((p) => [p.id as string, p]));

  // Per publisher and currency: earned and refunded in the period, due through it.
  const earned = sumPostings(activity.transactions, ["payment"], (account, currency) =>
    account.startsWith("payable/") ? `${partyOf(account).party} ${currency}` : undefined,
  );
  const refunded = sumPostings(activity.transactions, ["refund"], (account, currency) =>
    account.startsWith("payable/") ? `${partyOf(account).party} ${currency}` : undefined,
  );
  const payouts: PayoutRecord[] = [];
  const holds: Hold[] = [];
  const reports = new Map<string, PayoutLine[]>();
  for (const accrued of activity.accruedThrough) {
    const { kind, party } = partyOf(accrued.account);
    if (kind !== "payable") continue;
    const currency = accrued.currency;
    const due = -accrued.sum - (settled.get(`payout ${party} ${currency}`) ?? 0n);
    const earnedNow = -(earned.get(`${party} ${currency}`) ?? 0n);
    const refundedNow = refunded.get(`${party} ${currency}`) ?? 0n;
    if (due === 0n && earnedNow === 0n && refundedNow === 0n) continue;
    const carriedIn = due - earnedNow + refundedNow;
    const publisher = publisherById.get(party);
    let hold: Hold["reason"] | undefined;
    let detail: string | undefined;
    let creditor: PayoutRecord["creditor"] | undefined;
    let sepa = false;
    if (due <= 0n) hold = "nothing-due";
    else if (due < BigInt(minimumPayoutOf(opts.config, currency))) hold = "below-minimum";
    else if (!publisher || publisher.iban === undefined) hold = "no-bank-details";
    else {
      const iban = validateIban(publisher.iban);
      sepa = currency === "EUR" && iban.ok && isSepaCountry(iban.country);
      const candidate = { name: publisher.name, iban: publisher.iban, bic: publisher.bic, country: publisher.country };
      if (!sepa && publisher.bic === undefined) hold = "no-bic-for-non-sepa";
      else if ((detail = transferRefusal(frame, candidate, price(due, currency), sepa)) !== undefined)
        hold = "bank-details-refused";
      else creditor = candidate;
    }
    if (hold === undefined && creditor) {
      payouts.push({ id: "", period, publisher: party as PartyId<"publisher">, amount: price(due, currency), creditor, sepa });
    } else if (hold !== undefined && due !== 0n) {
      holds.push({
        publisher: party,
        currency,
        amount: due.toString(),
        reason: hold,
        ...(detail === undefined ? {} : { detail }),
      });
    }
    const paid = hold === undefined ? due : 0n;
    const line: PayoutLine = {
      currency,
      earned: price(positive(earnedNow), currency),
      carriedIn: price(positive(carriedIn), currency),
      refunded: price(positive(refundedNow), currency),
      payable: price(positive(due), currency),
      paid: price(paid, currency),
      carriedOut: price(positive(due - paid), currency),
    };
    reports.set(party, [...(reports.get(party) ?? []), line]);
  }
  payouts.sort((a, b) =>
    a.publisher < b.publisher ? -1 : a.publisher > b.publisher ? 1 : a.amount.currency < b.amount.currency ? -1 : 1,
  );
  const numberedPayouts = payouts.map((p, i) => ({ ...p, id: `PAY-${period}-${String(i + 1).padStart(5, "0")}` }));

  // Per postpaid user: what the period's bill comes to, refunds and earlier collections deducted.
  const usersById = new Map(activity.users.map((u) => [u.id as string, u]));
  const collections: CollectionRecord[] = [];
  const credits: { user: string; currency: string; amount: string }[] = [];
  const refusedDebits: RefusedDebit[] = [];
  for (const accrued of activity.accruedThrough) {
    const { kind, party } = partyOf(accrued.account);
    if (kind !== "receivable") continue;
    const due = accrued.sum - (settled.get(`collection ${party} ${accrued.currency}`) ?? 0n);
    if (due < 0n) credits.push({ user: party, currency: accrued.currency, amount: (-due).toString() });
    if (due <= 0n) continue;
    const user = usersById.get(party);
    let mandate = user?.mandate && accrued.currency === "EUR" ? user.mandate : undefined;
    const refusal = mandate && debitRefusal(frame, mandate, price(due, accrued.currency));
    if (mandate && refusal) {
      refusedDebits.push({
        user: party,
        mandate: mandate.id,
        currency: accrued.currency,
        amount: due.toString(),
        detail: refusal,
      });
      mandate = undefined;
    }
    collections.push({
      id: "",
      period,
      user: party as PartyId<"user">,
      amount: price(due, accrued.currency),
      method: mandate ? "sepa-direct-debit" : "invoice",
      mandate,
    });
  }
  collections.sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : a.amount.currency < b.amount.currency ? -1 : 1));
  const numberedCollections = collections.map((c, i) => ({ ...c, id: `COL-${period}-${String(i + 1).padStart(5, "0")}` }));

  const minimumPayouts: Record<string, string> = {};
  for (const currency of new Set(activity.accruedThrough.map((a) => a.currency)))
    minimumPayouts[currency] = formatPrice(price(BigInt(minimumPayoutOf(opts.config, currency)), currency));
  const details: SettlementDetails = {
    period,
    minimumPayouts,
    operator: { ...opts.config.bank },
    totals: periodTotals(activity.transactions),
    publishers: [...reports.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, lines]) => {
        const registered = publisherById.get(id);
        return {
          period,
          publisher: { id, name: registered?.name ?? id, country: registered?.country ?? "" },
          lines: lines.sort((a, b) => (a.currency < b.currency ? -1 : 1)),
        };
      }),
    holds,
    credits,
    refusedDebits,
  };
  return {
    period,
    createdAt,
    executionDate,
    collectionDate,
    details: stableJson(details),
    payouts: numberedPayouts,
    collections: numberedCollections,
  };
}

/** Per currency, what the period's payments and refunds moved (docs/ledger.md, "Tie-out"). */
export function periodTotals(transactions: readonly LedgerTransaction[]): Record<string, PeriodTotals> {
  const sums = new Map<string, { billed: bigint; publishers: bigint; fees: bigint; fx: bigint }>();
  for (const txn of transactions) {
    if (txn.kind !== "payment" && txn.kind !== "refund") continue;
    for (const p of txn.postings) {
      const entry = sums.get(p.currency) ?? { billed: 0n, publishers: 0n, fees: 0n, fx: 0n };
      const { kind, party } = partyOf(p.account);
      if (kind === "funds" || kind === "receivable") entry.billed += BigInt(p.amount);
      else if (kind === "payable") entry.publishers -= BigInt(p.amount);
      else if (party === "fees") entry.fees -= BigInt(p.amount);
      else if (party === "fx") entry.fx -= BigInt(p.amount);
      sums.set(p.currency, entry);
    }
  }
  const out: Record<string, PeriodTotals> = {};
  for (const currency of [...sums.keys()].sort()) {
    const s = sums.get(currency)!;
    out[currency] = {
      billed: s.billed.toString(),
      publishers: s.publishers.toString(),
      fees: s.fees.toString(),
      fx: s.fx.toString(),
    };
  }
  return out;
}

/** JSON with members in sorted order at every level: the same value always gives the same bytes. */
export function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === "object")
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// The files

function render(
  settlement: SettlementRecord,
  details: SettlementDetails,
  activity: PeriodActivity,
  names: NameOverrides,
): { files: Map<string, string>; unbuilt: UnbuiltFile[] } {
  const { period } = settlement;
  const files = new Map<string, string>();
  for (const statement of statements(settlement, activity)) {
    files.set(SettlementFiles.statement(statement.user.id, "csv"), renderStatementCsv(statement));
    files.set(SettlementFiles.statement(statement.user.id, "html"), renderStatementHtml(statement));
  }
  for (const report of details.publishers) {
    files.set(SettlementFiles.payout(report.publisher.id, "csv"), renderPayoutCsv(report));
    files.set(SettlementFiles.payout(report.publisher.id, "html"), renderPayoutHtml(report));
  }
  const bank = buildBankFiles(settlement, details.operator, names);
  for (const [name, xml] of bank.files) files.set(name, xml);
  const fileList = [...files.keys()].sort();
  files.set(
    SettlementFiles.summary(period),
    stableJson({
      period,
      createdAt: settlement.createdAt,
      executionDate: settlement.executionDate,
      collectionDate: settlement.collectionDate,
      payouts: settlement.payouts.map((p) => ({ id: p.id, publisher: p.publisher, amount: formatPrice(p.amount), sepa: p.sepa })),
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
      files: fileList,
    }),
  );
  return { files, unbuilt: bank.unbuilt };
}

/** The statement of each user with a transaction in the period. */
function statements(settlement: SettlementRecord, activity: PeriodActivity): Statement[] {
  const { period } = activity;
  const byUser = new Map<string, LedgerTransaction[]>();
  for (const txn of activity.transactions) {
    if (txn.user === undefined || txn.kind === "collection") continue;
    byUser.set(txn.user, [...(byUser.get(txn.user) ?? []), txn]);
  }
  const before = new Map(activity.balancesBefore.map((b) => [`${b.account} ${b.currency}`, b.sum]));
  const collected = new Map(settlement.collections.map((c) => [c.user as string, c.amount]));
  const out: Statement[] = [];
  for (const user of activity.users) {
    const txns = byUser.get(user.id);
    if (!txns) continue;
    out.push(statementOf(user, period, txns, activity, before, collected.get(user.id)));
  }
  return out;
}

function statementOf(
  user: UserRecord,
  period: string,
  txns: readonly LedgerTransaction[],
  activity: PeriodActivity,
  before: ReadonlyMap<string, bigint>,
  toCollect: Price | undefined,
): Statement {
  const home = user.homeCurrency;
  const lines: StatementLine[] = [];
  let charged = 0n;
  let refunded = 0n;
  let fundsMoved = 0n;
  for (const txn of txns) {
    for (const p of txn.postings) if (p.account === `funds/${user.id}`) fundsMoved += BigInt(p.amount);
    const payment = txn.paymentId === undefined ? undefined : activity.payments.get(txn.paymentId);
    if ((txn.kind === "payment" || txn.kind === "refund") && payment) {
      // A refund gives back what its postings say: all of the charge, or the unused part of a
      // payment charged by use when it was settled (docs/protocol.md §3.12).
      const back = -txn.postings
        .filter((p) => p.account.endsWith(`/${user.id}`) && /^(funds|float|receivable)\//.test(p.account))
        .reduce((sum, p) => sum + BigInt(p.amount), 0n);
      if (txn.kind === "payment") charged += BigInt(payment.charged.amount);
      else refunded += back;
      lines.push({
        date: txn.createdAt.slice(0, 10),
        paymentId: payment.id,
        publisher: payment.publisher,
        description: `offer ${payment.offerHash}`,
        price: payment.price,
        charged: txn.kind === "payment" ? payment.charged : price(back, payment.charged.currency),
        ...(payment.price.currency === payment.charged.currency ? {} : { rate: payment.rate }),
        kind: txn.kind,
      });
    } else if (txn.kind === "topup" || txn.kind === "deposit") {
      const amount =
        txn.postings.find((p) => p.account === `${txn.kind === "topup" ? "funds" : "deposit"}/${user.id}`)?.amount ?? 0;
      const money = price(BigInt(-amount), home);
      lines.push({
        date: txn.createdAt.slice(0, 10),
        paymentId: txn.ref ?? txn.id,
        publisher: "",
        description: txn.kind === "topup" ? "prepaid top-up" : "deposit received",
        price: money,
        charged: money,
        kind: txn.kind,
      });
    }
  }
  const opening = -(before.get(`funds/${user.id} ${home}`) ?? 0n);
  return {
    period,
    user: { id: user.id, mode: user.mode, homeCurrency: home },
    lines,
    totals: {
      charged: price(charged, home),
      refunded: price(refunded, home),
      ...(user.mode === "postpaid"
        ? { toCollect: toCollect ?? price(0n, home) }
        : { openingBalance: price(opening, home), closingBalance: price(opening - fundsMoved, home) }),
    },
  };
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
