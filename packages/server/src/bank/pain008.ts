/**
 * pain.008.001.02, CustomerDirectDebitInitiationV02 (ISO 20022), as the EPC SEPA Core Direct
 * Debit customer-to-PSP implementation guidelines (EPC130-08) restrict it: the file Péage hands
 * its bank to collect what postpaid users owe. One PmtInf, one DrctDbtTxInf per user.
 *
 * Sequence type: every collection is sent as RCUR. Péage's mandates are recurrent (one
 * collection per billing period), and since the SDD rulebook of November 2016 the first
 * collection under a recurrent mandate may be RCUR as well; FRST is no longer required, so Péage
 * need not track whether a mandate has been used and a mandate's first collection cannot be
 * rejected for a wrong sequence type. FNAL is never used: a mandate ends when the user closes
 * the account, and a mandate unused for 36 months lapses on its own.
 */
import type { Price } from "@peage/protocol";
import { checkPositivePrice, minorToDecimal, writtenDigits } from "./amount.js";
import { optionalSepaText, sepaIdentifier, sepaText } from "./charset.js";
import { FieldProblem, ProblemList } from "./errors.js";
import { bic, iban, isoDate, isoDateTime } from "./fields.js";
import { validateCreditorId } from "./identifiers.js";
import { element, serializeXml, textElement, type XmlElement } from "./xml.js";
import { assertBatchObject, dateFromCreation, groupHeader, prepareUnique } from "./batch.js";

export const PAIN_008_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02";

/** The sequence type of every collection (see the module comment). */
export const SEQUENCE_TYPE = "RCUR";

export interface DirectDebit {
  /** Unique within the batch, 1–35 characters without spaces. */
  readonly endToEndId: string;
  /** The mandate the user signed: its unique reference (1–35 characters, no spaces) and signature date, YYYY-MM-DD. */
  readonly mandate: { readonly id: string; readonly signedOn: string };
  /** The user's bank may be left out (IBAN-only); the file then says NOTPROVIDED, as the EPC allows. */
  readonly debtor: { readonly name: string; readonly iban: string; readonly bic?: string };
  /** Euros, 0.01 to 999,999,999.99. */
  readonly amount: Price;
  /** Unstructured remittance information, at most 140 characters; left out of the file when empty. */
  readonly remittance: string;
}

export interface DirectDebitBatch {
  /** Unique per file, 1–31 characters without spaces (the payment information id appends "-EUR"). */
  readonly messageId: string;
  readonly createdAt: Date;
  readonly initiatingParty: string;
  readonly creditor: { readonly name: string; readonly iban: string; readonly bic: string; readonly creditorId: string };
  /** Requested collection date, YYYY-MM-DD. */
  readonly collectionDate: string;
  readonly debits: readonly DirectDebit[];
}

const NAME_LENGTH = 70;
const REMITTANCE_LENGTH = 140;
const SEPA_MAX_AMOUNT = 99_999_999_999n;
const TOTAL_DIGITS = 18;
/** pain.008.001.02 predates ISO 9362:2014 and still uses the older BIC pattern (BICIdentifier). */
const BIC_2009 = /^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$/;

interface PreparedDebit {
  endToEndId: string;
  mandateId: string;
  signedOn: string;
  name: string;
  iban: string;
  bic: string | undefined;
  amount: bigint;
  remittance: string | undefined;
}

function bic2009(value: unknown, field: string): string {
  const checked = bic(value, field);
  if (!BIC_2009.test(checked)) {
    throw new FieldProblem(
      "ERR_BANK_BIC",
      field,
      `${checked} cannot be written in pain.008.001.02, whose BIC pattern wants letters in the first six characters and a location code not starting with 0 or 1`,
    );
  }
  return checked;
}

/**
 * Builds a pain.008.001.02 SEPA Core direct-debit file. Throws a BankFileError listing every
 * problem when the batch cannot be written. Deterministic: debits are in end-to-end-id order.
 */
export function buildPain008(batch: DirectDebitBatch): string {
  assertBatchObject(batch);
  const problems = new ProblemList();
  const messageId = problems.check(() => sepaIdentifier(batch.messageId, "messageId", 31));
  const createdAt = problems.check(() => isoDateTime(batch.createdAt, "createdAt"));
  const initiatingParty = problems.check(() => sepaText(batch.initiatingParty, "initiatingParty", NAME_LENGTH));
  const creditor = (typeof batch.creditor === "object" && batch.creditor !== null ? batch.creditor : {}) as Partial<
    DirectDebitBatch["creditor"]
  >;
  const creditorName = problems.check(() => sepaText(creditor.name, "creditor.name", NAME_LENGTH));
  const creditorIban = problems.check(() => iban(creditor.iban, "creditor.iban", true));
  const creditorBic = problems.check(() => bic2009(creditor.bic, "creditor.bic"));
  const creditorId = problems.check(() => {
    const result = validateCreditorId(creditor.creditorId as string);
    if (!result.ok) throw new FieldProblem("ERR_BANK_CREDITOR_ID", "creditor.creditorId", result.reason);
    return result.creditorId;
  });
  const collectionDate = problems.check(() => dateFromCreation(batch.collectionDate, "collectionDate", createdAt));

  const debits = prepareUnique(batch.debits, "debits", "debit", problems, (debit: DirectDebit, at) =>
    prepareDebit(debit, at, collectionDate, problems),
  );
  problems.throwIfAny();

  debits.sort((a, b) => (a.endToEndId < b.endToEndId ? -1 : a.endToEndId > b.endToEndId ? 1 : 0));
  const sum = debits.reduce((total, d) => total + d.amount, 0n);
  if (sum > BigInt(Number.MAX_SAFE_INTEGER))
    problems.add("ERR_BANK_BATCH", "debits", `the total exceeds ${Number.MAX_SAFE_INTEGER} minor units; split the batch`);
  const total = minorToDecimal(sum, 2);
  if (writtenDigits(total) > TOTAL_DIGITS)
    problems.add("ERR_BANK_BATCH", "debits", `the control sum ${total} has more than ${TOTAL_DIGITS} digits; split the batch`);
  problems.throwIfAny();

  const document = element(
    "Document",
    [
      element("CstmrDrctDbtInitn", [
        groupHeader({
          messageId: messageId as string,
          createdAt: createdAt as string,
          count: debits.length,
          total,
          initiatingParty: initiatingParty as string,
        }),
        element("PmtInf", [
          textElement("PmtInfId", `${messageId as string}-EUR`),
          textElement("PmtMtd", "DD"),
          textElement("NbOfTxs", String(debits.length)),
          textElement("CtrlSum", total),
          element("PmtTpInf", [
            element("SvcLvl", [textElement("Cd", "SEPA")]),
            element("LclInstrm", [textElement("Cd", "CORE")]),
            textElement("SeqTp", SEQUENCE_TYPE),
          ]),
          textElement("ReqdColltnDt", collectionDate as string),
          element("Cdtr", [textElement("Nm", creditorName as string)]),
          element("CdtrAcct", [element("Id", [textElement("IBAN", creditorIban as string)])]),
          element("CdtrAgt", [element("FinInstnId", [textElement("BIC", creditorBic as string)])]),
          textElement("ChrgBr", "SLEV"),
          // EPC130-08: the creditor identifier as a private identification with scheme name SEPA.
          element("CdtrSchmeId", [
            element("Id", [
              element("PrvtId", [
                element("Othr", [textElement("Id", creditorId as string), element("SchmeNm", [textElement("Prtry", "SEPA")])]),
              ]),
            ]),
          ]),
          ...debits.map(directDebitTransaction),
        ]),
      ]),
    ],
    [["xmlns", PAIN_008_NAMESPACE]],
  );
  return serializeXml(document);
}

function prepareDebit(
  debit: DirectDebit,
  at: string,
  collectionDate: string | undefined,
  problems: ProblemList,
): PreparedDebit | undefined {
  if (typeof debit !== "object" || debit === null) {
    problems.add("ERR_BANK_BATCH", at, "must be an object");
    return undefined;
  }
  const before = problems.size;
  const mandate = (typeof debit.mandate === "object" && debit.mandate !== null ? debit.mandate : {}) as Partial<
    DirectDebit["mandate"]
  >;
  const debtor = (typeof debit.debtor === "object" && debit.debtor !== null ? debit.debtor : {}) as Partial<
    DirectDebit["debtor"]
  >;
  const endToEndId = problems.check(() => sepaIdentifier(debit.endToEndId, `${at}.endToEndId`));
  const mandateId = problems.check(() => sepaIdentifier(mandate.id, `${at}.mandate.id`));
  const signedOn = problems.check(() => {
    const date = isoDate(mandate.signedOn, `${at}.mandate.signedOn`);
    if (collectionDate !== undefined && date > collectionDate) {
      throw new FieldProblem(
        "ERR_BANK_DATE",
        `${at}.mandate.signedOn`,
        `the mandate is signed on ${date}, after the collection date ${collectionDate}`,
      );
    }
    return date;
  });
  const name = problems.check(() => sepaText(debtor.name, `${at}.debtor.name`, NAME_LENGTH));
  const account = problems.check(() => iban(debtor.iban, `${at}.debtor.iban`, true));
  const agent = problems.check(() =>
    debtor.bic === undefined || debtor.bic === "" ? undefined : bic2009(debtor.bic, `${at}.debtor.bic`),
  );
  const amount = problems.check(() => {
    const checked = checkPositivePrice(debit.amount, `${at}.amount`);
    if (checked.currency !== "EUR")
      throw new FieldProblem(
        "ERR_BANK_SCHEME",
        `${at}.amount.currency`,
        `a SEPA direct debit is in euros only, not ${checked.currency}`,
      );
    if (checked.amount > SEPA_MAX_AMOUNT)
      throw new FieldProblem("ERR_BANK_AMOUNT", `${at}.amount.amount`, "a SEPA direct debit is at most 999999999.99 EUR");
    return checked.amount;
  });
  const remittance = problems.check(() => optionalSepaText(debit.remittance, `${at}.remittance`, REMITTANCE_LENGTH));
  if (problems.size > before || endToEndId === undefined || amount === undefined) return undefined;
  return {
    endToEndId,
    mandateId: mandateId as string,
    signedOn: signedOn as string,
    name: name as string,
    iban: account as string,
    bic: agent,
    amount,
    remittance,
  };
}

function directDebitTransaction(d: PreparedDebit): XmlElement {
  return element("DrctDbtTxInf", [
    element("PmtId", [textElement("EndToEndId", d.endToEndId)]),
    textElement("InstdAmt", minorToDecimal(d.amount, 2), [["Ccy", "EUR"]]),
    element("DrctDbtTx", [element("MndtRltdInf", [textElement("MndtId", d.mandateId), textElement("DtOfSgntr", d.signedOn)])]),
    element("DbtrAgt", [
      element("FinInstnId", [
        d.bic === undefined ? element("Othr", [textElement("Id", "NOTPROVIDED")]) : textElement("BIC", d.bic),
      ]),
    ]),
    element("Dbtr", [textElement("Nm", d.name)]),
    element("DbtrAcct", [element("Id", [textElement("IBAN", d.iban)])]),
    d.remittance === undefined ? undefined : element("RmtInf", [textElement("Ustrd", d.remittance)]),
  ]);
}
