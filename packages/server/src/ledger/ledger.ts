/**
 * The double-entry ledger: every movement of money is one transaction of postings in integer
 * minor units, and the postings of a transaction sum to zero in each currency. docs/ledger.md
 * names the accounts, the sign convention and the invariants; this module builds the postings of
 * each kind of transaction and refuses, before anything is written, a transaction that does not
 * balance.
 *
 * Sign convention: a positive amount is a debit, a negative amount a credit. An account's balance
 * is the sum of its postings; for the accounts that hold money owed to someone (a user's prepaid
 * funds or deposit, a publisher's payable) that sum is negative, and the amount owed is its
 * opposite.
 */
import { PeageError, type CurrencyCode, type MinorUnits, type PartyId, type Price } from "@peage/protocol";

/** The kinds of account; an account is `${kind}/${party}` for a party's own, `server/${name}` for the server's. */
export const AccountKinds = ["funds", "float", "receivable", "deposit", "payable", "server"] as const;
export type AccountKind = (typeof AccountKinds)[number];

export const Accounts = {
  /** What the server holds for a prepaid user (a liability: credit balance). */
  funds: (user: string) => `funds/${user}`,
  /**
   * Money a prepaid user loaded onto their cards (a liability): moved out of `funds` when a card
   * is loaded, spent by the card's payments when its log comes back. Online payments never touch it.
   */
  float: (user: string) => `float/${user}`,
  /** What a postpaid user owes (an asset: debit balance), collected at settlement. */
  receivable: (user: string) => `receivable/${user}`,
  /** A postpaid user's deposit, held against the risk of an unpaid bill (a liability). */
  deposit: (user: string) => `deposit/${user}`,
  /** What the server owes a publisher, per currency (a liability), paid out at settlement. */
  payable: (publisher: string) => `payable/${publisher}`,
  /** The server's fee income. */
  fees: "server/fees",
  /** The currency exchange position: user legs in one currency, publisher legs in another; it absorbs rounding. */
  fx: "server/fx",
  /** Money at, or on its way to or from, the server's bank account: top-ups, deposits, collections, payouts. */
  bank: "server/bank",
} as const;

/** The party an account belongs to (a user or publisher id), or undefined for the server's own. */
export function partyOf(account: string): { kind: AccountKind; party: string } {
  const slash = account.indexOf("/");
  return { kind: account.slice(0, slash) as AccountKind, party: account.slice(slash + 1) };
}

export const TransactionKinds = ["payment", "refund", "topup", "deposit", "collection", "payout", "card-load"] as const;
export type TransactionKind = (typeof TransactionKinds)[number];

export interface Posting {
  readonly account: string;
  readonly currency: CurrencyCode;
  /** Minor units; positive is a debit, negative a credit; never zero (a zero posting is left out). */
  readonly amount: number;
}

/** A transaction about to be posted. */
export interface NewTransaction {
  readonly id: string;
  readonly kind: TransactionKind;
  /** When it happened (the payment's server time, the top-up's time), RFC 3339. */
  readonly createdAt: string;
  readonly user?: string | undefined;
  readonly publisher?: string | undefined;
  /** The payment a payment or refund transaction is about. */
  readonly paymentId?: string | undefined;
  /** What else it refers to: a top-up id, a settlement's payout or collection id. */
  readonly ref?: string | undefined;
  readonly postings: readonly Posting[];
}

/** Thrown, and nothing written, when a transaction would break an invariant of docs/ledger.md. */
export class LedgerInvariantError extends PeageError<"ERR_LEDGER_INVARIANT"> {
  override readonly name = "LedgerInvariantError";
  constructor(
    /** The invariant's name in docs/ledger.md. */
    readonly invariant: string,
    message: string,
  ) {
    super("ERR_LEDGER_INVARIANT", `${invariant}: ${message}`);
  }
}

/**
 * BALANCED and WHOLE_MINOR_UNITS: every posting is a non-zero safe integer, and the postings sum
 * to zero in each currency (in BigInt, so that no sum is rounded). Throws LedgerInvariantError.
 */
export function assertBalanced(txn: Pick<NewTransaction, "id" | "postings">): void {
  const sums = new Map<string, bigint>();
  for (const posting of txn.postings) {
    if (!Number.isSafeInteger(posting.amount) || posting.amount === 0) {
      throw new LedgerInvariantError(
        "WHOLE_MINOR_UNITS",
        `transaction ${txn.id}: posting ${posting.amount} to ${posting.account} is not a non-zero safe integer of minor units`,
      );
    }
    if (!/^[A-Z]{3}$/.test(posting.currency))
      throw new LedgerInvariantError(
        "WHOLE_MINOR_UNITS",
        `transaction ${txn.id}: ${JSON.stringify(posting.currency)} is not a currency code`,
      );
    if (!/^(funds|float|receivable|deposit|payable|server)\/.+/.test(posting.account)) {
      throw new LedgerInvariantError(
        "KNOWN_ACCOUNTS",
        `transaction ${txn.id}: ${JSON.stringify(posting.account)} is not an account of the ledger`,
      );
    }
    sums.set(posting.currency, (sums.get(posting.currency) ?? 0n) + BigInt(posting.amount));
  }
  for (const [currency, sum] of sums) {
    if (sum !== 0n)
      throw new LedgerInvariantError(
        "BALANCED",
        `transaction ${txn.id} does not balance in ${currency}: its postings sum to ${sum}`,
      );
  }
}

/** Builds a posting list from (account, currency, amount) triples, leaving out zero amounts. */
function postings(...entries: readonly [string, CurrencyCode, number][]): Posting[] {
  return entries.filter(([, , amount]) => amount !== 0).map(([account, currency, amount]) => ({ account, currency, amount }));
}

/**
 * The server's fee on a price, in the price's currency: `basisPoints` / 10 000 of it, rounded
 * down to the minor unit (any fraction goes to the publisher).
 */
export function feeFor(price: Price, basisPoints: number): MinorUnits {
  if (!Number.isInteger(basisPoints) || basisPoints < 0 || basisPoints > 10_000)
    throw new RangeError(`a fee is 0 to 10000 basis points, not ${basisPoints}`);
  return Number((BigInt(price.amount) * BigInt(basisPoints)) / 10_000n) as MinorUnits;
}

/** What a payment transaction needs to know. */
export interface PaymentLegs {
  readonly id: string;
  readonly user: PartyId<"user"> | string;
  readonly mode: "prepaid" | "postpaid";
  /** A prepaid card's payment: drawn on the user's card float, not on the online funds. */
  readonly fromCardFloat?: boolean;
  readonly publisher: PartyId<"publisher"> | string;
  /** The price the publisher signed: the publisher is credited in its currency. */
  readonly price: Price;
  /** What the user is charged, in the home currency. */
  readonly charged: Price;
  /** The server's fee, in the price's currency, taken from the publisher's credit. */
  readonly fee: MinorUnits;
}

/**
 * The postings of a payment. The user's account (prepaid funds, or the postpaid receivable) is
 * debited the charged amount; the publisher's payable is credited the price less the fee, and the
 * fee account the fee. When the two currencies differ the money crosses through the FX account:
 * user (home currency) → FX (home currency), then FX (price currency) → publisher and fees. Each
 * currency balances on its own; the FX account holds the difference, rounding included.
 */
export function paymentPostings(p: PaymentLegs): Posting[] {
  if (p.fee > p.price.amount)
    throw new LedgerInvariantError("FEE_WITHIN_PRICE", `payment ${p.id}: fee ${p.fee} exceeds the price ${p.price.amount}`);
  const userAccount =
    p.mode === "postpaid" ? Accounts.receivable(p.user) : p.fromCardFloat ? Accounts.float(p.user) : Accounts.funds(p.user);
  const publisherLegs: [string, CurrencyCode, number][] = [
    [Accounts.payable(p.publisher), p.price.currency, -(p.price.amount - p.fee)],
    [Accounts.fees, p.price.currency, -p.fee],
  ];
  if (p.price.currency === p.charged.currency) {
    if (p.price.amount !== p.charged.amount) {
      throw new LedgerInvariantError(
        "BALANCED",
        `payment ${p.id}: charged ${p.charged.amount} and price ${p.price.amount} in the same currency ${p.price.currency} differ`,
      );
    }
    return postings([userAccount, p.charged.currency, p.charged.amount], ...publisherLegs);
  }
  return postings(
    [userAccount, p.charged.currency, p.charged.amount],
    [Accounts.fx, p.charged.currency, -p.charged.amount],
    [Accounts.fx, p.price.currency, p.price.amount],
    ...publisherLegs,
  );
}

/** A refund: the payment's postings, each reversed, so that every account is back where it was. */
export function reversePostings(original: readonly Posting[]): Posting[] {
  return original.map((posting) => ({ ...posting, amount: -posting.amount }));
}

/** Money received for a prepaid balance (kind "funds") or a postpaid deposit. */
export function topupPostings(user: string, kind: "funds" | "deposit", amount: Price): Posting[] {
  return postings(
    [Accounts.bank, amount.currency, amount.amount],
    [kind === "funds" ? Accounts.funds(user) : Accounts.deposit(user), amount.currency, -amount.amount],
  );
}

/** Money loaded onto a prepaid user's card: it leaves the online funds for the card float. */
export function cardLoadPostings(user: string, amount: Price): Posting[] {
  return postings(
    [Accounts.funds(user), amount.currency, amount.amount],
    [Accounts.float(user), amount.currency, -amount.amount],
  );
}

/** A postpaid bill collected (direct debit or invoice): the receivable is settled into the bank account. */
export function collectionPostings(user: string, amount: Price): Posting[] {
  return postings([Accounts.bank, amount.currency, amount.amount], [Accounts.receivable(user), amount.currency, -amount.amount]);
}

/**
 * A publisher paid in its payout currency what it earned in others: each currency's payable is
 * settled through the exchange account (`server/fx`), which pays the converted amounts in the
 * payout currency from the bank account. Each currency balances on its own, as for a payment.
 */
export function convertedPayoutPostings(
  publisher: string,
  amount: Price,
  lines: readonly { readonly from: Price; readonly to: Price }[],
): Posting[] {
  let total = 0;
  let fxIn = 0;
  const legs: [string, CurrencyCode, number][] = [];
  for (const { from, to } of lines) {
    if (to.currency !== amount.currency)
      throw new LedgerInvariantError("BALANCED", `a conversion line into ${to.currency} in a ${amount.currency} payout`);
    total += to.amount;
    legs.push([Accounts.payable(publisher), from.currency, from.amount]);
    if (from.currency === to.currency) {
      if (from.amount !== to.amount) throw new LedgerInvariantError("BALANCED", `${from.currency} converted into itself changed`);
      continue;
    }
    legs.push([Accounts.fx, from.currency, -from.amount]);
    fxIn += to.amount;
  }
  if (total !== amount.amount)
    throw new LedgerInvariantError(
      "BALANCED",
      `conversion lines sum to ${total}, the payout is ${amount.amount} ${amount.currency}`,
    );
  return postings(...legs, [Accounts.fx, amount.currency, fxIn], [Accounts.bank, amount.currency, -amount.amount]);
}

/** A publisher paid out: the payable is settled from the bank account. */
export function payoutPostings(publisher: string, amount: Price): Posting[] {
  return postings(
    [Accounts.payable(publisher), amount.currency, amount.amount],
    [Accounts.bank, amount.currency, -amount.amount],
  );
}
