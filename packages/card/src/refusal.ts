/**
 * How the card application refuses a command: a status word (ISO/IEC 7816-4 §5.1.3) and a reason.
 * The card answers only the status word; the reason goes to the emulator's log. Shared by the
 * applet's dispatcher (applet.ts), which turns a Refusal into the response, and PAY's checks (payment.ts).
 */

import { PeageError } from "@peage/protocol";
import type { CardRefusalCode } from "./errors.js";
import { refusalCodeOf } from "./iso7816.js";

/** A refusal: the status word, and why (for the emulator's log only; the card says only the SW). */
export class Refusal extends PeageError<CardRefusalCode> {
  constructor(
    readonly sw: number,
    reason: string,
  ) {
    super(refusalCodeOf(sw), reason);
  }
}

export function refuse(sw: number, reason: string): never {
  throw new Refusal(sw, reason);
}
