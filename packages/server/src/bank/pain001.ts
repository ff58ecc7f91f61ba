/**
 * pain.001.001.09, CustomerCreditTransferInitiationV09 (ISO 20022): the file Péage hands its bank
 * to pay publishers. One PmtInf per currency, each debiting the account of that currency when the
 * debtor has one (`debtor.accounts`), its main account otherwise; one CdtTrfTxInf per transfer.
 *
 * With `sepa: true` the file follows the EPC SEPA Credit Transfer customer-to-PSP implementation
 * guidelines (EPC132-08, 2023 version 1.0): euro only, SEPA accounts only, SvcLvl SEPA, ChrgBr
 * SLEV, names of at most 70 characters; it validates against both the EPC XSD and the ISO one.
 * Otherwise it is a plain ISO 20022 file (any currency, ChrgBr SHAR): the creditor's account is an
 * IBAN with the bank's BIC, or a domestic account of a country outside the IBAN registry
 * (domestic.ts), written as `CdtrAcct/Id/Othr` (scheme BBAN) with the bank reached through its
 * clearing system's member id (`CdtrAgt/FinInstnId/ClrSysMmbId`), a BIC beside it if known.
 */
import type { Price } from "@peage/protocol";
import { checkPositivePrice, minorToDecimal, writtenDigits } from "./amount.js";
import { optionalSepaText, sepaIdentifier, sepaText } from "./charset.js";
import { FieldProblem, ProblemList } from "./errors.js";
import { bic, country, iban, isoDateTime } from "./fields.js";
import { clearingRoute, parseDomesticAccount, type ClearingRoute, type DomesticAccount } from "./domestic.js";
import { element, serializeXml, textElement, type XmlElement } from "./xml.js";
import { assertBatchObject, dateFromCreation, groupHeader, prepareUnique } from "./batch.js";

export const PAIN_001_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";

export interface CreditTransfer {
  /** Unique within the batch; returned by the bank on statements and returns. 1–35 characters, no spaces. */
  readonly endToEndId: string;
  readonly creditor: {
    readonly name: string;
    /** The account: an IBAN, or (outside SEPA) a domestic account; exactly one of the two. */
    readonly iban?: string;
    readonly domestic?: DomesticAccount;
    /** The creditor's bank; may be left out for SEPA transfers (IBAN-only) and domestic accounts, required otherwise. */
    readonly bic?: string;
    /** ISO 3166 alpha-2 country of the creditor's address. */
    readonly country: string;
  };
  /** A positive amount; in a SEPA batch, euros from 0.01 to 999,999,999.99. */
  readonly amount: Price;
  /** Unstructured remittance information, at most 140 characters; left out of the file when empty. */
  readonly remittance: string;
}

export interface CreditTransferBatch {
  /** Unique per file, 1–31 characters without spaces (the payment information ids append "-" and the currency). */
  readonly messageId: string;
  readonly createdAt: Date;
  /** Name of the party sending the file (InitgPty/Nm). */
  readonly initiatingParty: string;
  readonly debtor: {
    readonly name: string;
    readonly iban: string;
    readonly bic: string;
    /** Per currency, the account that currency's transfers are debited from instead (a bank's account in that currency). */
    readonly accounts?: Readonly<Record<string, { readonly iban: string; readonly bic: string }>>;
  };
  /** Requested execution date, YYYY-MM-DD. */
  readonly executionDate: string;
  readonly sepa: boolean;
  readonly transfers: readonly CreditTransfer[];
}

/** EPC limits: names 70 characters (ISO allows 140), remittance 140, amounts up to 999,999,999.99 euros. */
const SEPA_NAME_LENGTH = 70;
const ISO_NAME_LENGTH = 140;
const REMITTANCE_LENGTH = 140;
const SEPA_MAX_AMOUNT = 99_999_999_999n;
/** XML Schema totalDigits of CtrlSum and amounts (DecimalNumber, ActiveOrHistoricCurrencyAndAmount). */
const TOTAL_DIGITS = 18;

interface PreparedTransfer {
  endToEndId: string;
  name: string;
  account: { iban: string } | { route: ClearingRoute };
  bic: string | undefined;
  country: string;
  amount: bigint;
  currency: string;
  exponent: number;
  remittance: string | undefined;
}

interface PaymentGroup {
  currency: string;
  exponent: number;
  sum: bigint;
  transfers: PreparedTransfer[];
}

/**
 * Builds a pain.001.001.09 credit-transfer file. Throws a BankFileError listing every problem
 * when the batch cannot be written. Deterministic: PmtInf blocks are in currency-code order and
 * transfers within each in end-to-end-id order, whatever the order of `batch.transfers`.
 */
export function buildPain001(batch: CreditTransferBatch): string {
  assertBatchObject(batch);
  const problems = new ProblemList();
  if (typeof batch.sepa !== "boolean") problems.add("ERR_BANK_BATCH", "sepa", "must be true or false");
  const sepa = batch.sepa === true;
  const nameLength = sepa ? SEPA_NAME_LENGTH : ISO_NAME_LENGTH;

  const messageId = problems.check(() => sepaIdentifier(batch.messageId, "messageId", 31));
  const createdAt = problems.check(() => isoDateTime(batch.createdAt, "createdAt"));
  const initiatingParty = problems.check(() => sepaText(batch.initiatingParty, "initiatingParty", nameLength));
  const debtor = (typeof batch.debtor === "object" && batch.debtor !== null ? batch.debtor : {}) as Partial<
    CreditTransferBatch["debtor"]
  >;
  const debtorName = problems.check(() => sepaText(debtor.name, "debtor.name", nameLength));
  const debtorIban = problems.check(() => iban(debtor.iban, "debtor.iban", sepa));
  const debtorBic = problems.check(() => bic(debtor.bic, "debtor.bic"));
  const executionDate = problems.check(() => dateFromCreation(batch.executionDate, "executionDate", createdAt));
  const debtorAccounts = currencyAccounts(debtor.accounts, sepa, problems);

  const transfers = prepareUnique(batch.transfers, "transfers", "transfer", problems, (transfer: CreditTransfer, at) =>
    prepareTransfer(transfer, at, sepa, nameLength, problems),
  );
  problems.throwIfAny();

  const groups = groupByCurrency(transfers);
  for (const group of groups) {
    // Each currency's total stays a safe integer of minor units, so callers summing in JavaScript numbers stay exact.
    if (group.sum > BigInt(Number.MAX_SAFE_INTEGER)) {
      problems.add(
        "ERR_BANK_BATCH",
        "transfers",
        `the ${group.currency} total exceeds ${Number.MAX_SAFE_INTEGER} minor units; split the batch`,
      );
    }
  }
  const total = controlSum(groups);
  if (writtenDigits(total) > TOTAL_DIGITS)
    problems.add("ERR_BANK_BATCH", "transfers", `the control sum ${total} has more than ${TOTAL_DIGITS} digits; split the batch`);
  problems.throwIfAny();

  const document = element(
    "Document",
    [
      element("CstmrCdtTrfInitn", [
        groupHeader({
          messageId: messageId as string,
          createdAt: createdAt as string,
          count: transfers.length,
          total,
          initiatingParty: initiatingParty as string,
        }),
        ...groups.map((group) =>
          paymentInformation(group, {
            messageId: messageId as string,
            sepa,
            executionDate: executionDate as string,
            debtorName: debtorName as string,
            debtorIban: debtorAccounts.get(group.currency)?.iban ?? (debtorIban as string),
            debtorBic: debtorAccounts.get(group.currency)?.bic ?? (debtorBic as string),
          }),
        ),
      ]),
    ],
    [["xmlns", PAIN_001_NAMESPACE]],
  );
  return serializeXml(document);
}

function prepareTransfer(
  transfer: CreditTransfer,
  at: string,
  sepa: boolean,
  nameLength: number,
  problems: ProblemList,
): PreparedTransfer | undefined {
  if (typeof transfer !== "object" || transfer === null) {
    problems.add("ERR_BANK_BATCH", at, "must be an object");
    return undefined;
  }
  const before = problems.size;
  const creditor = (typeof transfer.creditor === "object" && transfer.creditor !== null ? transfer.creditor : {}) as Partial<
    CreditTransfer["creditor"]
  >;
  const endToEndId = problems.check(() => sepaIdentifier(transfer.endToEndId, `${at}.endToEndId`));
  const name = problems.check(() => sepaText(creditor.name, `${at}.creditor.name`, nameLength));
  const account = creditorAccount(creditor, at, sepa, problems);
  const agent = problems.check(() => {
    if (creditor.bic === undefined || creditor.bic === "") {
      if (sepa || creditor.domestic !== undefined) return undefined;
      throw new FieldProblem("ERR_BANK_SCHEME", `${at}.creditor.bic`, "a BIC is required outside SEPA");
    }
    return bic(creditor.bic, `${at}.creditor.bic`);
  });
  const creditorCountry = problems.check(() => country(creditor.country, `${at}.creditor.country`));
  const amount = problems.check(() => {
    const checked = checkPositivePrice(transfer.amount, `${at}.amount`);
    if (sepa && checked.currency !== "EUR") {
      throw new FieldProblem(
        "ERR_BANK_SCHEME",
        `${at}.amount.currency`,
        `a SEPA batch is in euros only, not ${checked.currency}`,
      );
    }
    if (sepa && checked.amount > SEPA_MAX_AMOUNT) {
      throw new FieldProblem("ERR_BANK_AMOUNT", `${at}.amount.amount`, "a SEPA credit transfer is at most 999999999.99 EUR");
    }
    return checked;
  });
  const remittance = problems.check(() => optionalSepaText(transfer.remittance, `${at}.remittance`, REMITTANCE_LENGTH));
  if (problems.size > before || endToEndId === undefined || amount === undefined) return undefined;
  return {
    endToEndId,
    name: name as string,
    account: account!,
    bic: agent,
    country: creditorCountry as string,
    amount: amount.amount,
    currency: amount.currency,
    exponent: amount.exponent,
    remittance,
  };
}

/** The debtor's per-currency accounts, each IBAN and BIC checked and named by its currency. */
function currencyAccounts(
  accounts: CreditTransferBatch["debtor"]["accounts"],
  sepa: boolean,
  problems: ProblemList,
): Map<string, { iban: string; bic: string }> {
  const out = new Map<string, { iban: string; bic: string }>();
  for (const [currency, account] of Object.entries(accounts ?? {})) {
    const at = `debtor.accounts.${currency}`;
    const checkedIban = problems.check(() => iban(account?.iban, `${at}.iban`, sepa));
    const checkedBic = problems.check(() => bic(account?.bic, `${at}.bic`));
    if (checkedIban !== undefined && checkedBic !== undefined) out.set(currency, { iban: checkedIban, bic: checkedBic });
  }
  return out;
}

/** The creditor's IBAN or domestic account (never both), each problem of it named by its field. */
function creditorAccount(
  creditor: Partial<CreditTransfer["creditor"]>,
  at: string,
  sepa: boolean,
  problems: ProblemList,
): PreparedTransfer["account"] | undefined {
  if (creditor.domestic === undefined) {
    const checked = problems.check(() => iban(creditor.iban, `${at}.creditor.iban`, sepa));
    return checked === undefined ? undefined : { iban: checked };
  }
  const field = `${at}.creditor.domestic`;
  if (creditor.iban !== undefined) {
    problems.add("ERR_BANK_ACCOUNT", field, "an account is an IBAN or a domestic account, not both");
    return undefined;
  }
  if (sepa) {
    problems.add("ERR_BANK_SCHEME", field, "a SEPA credit transfer goes to an IBAN, not a domestic account");
    return undefined;
  }
  const parsed = parseDomesticAccount(creditor.domestic);
  if (!parsed.ok) {
    for (const p of parsed.problems) problems.add("ERR_BANK_ACCOUNT", `${field}.${p.field}`, p.reason);
    return undefined;
  }
  return { route: clearingRoute(parsed.account) };
}

/** CdtrAgt: the creditor's bank by BIC, by its clearing system's member id, or both. */
function creditorAgent(t: PreparedTransfer): XmlElement | undefined {
  const route = "route" in t.account ? t.account.route : undefined;
  if (t.bic === undefined && route === undefined) return undefined;
  return element("CdtrAgt", [
    element("FinInstnId", [
      t.bic === undefined ? undefined : textElement("BICFI", t.bic),
      route === undefined
        ? undefined
        : element("ClrSysMmbId", [element("ClrSysId", [textElement("Cd", route.system)]), textElement("MmbId", route.memberId)]),
    ]),
  ]);
}

/** CdtrAcct: an IBAN, or a domestic account number as the BBAN (ExternalAccountIdentification1Code) with its type. */
function creditorAccountElement(t: PreparedTransfer): XmlElement {
  if ("iban" in t.account) return element("CdtrAcct", [element("Id", [textElement("IBAN", t.account.iban)])]);
  const { route } = t.account;
  return element("CdtrAcct", [
    element("Id", [element("Othr", [textElement("Id", route.bban), element("SchmeNm", [textElement("Cd", "BBAN")])])]),
    route.accountType === undefined ? undefined : element("Tp", [textElement("Cd", route.accountType)]),
  ]);
}

/** Code-unit order, independent of locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function groupByCurrency(transfers: readonly PreparedTransfer[]): PaymentGroup[] {
  const groups = new Map<string, PaymentGroup>();
  for (const transfer of transfers) {
    let group = groups.get(transfer.currency);
    if (group === undefined) {
      group = { currency: transfer.currency, exponent: transfer.exponent, sum: 0n, transfers: [] };
      groups.set(transfer.currency, group);
    }
    group.sum += transfer.amount;
    group.transfers.push(transfer);
  }
  const sorted = [...groups.values()].sort((a, b) => compare(a.currency, b.currency));
  for (const group of sorted) group.transfers.sort((a, b) => compare(a.endToEndId, b.endToEndId));
  return sorted;
}

/**
 * GrpHdr/CtrlSum: the exact sum of every InstdAmt in the file, irrespective of currency (ISO 20022
 * definition), written with the largest exponent among the currencies.
 */
export function controlSum(groups: readonly { sum: bigint; exponent: number }[]): string {
  const exponent = Math.max(0, ...groups.map((g) => g.exponent));
  let total = 0n;
  for (const group of groups) total += group.sum * 10n ** BigInt(exponent - group.exponent);
  return minorToDecimal(total, exponent);
}

interface DebtorSide {
  messageId: string;
  sepa: boolean;
  executionDate: string;
  debtorName: string;
  debtorIban: string;
  debtorBic: string;
}

function paymentInformation(group: PaymentGroup, d: DebtorSide): XmlElement {
  return element("PmtInf", [
    textElement("PmtInfId", `${d.messageId}-${group.currency}`),
    textElement("PmtMtd", "TRF"),
    textElement("NbOfTxs", String(group.transfers.length)),
    textElement("CtrlSum", minorToDecimal(group.sum, group.exponent)),
    d.sepa ? element("PmtTpInf", [element("SvcLvl", [textElement("Cd", "SEPA")])]) : undefined,
    element("ReqdExctnDt", [textElement("Dt", d.executionDate)]),
    element("Dbtr", [textElement("Nm", d.debtorName)]),
    element("DbtrAcct", [element("Id", [textElement("IBAN", d.debtorIban)])]),
    element("DbtrAgt", [element("FinInstnId", [textElement("BICFI", d.debtorBic)])]),
    // EPC: charges at payment-information level, SLEV (each side pays its own bank under the scheme).
    textElement("ChrgBr", d.sepa ? "SLEV" : "SHAR"),
    ...group.transfers.map((t) =>
      element("CdtTrfTxInf", [
        element("PmtId", [textElement("EndToEndId", t.endToEndId)]),
        element("Amt", [textElement("InstdAmt", minorToDecimal(t.amount, t.exponent), [["Ccy", t.currency]])]),
        creditorAgent(t),
        element("Cdtr", [textElement("Nm", t.name), element("PstlAdr", [textElement("Ctry", t.country)])]),
        creditorAccountElement(t),
        t.remittance === undefined ? undefined : element("RmtInf", [textElement("Ustrd", t.remittance)]),
      ]),
    ),
  ]);
}
