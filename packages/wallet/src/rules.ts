/**
 * The user's payment rules, and the decision they give for one offer: pay without asking, ask,
 * or refuse without asking. Every amount is integer minor units (protocol money.ts).
 *
 * Until the user chooses auto-accept rules, every payment is asked. The preset offered follows the
 * low-value exemption of PSD2's strong-customer-authentication rules
 * (Commission Delegated Regulation (EU) 2018/389, RTS art. 16): a payment goes through without an
 * explicit confirmation only if it is at most 30 EUR, and an explicit confirmation is asked again
 * once the payments since the last one would add up to more than 100 EUR, or after five
 * consecutive payments without one. The wallet counts the payment being decided into the
 * cumulative amount, so no more than 100 EUR ever leaves without the user's say.
 */
import {
  convert,
  formatPrice,
  isCurrencyCode,
  isMinorUnits,
  isPlainObject,
  price,
  type CurrencyCode,
  type Price,
  type RateTable,
} from "@peage/protocol";

/** Limits on money: each optional; a missing one does not limit. */
export interface MoneyLimits {
  readonly perPayment?: Price;
  readonly perPublisherPerDay?: Price;
  readonly perPublisherPerMonth?: Price;
}

export interface AutoAcceptRules extends MoneyLimits {
  /** Ask once the payments since the last explicit confirmation, this one included, would exceed this. */
  readonly sinceConfirmation?: Price;
  /** Ask after this many consecutive payments made without asking. */
  readonly consecutive?: number;
}

export interface Rules {
  /**
   * Within these, pay without asking; beyond any of them, ask. Null until the user chooses
   * auto-accept rules: then every payment is shown.
   */
  readonly autoAccept: AutoAcceptRules | null;
  /** Beyond any of these, refuse without asking (ERR_RULE_REFUSED). */
  readonly refuse: MoneyLimits;
}

/** What a wallet starts with: every payment is shown, nothing is refused without asking. */
export const ASK_EVERY_TIME_RULES: Rules = { autoAccept: null, refuse: {} };

/**
 * RTS art. 16 (a)/(b): 30 EUR per payment, 100 EUR or 5 payments between confirmations. Offered
 * to the user as a preset by `peage wallet init`; never applied unless chosen.
 */
export const PSD2_LOW_VALUE_RULES: Rules = {
  autoAccept: { perPayment: price(3000, "EUR"), sinceConfirmation: price(10000, "EUR"), consecutive: 5 },
  refuse: {},
};

/** What the history says was already spent, in the home currency's minor units. */
export interface SpendingTotals {
  readonly publisherToday: number;
  readonly publisherThisMonth: number;
  /** Paid without asking since the last explicit confirmation. */
  readonly sinceConfirmation: number;
  /** Payments made without asking since the last explicit confirmation. */
  readonly consecutiveAuto: number;
}

export type Decision =
  | { readonly kind: "auto" }
  | { readonly kind: "ask"; readonly reason: string }
  | { readonly kind: "refuse"; readonly reason: string };

export interface DecisionInput {
  /** The offer's price in the home currency; undefined when no exchange rate was available. */
  readonly amount: Price | undefined;
  /** The offer's price as signed. */
  readonly offered: Price;
  readonly home: CurrencyCode;
  readonly totals: SpendingTotals;
  readonly rules: Rules;
  /** Rates to express limits written in another currency (e.g. the EUR defaults) in the home currency. */
  readonly rates?: RateTable;
}

/** Applies the rules to one offer: refuse limits first, then the auto-accept limits. */
export function decide(input: DecisionInput): Decision {
  const { amount, totals, rules } = input;
  const limit = (p: Price | undefined): number | "unknown" | undefined => {
    if (p === undefined) return undefined;
    const inHome = toHome(p, input.home, input.rates);
    return inHome === undefined ? "unknown" : inHome.amount;
  };
  const show = (p: Price) => formatPrice(p);

  const checks: ReadonlyArray<[keyof MoneyLimits, number, string]> = [
    ["perPayment", 0, "per payment"],
    ["perPublisherPerDay", totals.publisherToday, "per publisher and day"],
    ["perPublisherPerMonth", totals.publisherThisMonth, "per publisher and month"],
  ];
  for (const [name, spent, what] of checks) {
    const cap = limit(rules.refuse[name]);
    if (cap === undefined) continue;
    if (amount === undefined || cap === "unknown") {
      return {
        kind: "refuse",
        reason: `your limit of ${show(rules.refuse[name]!)} ${what} cannot be checked without an exchange rate`,
      };
    }
    if (spent + amount.amount > cap)
      return { kind: "refuse", reason: `above your limit of ${show(rules.refuse[name]!)} ${what}` };
  }

  if (amount === undefined)
    return { kind: "ask", reason: `no exchange rate from ${input.offered.currency} to ${input.home} to compare with your rules` };
  const auto = rules.autoAccept;
  if (auto === null) return { kind: "ask", reason: "every payment is shown to you: you have chosen no auto-accept rule" };
  for (const [name, spent, what] of checks) {
    const cap = limit(auto[name]);
    if (cap === undefined) continue;
    if (cap === "unknown")
      return { kind: "ask", reason: `your auto-accept limit ${what} cannot be compared without an exchange rate` };
    if (spent + amount.amount > cap)
      return { kind: "ask", reason: `above ${show(auto[name]!)} ${what}, the most you let pass without asking` };
  }
  const cumulative = limit(auto.sinceConfirmation);
  if (cumulative === "unknown")
    return { kind: "ask", reason: "your cumulative auto-accept limit cannot be compared without an exchange rate" };
  if (cumulative !== undefined && totals.sinceConfirmation + amount.amount > cumulative) {
    return { kind: "ask", reason: `payments since your last confirmation would exceed ${show(auto.sinceConfirmation!)}` };
  }
  if (auto.consecutive !== undefined && totals.consecutiveAuto >= auto.consecutive) {
    return { kind: "ask", reason: `${totals.consecutiveAuto} payments were made without asking since your last confirmation` };
  }
  return { kind: "auto" };
}

/** A price in the home currency, exactly (protocol fx.ts), or undefined without a rate. */
export function toHome(p: Price, home: CurrencyCode, rates: RateTable | undefined): Price | undefined {
  if (p.currency === home) return p;
  if (!rates) return undefined;
  try {
    return convert(p, home, rates)?.price;
  } catch {
    return undefined;
  }
}

/** Reads rules from the wallet config; a missing section means none chosen (every payment asked, none refused). */
export function parseRules(value: unknown): Rules {
  if (value === undefined) return ASK_EVERY_TIME_RULES;
  if (!isPlainObject(value)) throw new TypeError("rules: must be an object with autoAccept and refuse");
  const auto = value["autoAccept"] ?? null;
  const refuse = value["refuse"] ?? {};
  if (auto === null && isPlainObject(refuse)) {
    for (const key of Object.keys(value))
      if (key !== "autoAccept" && key !== "refuse") throw new TypeError(`rules: unknown field ${key}`);
    return { autoAccept: null, refuse: parseLimits(refuse, "refuse", []) };
  }
  if (!isPlainObject(auto) || !isPlainObject(refuse)) throw new TypeError("rules: autoAccept and refuse must be objects");
  for (const key of Object.keys(value))
    if (key !== "autoAccept" && key !== "refuse") throw new TypeError(`rules: unknown field ${key}`);
  const consecutive = auto["consecutive"];
  if (consecutive !== undefined && !(Number.isSafeInteger(consecutive) && (consecutive as number) >= 0)) {
    throw new TypeError("rules: autoAccept.consecutive must be a non-negative integer");
  }
  const autoAccept: AutoAcceptRules = {
    ...parseLimits(auto, "autoAccept", ["sinceConfirmation", "consecutive"]),
    ...optional("sinceConfirmation", parsePrice(auto["sinceConfirmation"], "autoAccept.sinceConfirmation")),
    ...optional("consecutive", consecutive as number | undefined),
  };
  return { autoAccept, refuse: parseLimits(refuse, "refuse", []) };
}

function parseLimits(value: Record<string, unknown>, where: string, extra: readonly string[]): MoneyLimits {
  const known = ["perPayment", "perPublisherPerDay", "perPublisherPerMonth", ...extra];
  for (const key of Object.keys(value)) if (!known.includes(key)) throw new TypeError(`rules: unknown field ${where}.${key}`);
  return {
    ...optional("perPayment", parsePrice(value["perPayment"], `${where}.perPayment`)),
    ...optional("perPublisherPerDay", parsePrice(value["perPublisherPerDay"], `${where}.perPublisherPerDay`)),
    ...optional("perPublisherPerMonth", parsePrice(value["perPublisherPerMonth"], `${where}.perPublisherPerMonth`)),
  };
}

function parsePrice(value: unknown, where: string): Price | undefined {
  if (value === undefined) return undefined;
  if (
    !isPlainObject(value) ||
    !isMinorUnits(value["amount"]) ||
    !isCurrencyCode(value["currency"]) ||
    Object.keys(value).length !== 2
  ) {
    throw new TypeError(`rules: ${where} must be {"amount": <integer minor units>, "currency": "<ISO 4217>"}`);
  }
  return { amount: value["amount"], currency: value["currency"] };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
