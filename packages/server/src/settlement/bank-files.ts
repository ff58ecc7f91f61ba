/**
 * The settlement's ISO 20022 bank files, built from a settlement record. Each payout and each
 * direct debit is also tried alone before the settlement is recorded: a publisher or a mandate
 * whose details the bank file refuses (a name outside the SEPA character set, a name too long)
 * is held back or collected by invoice, instead of stopping every other payout of the period.
 */
import type { Price } from "@peage/protocol";
import { BankFileError, buildPain001, buildPain008, toLatin, type CreditTransfer, type DirectDebit } from "../bank/index.js";
import type { OperatorBank } from "../config.js";
import type { CollectionRecord, PayoutRecord, SettlementRecord } from "../store/store.js";

/** Names to use instead of the recorded ones, by payout or collection id (see `repairNames` in settle.ts). */
export type NameOverrides = ReadonlyMap<string, string>;

export const BankFileNames = {
  sepaTransfers: (period: string) => `bank/pain.001-${period}-sepa.xml`,
  otherTransfers: (period: string) => `bank/pain.001-${period}-other.xml`,
  directDebits: (period: string) => `bank/pain.008-${period}.xml`,
} as const;

/** A bank file that could not be built, and why (BankFileError's message, naming each field). */
export interface UnbuiltFile {
  readonly file: string;
  readonly reason: string;
}

type Creditor = PayoutRecord["creditor"];

function transfer(id: string, creditor: Creditor, amount: Price, period: string): CreditTransfer {
  return {
    endToEndId: id,
    creditor: {
      name: creditor.name,
      // Recorded before domestic accounts existed, a creditor has an IBAN; since, one or the other.
      ...(creditor.domestic === undefined ? { iban: creditor.iban } : { domestic: creditor.domestic }),
      ...(creditor.bic === undefined ? {} : { bic: creditor.bic }),
      country: creditor.country,
    },
    amount,
    remittance: `Peage payout ${period}`,
  };
}

function debit(id: string, mandate: NonNullable<CollectionRecord["mandate"]>, amount: Price, period: string): DirectDebit {
  return {
    endToEndId: id,
    mandate: { id: mandate.id, signedOn: mandate.signedOn },
    debtor: { name: mandate.name, iban: mandate.iban, ...(mandate.bic === undefined ? {} : { bic: mandate.bic }) },
    amount,
    remittance: `Peage ${period} statement`,
  };
}

interface BatchFrame {
  readonly period: string;
  readonly operator: OperatorBank;
  readonly createdAt: Date;
  readonly executionDate: string;
  readonly collectionDate: string;
}

function creditTransferFile(frame: BatchFrame, sepa: boolean, transfers: readonly CreditTransfer[]): string {
  const { operator, period } = frame;
  return buildPain001({
    messageId: `PEAGE-${period}-${sepa ? "SCT" : "XCT"}`,
    createdAt: frame.createdAt,
    initiatingParty: operator.name,
    debtor: {
      name: operator.name,
      iban: operator.iban,
      bic: operator.bic,
      ...(operator.currencyAccounts === undefined ? {} : { accounts: operator.currencyAccounts }),
    },
    executionDate: frame.executionDate,
    sepa,
    transfers,
  });
}

function directDebitFile(frame: BatchFrame, debits: readonly DirectDebit[]): string {
  const { operator, period } = frame;
  return buildPain008({
    messageId: `PEAGE-${period}-SDD`,
    createdAt: frame.createdAt,
    initiatingParty: operator.name,
    creditor: { name: operator.name, iban: operator.iban, bic: operator.bic, creditorId: operator.creditorId },
    collectionDate: frame.collectionDate,
    debits,
  });
}

/** The problems of the first item of a one-item batch, or undefined: batch-level problems (the operator's) are not the item's. */
function itemProblems(build: () => string, item: string): string | undefined {
  try {
    build();
    return undefined;
  } catch (error) {
    if (!(error instanceof BankFileError)) throw error;
    const own = error.problems.filter((p) => p.field.startsWith(`${item}.`) || p.field === item);
    return own.length === 0 ? undefined : own.map((p) => `${p.field.slice(item.length + 1) || item}: ${p.message}`).join("; ");
  }
}

/** Why the bank file would refuse this payout, or undefined when it takes it. */
export function transferRefusal(frame: BatchFrame, creditor: Creditor, amount: Price, sepa: boolean): string | undefined {
  return itemProblems(
    () => creditTransferFile(frame, sepa, [transfer(`PAY-${frame.period}-00000`, creditor, amount, frame.period)]),
    "transfers[0]",
  );
}

/** Why the direct-debit file would refuse this mandate, or undefined when it takes it. */
export function debitRefusal(
  frame: BatchFrame,
  mandate: NonNullable<CollectionRecord["mandate"]>,
  amount: Price,
): string | undefined {
  return itemProblems(
    () => directDebitFile(frame, [debit(`COL-${frame.period}-00000`, mandate, amount, frame.period)]),
    "debits[0]",
  );
}

/** True when `name` goes into a bank file's 70-character name field as it is (after transliteration). */
export function isBankName(name: string): boolean {
  const latin = toLatin(name);
  return latin.ok && latin.text.length > 0 && latin.text.length <= 70;
}

/**
 * The bank files of a settlement, by file name, and the files that could not be built. `names`
 * replaces recorded names (of a settlement recorded before names were checked) by current ones.
 */
export function buildBankFiles(
  settlement: SettlementRecord,
  operator: OperatorBank,
  names: NameOverrides = new Map(),
): { files: Map<string, string>; unbuilt: UnbuiltFile[] } {
  const { period } = settlement;
  const frame: BatchFrame = {
    period,
    operator,
    createdAt: new Date(settlement.createdAt),
    executionDate: settlement.executionDate,
    collectionDate: settlement.collectionDate,
  };
  const files = new Map<string, string>();
  const unbuilt: UnbuiltFile[] = [];
  const attempt = (file: string, build: () => string) => {
    try {
      files.set(file, build());
    } catch (error) {
      if (!(error instanceof BankFileError)) throw error;
      unbuilt.push({ file, reason: error.message });
    }
  };
  for (const sepa of [true, false]) {
    const transfers = settlement.payouts
      .filter((p) => p.sepa === sepa)
      .map((p) => transfer(p.id, { ...p.creditor, name: names.get(p.id) ?? p.creditor.name }, p.amount, period));
    if (transfers.length === 0) continue;
    attempt(sepa ? BankFileNames.sepaTransfers(period) : BankFileNames.otherTransfers(period), () =>
      creditTransferFile(frame, sepa, transfers),
    );
  }
  const debits = settlement.collections
    .filter((c) => c.method === "sepa-direct-debit" && c.mandate)
    .map((c) => debit(c.id, { ...c.mandate!, name: names.get(c.id) ?? c.mandate!.name }, c.amount, period));
  if (debits.length > 0) attempt(BankFileNames.directDebits(period), () => directDebitFile(frame, debits));
  return { files, unbuilt };
}
