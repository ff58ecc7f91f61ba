/**
 * Names that go into bank files (publishers paid by credit transfer, account holders of SEPA
 * mandates), checked where they enter the API: a name the bank file would refuse at settlement
 * is refused when it is given, with what to change, instead of holding up a payout a month later.
 */
import { sepaText } from "./charset.js";
import { FieldProblem } from "./errors.js";

/** EPC limit of a party's name (ISO 20022 allows 140, SEPA batches 70): one limit, whichever file the name ends up in. */
export const BANK_NAME_LENGTH = 70;

/**
 * Undefined when `name` can be written in a bank file (after the transliteration SEPA allows:
 * accents dropped, ß to ss…), otherwise why not, for a 400 answer naming `field`.
 */
export function checkBankName(name: string, field: string): string | undefined {
  try {
    sepaText(name, field, BANK_NAME_LENGTH);
    return undefined;
  } catch (error) {
    if (!(error instanceof FieldProblem)) throw error;
    return (
      `${field}: ${error.message}; bank files take Latin letters, digits, space and / - ? : ( ) . , ' + ` +
      `(accented letters are transliterated): give the name as the bank account's holder is written in Latin letters`
    );
  }
}
