/**
 * The operator's routes for a postpaid account's terms: the SEPA direct debit mandate its bills
 * are collected on (PUT …/mandate) and its monthly limit (PUT …/limit).
 */
import type { MinorUnits } from "@peage/protocol";
import { checkBankName, isSepaCountry } from "../../bank/index.js";
import { HttpProblem } from "../../problems.js";
import { AccountSchema, LimitRequestSchema, MandateRequestSchema, problemResponses, UserParamsSchema } from "../../schemas.js";
import { checkedBic, checkedIban, security, type RouteApp } from "../operator.js";
import type { AccountKit } from "./kit.js";

/** The mandate and the monthly limit. */
export function postpaidRoutes(app: RouteApp, kit: AccountKit): void {
  const { store, clock, scope, account, existing } = kit;
  app.put(
    "/v1/admin/users/:user/mandate",
    {
      onRequest: scope("users:write"),
      schema: {
        summary: "Record a postpaid account's SEPA direct debit mandate (scope users:write)",
        description:
          "The bill of each period is then collected by SEPA Core direct debit (pain.008) on this account. EUR accounts only.",
        tags: ["operator"],
        security,
        params: UserParamsSchema,
        body: MandateRequestSchema,
        response: { 200: AccountSchema, ...problemResponses },
      },
    },
    async (request) => {
      const user = await existing(request.params.user);
      if (user.mode !== "postpaid")
        throw HttpProblem.of("ERR_CONFLICT", `${user.id} is a prepaid account: nothing is collected from it by direct debit`);
      if (user.homeCurrency !== "EUR")
        throw HttpProblem.of(
          "ERR_CONFLICT",
          `SEPA direct debits are in euros; ${user.id}'s home currency is ${user.homeCurrency}`,
        );
      const body = request.body;
      const badName = checkBankName(body.name, "name");
      if (badName !== undefined) throw HttpProblem.of("ERR_MALFORMED", badName);
      const iban = checkedIban(body.iban);
      if (!isSepaCountry(iban.country))
        throw HttpProblem.of(
          "ERR_MALFORMED",
          `iban: ${iban.country} is not in the SEPA area, where direct debits can be collected`,
        );
      const bic = checkedBic(body.bic);
      if (!isCalendarDate(body.signedOn) || body.signedOn > clock.now().toISOString().slice(0, 10)) {
        throw HttpProblem.of("ERR_MALFORMED", `signedOn: ${body.signedOn} is not a past or present calendar day`);
      }
      const updated = await store.setMandate(user.id, {
        id: body.mandateId,
        signedOn: body.signedOn,
        name: body.name,
        iban: iban.iban,
        bic,
      });
      request.log.info({ user: user.id, mandate: body.mandateId }, "mandate recorded");
      return account(updated ?? user);
    },
  );

  app.put(
    "/v1/admin/users/:user/limit",
    {
      onRequest: scope("funds:write"),
      schema: {
        summary: "Set a postpaid monthly limit (scope funds:write)",
        tags: ["operator"],
        security,
        params: UserParamsSchema,
        body: LimitRequestSchema,
        response: { 200: AccountSchema, ...problemResponses },
      },
    },
    async (request) => {
      const user = await existing(request.params.user);
      if (user.mode !== "postpaid")
        throw HttpProblem.of("ERR_CONFLICT", `${user.id} is a prepaid account: it has a balance, not a monthly limit`);
      return account((await store.setMonthlyLimit(user.id, request.body.monthlyLimit as MinorUnits)) ?? user);
    },
  );
}

export function isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00.000Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(text);
}
