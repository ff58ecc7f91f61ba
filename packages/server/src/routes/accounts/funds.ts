/**
 * The operator's routes for money received for an account: a prepaid balance credited
 * (POST …/topups) or a postpaid account's deposit recorded (POST …/deposits), each idempotent by
 * its idempotencyKey.
 */
import { newId, type MinorUnits } from "@peage/protocol";
import { HttpProblem } from "../../problems.js";
import { problemResponses, TopupRequestSchema, TopupSchema, UserParamsSchema } from "../../schemas.js";
import { TopupKinds } from "../../store/store.js";
import { security, type RouteApp } from "../operator.js";
import type { AccountKit } from "./kit.js";

/** Top-ups and deposits. */
export function fundsRoutes(app: RouteApp, kit: AccountKit): void {
  const { store, clock, scope, existing } = kit;
  for (const kind of TopupKinds) {
    const path = kind === "funds" ? "topups" : "deposits";
    app.post(
      `/v1/admin/users/:user/${path}`,
      {
        onRequest: scope("funds:write"),
        schema: {
          summary:
            kind === "funds"
              ? "Credit a prepaid balance (scope funds:write)"
              : "Record a postpaid account's deposit (scope funds:write)",
          description:
            (kind === "funds"
              ? ""
              : "Money received as the deposit an account was enrolled with (depositRequired): its payments are refused until it is paid in full. ") +
            "Idempotent by idempotencyKey: the same key again credits nothing and answers 200 with the first one.",
          tags: ["operator"],
          security,
          params: UserParamsSchema,
          body: TopupRequestSchema,
          response: { 200: TopupSchema, 201: TopupSchema, ...problemResponses },
        },
      },
      async (request, reply) => {
        const user = await existing(request.params.user);
        const currency = request.body.currency ?? user.homeCurrency;
        if (currency !== user.homeCurrency)
          throw HttpProblem.of(
            "ERR_CONFLICT",
            `${path} are in the account's home currency ${user.homeCurrency}, not ${currency}`,
          );
        const outcome = await store.topUp({
          id: newId(kind === "funds" ? "top" : "dep"),
          user: user.id,
          kind,
          amount: request.body.amount as MinorUnits,
          currency: user.homeCurrency,
          idempotencyKey: request.body.idempotencyKey,
          createdAt: clock.now().toISOString(),
        });
        switch (outcome.kind) {
          case "credited":
          case "repeated": {
            const { topup, balance } = outcome;
            request.log.info(
              { user: user.id, topup: topup.id, kind, repeated: outcome.kind === "repeated" },
              kind === "funds" ? "top-up" : "deposit",
            );
            return reply.code(outcome.kind === "credited" ? 201 : 200).send({
              id: topup.id,
              user: topup.user,
              amount: { amount: topup.amount, currency: topup.currency },
              idempotencyKey: topup.idempotencyKey,
              createdAt: topup.createdAt,
              balance: { amount: balance, currency: user.homeCurrency },
            });
          }
          case "key-conflict":
            throw HttpProblem.of(
              "ERR_CONFLICT",
              `idempotency key ${request.body.idempotencyKey} was already used for a different top-up or deposit (${outcome.topup.id}): use a new key`,
            );
          case "unknown-user":
            throw HttpProblem.of("ERR_UNKNOWN_USER", `no user ${user.id} is enrolled`);
          case "not-prepaid":
            throw HttpProblem.of("ERR_CONFLICT", `${user.id} is a postpaid account: it has a monthly limit, not a balance`);
          case "not-postpaid":
            throw HttpProblem.of("ERR_CONFLICT", `${user.id} is a prepaid account: deposits are for postpaid accounts`);
          case "balance-overflow":
            throw HttpProblem.of("ERR_BAD_REQUEST", "the balance would exceed the largest amount the server can hold");
        }
      },
    );
  }
}
