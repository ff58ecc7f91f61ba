/**
 * What every route of the operator's API shares (accounts/, ledger.ts): the OpenAPI security of an
 * operator API key, the onRequest hook that checks the key's scope, and the bank details an
 * operator sends (an IBAN, a BIC, a domestic account, a currency) read into their normal form or
 * refused as ERR_MALFORMED.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { authorizeOperator } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { isCurrencyCode, type CurrencyCode } from "@peage/protocol";
import { parseDomesticAccount, validateBic, validateIban, type DomesticAccount } from "../bank/index.js";
import { HttpProblem } from "../problems.js";
import type { ApiScope, Store } from "../store/store.js";

/** The Fastify instance a route plugin is given: the operator's route modules add their routes to it. */
export type RouteApp = Parameters<FastifyPluginAsyncTypebox<{ ctx: RouteContext }>>[0];

/** The OpenAPI security of every operator route: an operator API key. */
export const security = [{ operatorKey: [] }];

/** An onRequest hook refusing a key without the scope `needed`. */
export function operatorScope(store: Store) {
  return (needed: ApiScope) => async (request: Parameters<typeof authorizeOperator>[1]) => {
    await authorizeOperator(store, request, needed);
  };
}

/** An IBAN as sent, checked (ISO 13616) and normalised. */
export function checkedIban(text: string): { iban: string; country: string } {
  const checked = validateIban(text);
  if (!checked.ok) throw HttpProblem.of("ERR_MALFORMED", `iban: ${checked.reason}`);
  return { iban: checked.iban, country: checked.country };
}

/** A BIC as sent, if any, checked (ISO 9362) and normalised. */
export function checkedBic(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const checked = validateBic(text);
  if (!checked.ok) throw HttpProblem.of("ERR_MALFORMED", `bic: ${checked.reason}`);
  return checked.bic;
}

/** A domestic account as sent, checked by its country's rules; every wrong member is named. */
export function checkedDomestic(value: unknown): DomesticAccount | undefined {
  if (value === undefined) return undefined;
  const parsed = parseDomesticAccount(value);
  if (!parsed.ok)
    throw HttpProblem.of("ERR_MALFORMED", parsed.problems.map((p) => `domestic.${p.field}: ${p.reason}`).join("; "));
  return parsed.account;
}

/** A payout currency as sent: an active ISO 4217 code. */
export function checkedCurrency(value: string | undefined, field: string): CurrencyCode | undefined {
  if (value === undefined) return undefined;
  if (!isCurrencyCode(value)) throw HttpProblem.of("ERR_MALFORMED", `${field}: ${value} is not an active ISO 4217 currency code`);
  return value;
}
