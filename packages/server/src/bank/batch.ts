/**
 * What the two bank files (pain001.ts, pain008.ts) read and write alike: the batch itself must be
 * an object, the requested date may not precede the file's creation, end-to-end ids are unique
 * within the batch (the bank returns them on statements and returns), and the group header
 * (GrpHdr) opens both documents with the same five elements.
 */
import { BankFileError, FieldProblem, type ProblemList } from "./errors.js";
import { isoDate } from "./fields.js";
import { element, textElement, type XmlElement } from "./xml.js";

/** Refuses a batch that is not an object at all: nothing else can be read from it. */
export function assertBatchObject(batch: unknown): void {
  if (typeof batch !== "object" || batch === null) {
    throw new BankFileError([{ code: "ERR_BANK_BATCH", field: "batch", message: "must be an object" }]);
  }
}

/** The execution or collection date, YYYY-MM-DD, on or after the file's creation date. */
export function dateFromCreation(value: unknown, field: string, createdAt: string | undefined): string {
  const date = isoDate(value, field);
  if (createdAt !== undefined && date < createdAt.slice(0, 10)) {
    throw new FieldProblem("ERR_BANK_DATE", field, `${date} is before the file's creation date ${createdAt.slice(0, 10)}`);
  }
  return date;
}

/**
 * Each item of `items` (the batch's `field`, at least one) prepared by `prepare`; an item whose
 * end-to-end id an earlier one has is a problem, and left out.
 */
export function prepareUnique<I, P extends { readonly endToEndId: string }>(
  items: unknown,
  field: string,
  noun: string,
  problems: ProblemList,
  prepare: (item: I, at: string) => P | undefined,
): P[] {
  const prepared: P[] = [];
  if (!Array.isArray(items) || items.length === 0) {
    problems.add("ERR_BANK_BATCH", field, `a batch needs at least one ${noun}`);
    return prepared;
  }
  const seen = new Map<string, number>();
  (items as I[]).forEach((item, index) => {
    const one = prepare(item, `${field}[${index}]`);
    if (one === undefined) return;
    const first = seen.get(one.endToEndId);
    if (first !== undefined) {
      problems.add(
        "ERR_BANK_BATCH",
        `${field}[${index}].endToEndId`,
        `${one.endToEndId} is already the end-to-end id of ${field}[${first}]`,
      );
      return;
    }
    seen.set(one.endToEndId, index);
    prepared.push(one);
  });
  return prepared;
}

/** GrpHdr: the message id, the creation time, the number of transactions, their control sum, the initiating party. */
export function groupHeader(header: {
  readonly messageId: string;
  readonly createdAt: string;
  readonly count: number;
  readonly total: string;
  readonly initiatingParty: string;
}): XmlElement {
  return element("GrpHdr", [
    textElement("MsgId", header.messageId),
    textElement("CreDtTm", header.createdAt),
    textElement("NbOfTxs", String(header.count)),
    textElement("CtrlSum", header.total),
    element("InitgPty", [textElement("Nm", header.initiatingParty)]),
  ]);
}
