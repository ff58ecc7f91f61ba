/** What a user's statement and a publisher's payout report hold, as the settlement code builds them. */
import { PeageError, type Price } from "@peage/protocol";

export const StatementLineKinds = ["payment", "refund", "topup", "deposit"] as const;
export type StatementLineKind = (typeof StatementLineKinds)[number];

export interface StatementLine {
  /** YYYY-MM-DD. */
  readonly date: string;
  readonly paymentId: string;
  readonly publisher: string;
  readonly description?: string;
  /** The price as the publisher set it, in the publisher's currency. */
  readonly price: Price;
  /** What the user was charged (or credited), in the user's home currency. */
  readonly charged: Price;
  /** The exchange rate applied, as a decimal string, when the currencies differ. */
  readonly rate?: string;
  readonly kind: StatementLineKind;
}

export interface Statement {
  /** The billing period, e.g. "2025-11". */
  readonly period: string;
  readonly user: {
    readonly id: string;
    readonly name?: string;
    readonly mode: "prepaid" | "postpaid";
    readonly homeCurrency: string;
  };
  readonly lines: readonly StatementLine[];
  readonly totals: {
    readonly charged: Price;
    readonly refunded: Price;
    readonly toCollect?: Price;
    readonly openingBalance?: Price;
    readonly closingBalance?: Price;
  };
}

export interface PayoutLine {
  readonly currency: string;
  readonly earned: Price;
  readonly carriedIn: Price;
  readonly refunded: Price;
  readonly payable: Price;
  readonly paid: Price;
  readonly carriedOut: Price;
  /** When `paid` was converted into the publisher's payout currency: what it came to, at which rates. */
  readonly paidAs?: Price;
  /** Units of the payout currency per unit of this one, to ten decimals (display); the amount comes from the exact rates. */
  readonly rate?: string;
  /** The exact table rates of this currency and of the payout currency, per unit of the table's base. */
  readonly fromRate?: string;
  readonly toRate?: string;
  readonly rateDate?: string;
  readonly rateSource?: string;
}

export interface PublisherPayout {
  readonly period: string;
  readonly publisher: { readonly id: string; readonly name: string; readonly country: string };
  readonly lines: readonly PayoutLine[];
}

/** A statement or payout report that cannot be rendered; `field` names the value at fault. */
export class StatementError extends PeageError<"ERR_STATEMENT_INPUT"> {
  override readonly name = "StatementError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super("ERR_STATEMENT_INPUT", `${field}: ${message}`);
  }
}
