/**
 * Errors of the bank-file builders. A batch is checked as a whole before any XML is written, so
 * one BankFileError lists every problem found (each naming the item and field), and an operator
 * fixes a settlement run in one pass rather than one error at a time.
 */
import { PeageError } from "@peage/protocol";

export const BankProblemCodes = [
  /** The batch itself: empty, duplicate end-to-end ids, totals too large. */
  "ERR_BANK_BATCH",
  /** An identifier (message, end-to-end or mandate id) breaks the ISO 20022/EPC identifier rules. */
  "ERR_BANK_IDENTIFIER",
  /** A free-text field holds a character outside the EPC Latin character set, or is empty. */
  "ERR_BANK_TEXT",
  /** A field is longer than the message allows. */
  "ERR_BANK_LENGTH",
  "ERR_BANK_IBAN",
  "ERR_BANK_BIC",
  "ERR_BANK_CREDITOR_ID",
  "ERR_BANK_COUNTRY",
  /** A domestic (non-IBAN) account: a routing, transit, BSB, IFSC or bank code, an account number or type its country refuses. */
  "ERR_BANK_ACCOUNT",
  /** An amount that is not a positive safe integer of minor units, or is out of the scheme's range. */
  "ERR_BANK_AMOUNT",
  "ERR_BANK_CURRENCY",
  "ERR_BANK_DATE",
  /** A SEPA scheme rule (euro only, SEPA countries only, BIC where required). */
  "ERR_BANK_SCHEME",
] as const;
export type BankProblemCode = (typeof BankProblemCodes)[number];

/** One thing wrong with a batch: `field` names the item, e.g. `transfers[3].creditor.iban`. */
export interface BankProblem {
  readonly code: BankProblemCode;
  readonly field: string;
  readonly message: string;
}

const MAX_PROBLEMS_IN_MESSAGE = 10;

/** A batch that cannot be turned into a bank file. `problems` lists every problem found. */
export class BankFileError extends PeageError<"ERR_BANK_FILE_INPUT"> {
  override readonly name = "BankFileError";
  readonly problems: readonly BankProblem[];

  constructor(problems: readonly BankProblem[]) {
    super("ERR_BANK_FILE_INPUT", describe(problems));
    this.problems = problems;
  }

  /** The field of the first problem, e.g. `transfers[0].creditor.iban`. */
  get field(): string {
    return this.problems[0]?.field ?? "";
  }
}

function describe(problems: readonly BankProblem[]): string {
  const lines = problems.slice(0, MAX_PROBLEMS_IN_MESSAGE).map((p) => `${p.field}: ${p.message}`);
  if (problems.length === 1) return lines[0] ?? "invalid batch";
  const more = problems.length > MAX_PROBLEMS_IN_MESSAGE ? `; and ${problems.length - MAX_PROBLEMS_IN_MESSAGE} more` : "";
  return `${problems.length} problems: ${lines.join("; ")}${more}`;
}

/** Thrown inside the builders for one field; collected into a BankFileError. */
export class FieldProblem extends PeageError<BankProblemCode> {
  override readonly name = "FieldProblem";
  constructor(
    code: BankProblemCode,
    readonly field: string,
    message: string,
  ) {
    super(code, message);
  }
}

/**
 * Collects problems while a batch is read: `check` runs a step and records its FieldProblem
 * instead of stopping, so that every item is examined. Anything else thrown is a bug and is rethrown.
 */
export class ProblemList {
  private readonly list: BankProblem[] = [];

  add(code: BankProblemCode, field: string, message: string): void {
    this.list.push({ code, field, message });
  }

  check<T>(step: () => T): T | undefined {
    try {
      return step();
    } catch (error) {
      if (error instanceof FieldProblem) {
        this.add(error.code, error.field, error.message);
        return undefined;
      }
      throw error;
    }
  }

  get size(): number {
    return this.list.length;
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new BankFileError(this.list);
  }
}
