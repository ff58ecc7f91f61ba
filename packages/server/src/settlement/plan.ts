/**
 * The settlement's plan: from a closed period's sums, what each publisher is paid and each
 * postpaid user is billed per currency, what is carried to the next period and why, and the
 * payout reports. It reads sums per account (PeriodSums), never the period's payments one by one,
 * so a period of any size plans in memory proportional to its parties. All amounts are BigInt
 * minor units until they become a record's Price.
 */
import {
  convert,
  formatPrice,
  type CurrencyCode,
  type MinorUnits,
  type PartyId,
  type Price,
  type RateTable,
} from "@peage/protocol";
import { isSepaCountry, validateIban } from "../bank/index.js";
import { minimumPayoutOf, type OperatorBank, type ServerConfig } from "../config.js";
import { partyOf } from "../ledger/ledger.js";
import { periodDays } from "../ledger/periods.js";
import { debitRefusal, transferRefusal } from "./bank-files.js";
import type { PayoutLine, PublisherPayout } from "../statements/index.js";
import { target2DayAfter } from "./business-days.js";
import type {
  AccountSum,
  CollectionRecord,
  ConversionLine,
  LedgerTransaction,
  PayoutConversion,
  PayoutCreditor,
  PayoutRecord,
  PeriodActivity,
  PeriodSums,
  PublisherRecord,
  SettlementRecord,
  UserRecord,
} from "../store/store.js";

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

/** A payout that is not made this period, and why; the amount is carried to the next one. */
export interface Hold {
  readonly publisher: string;
  readonly currency: string;
  /** Minor units; negative when refunds exceed what the publisher had earned (it owes the difference). */
  readonly amount: string;
  readonly reason:
    "below-minimum" | "no-bank-details" | "no-bic-for-non-sepa" | "nothing-due" | "bank-details-refused" | "no-rate";
  /**
   * For bank-details-refused: what the bank file refused (field: reason), to fix with PUT
   * /v1/admin/publishers/:publisher; for no-rate: which conversion had no rate.
   */
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
  readonly operator: OperatorBank;
  readonly totals: Readonly<Record<string, PeriodTotals>>;
  readonly publishers: readonly PublisherPayout[];
  readonly holds: readonly Hold[];
  /** Postpaid users whose refunds exceed what they owe: the credit is deducted from their next bill. */
  readonly credits: readonly { readonly user: string; readonly currency: string; readonly amount: string }[];
  /** Absent from settlements recorded before mandates were checked against the direct-debit file. */
  readonly refusedDebits?: readonly RefusedDebit[];
}

/** The rate table a settlement converts payouts with, and where it comes from (recorded with each conversion). */
export interface SettlementRates {
  readonly table: RateTable;
  readonly source: string;
}

export interface PlanOptions {
  readonly config: Pick<ServerConfig, "minimumPayouts" | "bank">;
  readonly now: Date;
  /** The server's rates at the settlement; without them a publisher paid in another currency than it earned is held (no-rate). */
  readonly rates?: SettlementRates | undefined;
}

/** The dates and operator every bank file of the settlement shares. */
type Frame = Parameters<typeof transferRefusal>[0] & Parameters<typeof debitRefusal>[0];

/** What the previous settlements paid and collected, by "direction party currency". */
type Settled = ReadonlyMap<string, bigint>;

export const price = (amount: bigint, currency: string): Price => ({
  amount: Number(amount) as MinorUnits,
  currency: currency as CurrencyCode,
});
const positive = (amount: bigint): bigint => (amount > 0n ? amount : 0n);
const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The settlement of a period, from its sums (Store.periodSums) or, the same result, from its whole
 * activity (Store.periodActivity), which is summed here first.
 */
export function plan(
  input: PeriodSums | PeriodActivity,
  publishers: readonly PublisherRecord[],
  opts: PlanOptions,
): SettlementRecord {
  const sums = "moved" in input ? input : sumsOfActivity(input);
  const { period } = sums;
  const createdAt = opts.now.toISOString();
  // Transfers are executed, and bills collected, once the period is over and not before the next business day.
  const today = createdAt.slice(0, 10);
  const { last } = periodDays(period);
  // TARGET2 days: the euro files' calendar, also used for the others (one date per settlement).
  const executionDate = target2DayAfter(today > last ? today : last, 1);
  const collectionDate = target2DayAfter(executionDate, 1);
  const frame: Frame = { period, operator: opts.config.bank, createdAt: opts.now, executionDate, collectionDate };
  const settled = new Map(sums.settledBefore.map((s) => [`${s.direction} ${s.party} ${s.currency}`, s.sum]));
  const publisherById = new Map(publishers.map((p) => [p.id as string, p]));
  const payouts = planPayouts(sums, publisherById, settled, frame, opts);
  const collections = planCollections(sums, settled, frame);

  const minimumPayouts: Record<string, string> = {};
  for (const currency of new Set(sums.accruedThrough.map((a) => a.currency)))
    minimumPayouts[currency] = formatPrice(price(BigInt(minimumPayoutOf(opts.config, currency)), currency));
  const details: SettlementDetails = {
    period,
    minimumPayouts,
    operator: { ...opts.config.bank },
    totals: totalsOf(sums.moved),
    publishers: [...payouts.reports.entries()]
      .sort(([a], [b]) => byKey(a, b))
      .map(([id, lines]) => {
        const registered = publisherById.get(id);
        return {
          period,
          publisher: { id, name: registered?.name ?? id, country: registered?.country ?? "" },
          lines: lines.sort((a, b) => (a.currency < b.currency ? -1 : 1)),
        };
      }),
    holds: payouts.holds,
    credits: collections.credits,
    refusedDebits: collections.refusedDebits,
  };
  return {
    period,
    createdAt,
    executionDate,
    collectionDate,
    details: stableJson(details),
    payouts: payouts.payouts,
    collections: collections.collections,
  };
}

/** One currency of a publisher's account: what is due through the period, and what the period added and took back. */
interface Due {
  readonly currency: CurrencyCode;
  readonly due: bigint;
  readonly earnedNow: bigint;
  readonly refundedNow: bigint;
}

/** What is decided for one publisher: its payouts (numbered later), its holds, and what was paid from each currency and how. */
interface PublisherOutcome {
  readonly payouts: Omit<PayoutRecord, "id">[];
  readonly holds: Hold[];
  readonly paid: Map<string, bigint>;
  readonly converted: Map<string, ConversionLine & Pick<PayoutConversion, "date" | "source">>;
}

/** Per publisher and currency: what is due through the period, paid or held, and the payout report's lines. */
function planPayouts(
  sums: PeriodSums,
  publisherById: ReadonlyMap<string, PublisherRecord>,
  settled: Settled,
  frame: Frame,
  opts: PlanOptions,
): { payouts: PayoutRecord[]; holds: Hold[]; reports: Map<string, PayoutLine[]> } {
  const { period } = sums;
  const payouts: Omit<PayoutRecord, "id">[] = [];
  const holds: Hold[] = [];
  const reports = new Map<string, PayoutLine[]>();
  for (const [party, dues] of duesByPublisher(sums, settled)) {
    const publisher = publisherById.get(party);
    const outcome =
      publisher?.payoutCurrency === undefined
        ? payAsEarned(party, publisher, dues, frame, opts.config)
        : payConverted(party, publisher, publisher.payoutCurrency, dues, frame, opts);
    payouts.push(...outcome.payouts);
    holds.push(...outcome.holds);
    reports.set(
      party,
      dues.map((d) => reportLine(d, outcome)),
    );
  }
  payouts.sort((a, b) => byKey(a.publisher, b.publisher) || (a.amount.currency < b.amount.currency ? -1 : 1));
  const numbered = payouts.map((p, i) => ({ ...p, id: `PAY-${period}-${String(i + 1).padStart(5, "0")}` }));
  return { payouts: numbered, holds, reports };
}

/** Per publisher, each currency with something due, earned or refunded through the period. */
function duesByPublisher(sums: PeriodSums, settled: Settled): Map<string, Due[]> {
  // Per publisher and currency: earned and refunded in the period (payables are credited by payments).
  const earned = sumsByParty(sums.moved, "payment", "payable");
  const refunded = sumsByParty(sums.moved, "refund", "payable");
  const out = new Map<string, Due[]>();
  for (const accrued of sums.accruedThrough) {
    const { kind, party } = partyOf(accrued.account);
    if (kind !== "payable") continue;
    const currency = accrued.currency;
    const due = -accrued.sum - (settled.get(`payout ${party} ${currency}`) ?? 0n);
    const earnedNow = -(earned.get(`${party} ${currency}`) ?? 0n);
    const refundedNow = refunded.get(`${party} ${currency}`) ?? 0n;
    if (due === 0n && earnedNow === 0n && refundedNow === 0n) continue;
    out.set(party, [...(out.get(party) ?? []), { currency, due, earnedNow, refundedNow }]);
  }
  return out;
}

function reportLine(d: Due, outcome: PublisherOutcome): PayoutLine {
  const { currency, due, earnedNow, refundedNow } = d;
  const paid = outcome.paid.get(currency) ?? 0n;
  const converted = outcome.converted.get(currency);
  return {
    currency,
    earned: price(positive(earnedNow), currency),
    carriedIn: price(positive(due - earnedNow + refundedNow), currency),
    refunded: price(positive(refundedNow), currency),
    payable: price(positive(due), currency),
    paid: price(paid, currency),
    carriedOut: price(positive(due - paid), currency),
    ...(converted === undefined
      ? {}
      : {
          paidAs: converted.to,
          rate: converted.rate,
          fromRate: converted.fromRate,
          toRate: converted.toRate,
          rateDate: converted.date,
          rateSource: converted.source,
        }),
  };
}

/** Each currency paid as it was earned, in its own payout. */
function payAsEarned(
  party: string,
  publisher: PublisherRecord | undefined,
  dues: readonly Due[],
  frame: Frame,
  config: PlanOptions["config"],
): PublisherOutcome {
  const outcome: PublisherOutcome = { payouts: [], holds: [], paid: new Map(), converted: new Map() };
  for (const { currency, due } of dues) {
    const decision = payoutDecision(publisher, due, currency, frame, config);
    if ("creditor" in decision) {
      outcome.payouts.push({
        period: frame.period,
        publisher: party as PartyId<"publisher">,
        amount: price(due, currency),
        ...decision,
      });
      outcome.paid.set(currency, due);
    } else if (due !== 0n) {
      outcome.holds.push({ publisher: party, currency, amount: due.toString(), ...decision });
    }
  }
  return outcome;
}

/**
 * Everything due in the publisher's payout currency, in one payout: each other currency converted
 * at the settlement's rates (convertDue). A currency without a rate stays due in the currency it
 * was earned in and is held, alone: the rest is paid. Below the minimum, or without bank details,
 * nothing is paid and every amount stays due.
 */
function payConverted(
  party: string,
  publisher: PublisherRecord,
  target: CurrencyCode,
  dues: readonly Due[],
  frame: Frame,
  opts: PlanOptions,
): PublisherOutcome {
  const owing = dues.filter((d) => d.due > 0n);
  const outcome: PublisherOutcome = { payouts: [], holds: [], paid: new Map(), converted: new Map() };
  const hold = (d: Due, why: Pick<Hold, "reason" | "detail">) =>
    outcome.holds.push({ publisher: party, currency: d.currency, amount: d.due.toString(), ...why });
  // What the publisher owes back in a currency (refunds beyond its earnings) stays in that currency.
  for (const d of dues) if (d.due < 0n) hold(d, { reason: "nothing-due" });
  if (owing.length === 0) return outcome;
  if (owing.every((d) => d.currency === target) || (publisher.iban === undefined && publisher.domestic === undefined))
    return payAsEarned(party, publisher, dues, frame, opts.config);
  const foreign = new Map<CurrencyCode, ConversionLine>();
  for (const d of owing) {
    if (d.currency === target) continue;
    const line = convertDue(d, target, opts.rates);
    if ("reason" in line) hold(d, line);
    else foreign.set(d.currency, line);
  }
  const convertible = owing.filter((d) => d.currency === target || foreign.has(d.currency));
  // Nothing converted: the payout currency's own amount, if any, is paid as it was earned.
  if (foreign.size === 0) {
    const plain = payAsEarned(party, publisher, convertible, frame, opts.config);
    return { ...plain, holds: [...outcome.holds, ...plain.holds] };
  }
  // A rate converted into the target, so the target's own amount converts too (a line at rate 1).
  const lines = convertible.map((d) => foreign.get(d.currency) ?? (convertDue(d, target, opts.rates) as ConversionLine));
  const { table, source } = opts.rates!;
  const conversion: PayoutConversion = {
    source,
    date: table.date,
    base: table.base,
    rounding: "half-away-from-zero, once per line",
    lines,
  };
  const total = lines.reduce((sum, line) => sum + BigInt(line.to.amount), 0n);
  const decision = payoutDecision(publisher, total, target, frame, opts.config);
  if (!("creditor" in decision)) {
    for (const d of convertible) hold(d, decision);
    return outcome;
  }
  outcome.payouts.push({
    period: frame.period,
    publisher: party as PartyId<"publisher">,
    amount: price(total, target),
    ...decision,
    conversion,
  });
  for (const line of lines) {
    outcome.paid.set(line.from.currency, BigInt(line.from.amount));
    outcome.converted.set(line.from.currency, { ...line, date: conversion.date, source: conversion.source });
  }
  return outcome;
}

/**
 * An amount due converted into `target` with the settlement's rate table (protocol's `convert`:
 * the exact fraction, rounded once half away from zero to the target's minor unit); the payout
 * currency's own amount is a line at rate 1. Without a rate, why it cannot be converted.
 */
function convertDue(
  d: Due,
  target: CurrencyCode,
  rates: SettlementRates | undefined,
): ConversionLine | Pick<Hold, "reason" | "detail"> {
  const fix = "import rates with peage fx import; the amounts stay due and are paid at the next settlement";
  if (rates === undefined)
    return { reason: "no-rate", detail: `no exchange rates to convert ${d.currency} into ${target}: ${fix}` };
  const { table, source } = rates;
  const rateText = (currency: CurrencyCode) => (currency === table.base ? "1" : table.rates[currency]);
  const from = price(d.due, d.currency);
  const [fromRate, toRate] = [rateText(d.currency), rateText(target)];
  let converted;
  try {
    converted = convert(from, target, table);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return { reason: "no-rate", detail: `${formatPrice(from)} in ${target} is beyond a safe integer of minor units` };
  }
  if (converted === undefined || fromRate === undefined || toRate === undefined) {
    const detail = `no ${d.currency} to ${target} rate in the ${table.base} reference rates of ${table.date} (${source}): ${fix}`;
    return { reason: "no-rate", detail };
  }
  return { from, to: converted.price, fromRate, toRate, rate: converted.rate };
}

/** Whether an amount due is paid, to which bank details, or held back and why. */
function payoutDecision(
  publisher: PublisherRecord | undefined,
  due: bigint,
  currency: CurrencyCode,
  frame: Frame,
  config: PlanOptions["config"],
): { creditor: PayoutCreditor; sepa: boolean } | Pick<Hold, "reason" | "detail"> {
  if (due <= 0n) return { reason: "nothing-due" };
  if (due < BigInt(minimumPayoutOf(config, currency))) return { reason: "below-minimum" };
  if (!publisher || (publisher.iban === undefined && publisher.domestic === undefined)) return { reason: "no-bank-details" };
  const { name, bic, country } = publisher;
  let creditor: PayoutCreditor;
  let sepa = false;
  if (publisher.domestic !== undefined) {
    // A domestic account is reached through its clearing system, in a transfer outside SEPA.
    creditor = { name, domestic: publisher.domestic, bic, country };
  } else {
    const iban = validateIban(publisher.iban!);
    sepa = currency === "EUR" && iban.ok && isSepaCountry(iban.country);
    creditor = { name, iban: publisher.iban, bic, country };
    if (!sepa && bic === undefined) return { reason: "no-bic-for-non-sepa" };
  }
  const detail = transferRefusal(frame, creditor, price(due, currency), sepa);
  if (detail !== undefined) return { reason: "bank-details-refused", detail };
  return { creditor, sepa };
}

/** Per postpaid user: what the period's bill comes to, refunds and earlier collections deducted. */
function planCollections(
  sums: PeriodSums,
  settled: Settled,
  frame: Frame,
): { collections: CollectionRecord[]; credits: SettlementDetails["credits"][number][]; refusedDebits: RefusedDebit[] } {
  const { period } = sums;
  const usersById = new Map<string, UserRecord>(sums.users.map((u) => [u.id, u]));
  const collections: CollectionRecord[] = [];
  const credits: { user: string; currency: string; amount: string }[] = [];
  const refusedDebits: RefusedDebit[] = [];
  for (const accrued of sums.accruedThrough) {
    const { kind, party } = partyOf(accrued.account);
    if (kind !== "receivable") continue;
    const { currency } = accrued;
    const due = accrued.sum - (settled.get(`collection ${party} ${currency}`) ?? 0n);
    if (due < 0n) credits.push({ user: party, currency, amount: (-due).toString() });
    if (due <= 0n) continue;
    const user = usersById.get(party);
    let mandate = user?.mandate && currency === "EUR" ? user.mandate : undefined;
    const refusal = mandate && debitRefusal(frame, mandate, price(due, currency));
    if (mandate && refusal) {
      refusedDebits.push({ user: party, mandate: mandate.id, currency, amount: due.toString(), detail: refusal });
      mandate = undefined;
    }
    collections.push({
      id: "",
      period,
      user: party as PartyId<"user">,
      amount: price(due, currency),
      method: mandate ? "sepa-direct-debit" : "invoice",
      mandate,
    });
  }
  collections.sort((a, b) => byKey(a.user, b.user) || (a.amount.currency < b.amount.currency ? -1 : 1));
  const numbered = collections.map((c, i) => ({ ...c, id: `COL-${period}-${String(i + 1).padStart(5, "0")}` }));
  return { collections: numbered, credits, refusedDebits };
}

/** Sums of one kind's postings to one kind of account, by "party currency". */
function sumsByParty(moved: PeriodSums["moved"], kind: "payment" | "refund", account: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const m of moved) {
    const owner = partyOf(m.account);
    if (m.kind !== kind || owner.kind !== account) continue;
    const key = `${owner.party} ${m.currency}`;
    out.set(key, (out.get(key) ?? 0n) + m.sum);
  }
  return out;
}

/** A whole period's activity summed as Store.periodSums sums it in the database. */
export function sumsOfActivity(activity: PeriodActivity): PeriodSums {
  const { transactions, payments: _payments, ...balances } = activity;
  return { ...balances, moved: movedOf(transactions) };
}

function movedOf(transactions: readonly LedgerTransaction[]): PeriodSums["moved"] {
  const sums = new Map<string, AccountSum & { kind: "payment" | "refund" }>();
  for (const txn of transactions) {
    if (txn.kind !== "payment" && txn.kind !== "refund") continue;
    for (const p of txn.postings) {
      const key = `${txn.kind} ${p.account} ${p.currency}`;
      const sum = (sums.get(key)?.sum ?? 0n) + BigInt(p.amount);
      sums.set(key, { kind: txn.kind, account: p.account, currency: p.currency, sum });
    }
  }
  return [...sums.values()];
}

/** Per currency, what the period's payments and refunds moved (docs/ledger.md, "Tie-out"). */
export function periodTotals(transactions: readonly LedgerTransaction[]): Record<string, PeriodTotals> {
  return totalsOf(movedOf(transactions));
}

function totalsOf(moved: PeriodSums["moved"]): Record<string, PeriodTotals> {
  const sums = new Map<string, { billed: bigint; publishers: bigint; fees: bigint; fx: bigint }>();
  for (const m of moved) {
    const entry = sums.get(m.currency) ?? { billed: 0n, publishers: 0n, fees: 0n, fx: 0n };
    const { kind, party } = partyOf(m.account);
    if (kind === "funds" || kind === "receivable") entry.billed += m.sum;
    else if (kind === "payable") entry.publishers -= m.sum;
    else if (party === "fees") entry.fees -= m.sum;
    else if (party === "fx") entry.fx -= m.sum;
    sums.set(m.currency, entry);
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
