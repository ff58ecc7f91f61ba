/**
 * The bank account options of `peage admin publisher`: an IBAN (and BIC), or a domestic account in
 * a country without IBAN given by that country's own identifiers, and the currency the publisher is
 * paid in. The flags are turned into the operator API's `domestic` object here; the server checks
 * each identifier by its country's rules (the ABA check digit, the IFSC's form…) and names the one
 * that is wrong.
 */
import { isCurrencyCode } from "@peage/protocol";
import type { Options, OptionSpec } from "../args.js";

/** Each domestic identifier's flag, the API member it fills, and the countries that have it. */
const DOMESTIC_FLAGS = [
  ["routing-number", "routingNumber", ["US"], "US: the 9-digit ABA routing number"],
  ["institution", "institution", ["CA"], "CA: the 3-digit institution number"],
  ["transit", "transit", ["CA"], "CA: the 5-digit branch transit number"],
  ["bsb", "bsb", ["AU"], "AU: the 6-digit BSB"],
  ["ifsc", "ifsc", ["IN"], "IN: the branch's 11-character IFSC"],
  ["bank-code", "bankCode", ["JP"], "JP: the 4-digit Zengin bank code"],
  ["branch-code", "branchCode", ["JP"], "JP: the 3-digit branch code"],
  ["account-number", "accountNumber", ["US", "CA", "AU", "IN", "JP"], "a domestic account's number"],
  ["account-type", "accountType", ["US", "JP"], "US: checking or savings; JP: ordinary or current"],
] as const;

export const accountOptions: Record<string, OptionSpec> = {
  iban: { type: "string", value: "IBAN", description: "the account payouts go to" },
  bic: { type: "string", value: "BIC", description: "the bank's BIC" },
  ...Object.fromEntries(
    DOMESTIC_FLAGS.map(([flag, , , description]) => [flag, { type: "string", value: "VALUE", description } as OptionSpec]),
  ),
  "account-country": {
    type: "string",
    value: "CC",
    description: "the domestic account's country (US, CA, AU, IN or JP; default: --country)",
  },
  "payout-currency": {
    type: "string",
    value: "CCY",
    description: "pay the publisher in this ISO 4217 currency, what it earns in others converted at settlement",
  },
};

/** The flags that change a publisher's account, for "--name is required" checks. */
export const accountFlags: readonly string[] = Object.keys(accountOptions);

/** The account members of the PUT body: iban/bic, or domestic; and payoutCurrency. */
export function accountBody(o: Options, country: string): Record<string, unknown> {
  const iban = o.string("iban")?.replaceAll(" ", "");
  const bic = o.string("bic");
  const given = DOMESTIC_FLAGS.filter(([flag]) => o.string(flag) !== undefined);
  const accountCountry = o.string("account-country");
  if (accountCountry !== undefined && given.length === 0)
    throw o.usage(
      "--account-country is the country of a domestic account: give its identifiers too (e.g. --routing-number, --account-number)",
    );
  let domestic: Record<string, string> | undefined;
  if (given.length > 0) {
    if (iban !== undefined)
      throw o.usage("--iban and a domestic account's identifiers: give one account, the IBAN where the country has one");
    const where = accountCountry ?? country;
    const foreign = given.find(([, , countries]) => !(countries as readonly string[]).includes(where));
    if (foreign !== undefined)
      throw o.usage(
        `--${foreign[0]} is not an identifier of a ${where} account (it is for ${foreign[2].join(", ")}); set --account-country if the account is in another country than --country`,
      );
    domestic = { country: where, ...Object.fromEntries(given.map(([flag, member]) => [member, o.string(flag)!])) };
  }
  const payoutCurrency = o.string("payout-currency");
  if (payoutCurrency !== undefined && !isCurrencyCode(payoutCurrency))
    throw o.usage(`--payout-currency ${payoutCurrency}: not an active ISO 4217 currency code (e.g. EUR, USD, JPY)`);
  return {
    ...(iban !== undefined && { iban }),
    ...(bic !== undefined && { bic }),
    ...(domestic !== undefined && { domestic }),
    ...(payoutCurrency !== undefined && { payoutCurrency }),
  };
}

/** A publisher's account as one line of text. */
export function describeAccount(p: {
  iban?: string;
  bic?: string;
  domestic?: Record<string, string>;
  payoutCurrency?: string;
}): string {
  const paid = p.payoutCurrency === undefined ? "" : `, paid in ${p.payoutCurrency}`;
  if (p.iban) return `IBAN ${p.iban}${p.bic ? ` BIC ${p.bic}` : ""}${paid}`;
  if (p.domestic) {
    const { country, ...ids } = p.domestic;
    const text = Object.entries(ids)
      .map(([k, v]) => `${k} ${v}`)
      .join(" ");
    return `${country} account ${text}${p.bic ? ` BIC ${p.bic}` : ""}${paid}`;
  }
  return "no bank account: payouts are carried over";
}
