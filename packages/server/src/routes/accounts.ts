/**
 * The operator's API: enrol users (and replace their keys), top up prepaid balances, record postpaid deposits and SEPA
 * mandates, set postpaid limits, suspend, and list payments. Every route needs an API key with the scope it names (api-keys.ts).
 */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { isCurrencyCode, newId, type CurrencyCode, type MinorUnits, type PartyId } from "@peage/protocol";
import { authorizeOperator } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { checkBankName, isSepaCountry, validateBic, validateIban } from "../bank/index.js";
import { HttpProblem } from "../problems.js";
import {
  AccountSchema,
  EnrolmentSchema,
  LimitRequestSchema,
  MandateRequestSchema,
  PageQuerySchema,
  PaymentListSchema,
  problemResponses,
  PublisherIdSchema,
  TopupRequestSchema,
  TopupSchema,
  UserIdSchema,
  UserParamsSchema,
} from "../schemas.js";
import { TopupKinds, type ApiScope, type UserRecord } from "../store/store.js";
import { parseUserJwk, storedJwk } from "../user-keys.js";
import { accountView, decodeCursor, encodeCursor, paymentView } from "../views.js";

const security = [{ operatorKey: [] }];

export const accountRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { store, clock } = ctx;
  const scope = (needed: ApiScope) => async (request: Parameters<typeof authorizeOperator>[1]) => {
    await authorizeOperator(store, request, needed);
  };
  const account = async (user: UserRecord) =>
    accountView(user, user.mode === "postpaid" ? await store.monthlyUsage(user.id, clock.now()) : undefined);
  const existing = async (id: string): Promise<UserRecord> => {
    const user = await store.getUser(id as PartyId<"user">);
    if (!user) throw HttpProblem.of("ERR_UNKNOWN_USER", `no user ${id} is enrolled`);
    return user;
  };

  app.post(
    "/v1/admin/users",
    {
      onRequest: scope("users:write"),
      schema: {
        summary: "Enrol a user (scope users:write; funds:write too for a postpaid account's monthlyLimit)",
        tags: ["operator"],
        security,
        body: EnrolmentSchema,
        response: { 201: AccountSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      // A monthly limit is credit granted: it needs funds:write, as PUT /limit does.
      if (body.monthlyLimit !== undefined) await authorizeOperator(store, request, "funds:write");
      if (!isCurrencyCode(body.homeCurrency))
        throw HttpProblem.of("ERR_MALFORMED", `homeCurrency ${body.homeCurrency} is not an active ISO 4217 currency`);
      if (body.mode === "postpaid" && body.monthlyLimit === undefined)
        throw HttpProblem.of("ERR_MALFORMED", "a postpaid account needs monthlyLimit (minor units per calendar month)");
      if (body.mode === "prepaid" && body.monthlyLimit !== undefined)
        throw HttpProblem.of("ERR_MALFORMED", "a prepaid account has a balance, not a monthlyLimit: leave it out");
      if (body.mode === "prepaid" && body.depositRequired !== undefined)
        throw HttpProblem.of(
          "ERR_MALFORMED",
          "a deposit is for postpaid accounts (a prepaid account pays in advance): leave depositRequired out",
        );
      const key = await parseUserJwk(body.publicKey);
      if (!key.ok) throw HttpProblem.of("ERR_MALFORMED", key.message);
      const created = await store.createUser({
        id: body.user as PartyId<"user">,
        publicKeyJwk: storedJwk(key.value.jwk),
        alg: key.value.alg,
        kid: key.value.kid,
        mode: body.mode,
        homeCurrency: body.homeCurrency as CurrencyCode,
        monthlyLimit: body.monthlyLimit as MinorUnits | undefined,
        createdAt: clock.now().toISOString(),
        ...(body.depositRequired === undefined ? {} : { depositRequired: body.depositRequired as MinorUnits }),
      });
      if (created.kind === "exists") throw HttpProblem.of("ERR_CONFLICT", `${body.user} is already enrolled`);
      if (created.kind === "key-enrolled")
        throw HttpProblem.of(
          "ERR_CONFLICT",
          `this key (${key.value.kid}) is already enrolled for another user: each user has a key of their own`,
        );
      request.log.info({ user: created.user.id, mode: created.user.mode }, "user enrolled");
      return reply.code(201).send(await account(created.user));
    },
  );

  app.put(
    "/v1/admin/users/:user/key",
    {
      onRequest: scope("users:write"),
      schema: {
        summary: "Replace a user's enrolled key (scope users:write)",
        description: "For a lost or compromised wallet: from this moment only requests signed with the new key are accepted.",
        tags: ["operator"],
        security,
        params: UserParamsSchema,
        body: Type.Object({ publicKey: EnrolmentSchema.properties.publicKey }, { additionalProperties: false }),
        response: { 200: AccountSchema, ...problemResponses },
      },
    },
    async (request) => {
      const key = await parseUserJwk(request.body.publicKey);
      if (!key.ok) throw HttpProblem.of("ERR_MALFORMED", key.message);
      const user = request.params.user as PartyId<"user">;
      const replaced = await store.replaceUserKey(user, {
        publicKeyJwk: storedJwk(key.value.jwk),
        alg: key.value.alg,
        kid: key.value.kid,
      });
      if (replaced.kind === "unknown-user") throw HttpProblem.of("ERR_UNKNOWN_USER", `no user ${user} is enrolled`);
      if (replaced.kind === "key-enrolled")
        throw HttpProblem.of(
          "ERR_CONFLICT",
          `this key (${key.value.kid}) is enrolled for another user: each user has a key of their own`,
        );
      request.log.info({ user, kid: key.value.kid }, "user key replaced");
      return account(replaced.user);
    },
  );

  app.get(
    "/v1/admin/users/:user",
    {
      onRequest: scope("users:read"),
      schema: {
        summary: "Show an account (scope users:read)",
        tags: ["operator"],
        security,
        params: UserParamsSchema,
        response: { 200: AccountSchema, ...problemResponses },
      },
    },
    async (request) => account(await existing(request.params.user)),
  );

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
      const iban = validateIban(body.iban);
      if (!iban.ok) throw HttpProblem.of("ERR_MALFORMED", `iban: ${iban.reason}`);
      if (!isSepaCountry(iban.country))
        throw HttpProblem.of(
          "ERR_MALFORMED",
          `iban: ${iban.country} is not in the SEPA area, where direct debits can be collected`,
        );
      let bic: string | undefined;
      if (body.bic !== undefined) {
        const checked = validateBic(body.bic);
        if (!checked.ok) throw HttpProblem.of("ERR_MALFORMED", `bic: ${checked.reason}`);
        bic = checked.bic;
      }
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

  for (const [action, status] of [
    ["suspend", "suspended"],
    ["reactivate", "active"],
  ] as const) {
    app.post(
      `/v1/admin/users/:user/${action}`,
      {
        onRequest: scope("users:write"),
        schema: {
          summary:
            action === "suspend"
              ? "Suspend an account: its payments are refused (scope users:write)"
              : "Reactivate a suspended account (scope users:write)",
          tags: ["operator"],
          security,
          params: UserParamsSchema,
          response: { 200: AccountSchema, ...problemResponses },
        },
      },
      async (request) => {
        const user = await existing(request.params.user);
        request.log.info({ user: user.id, status }, "account status");
        return account((await store.setStatus(user.id, status)) ?? user);
      },
    );
  }

  app.get(
    "/v1/admin/payments",
    {
      onRequest: scope("payments:read"),
      schema: {
        summary: "List payments, oldest first (scope payments:read)",
        tags: ["operator"],
        security,
        querystring: Type.Object(
          { user: Type.Optional(UserIdSchema), publisher: Type.Optional(PublisherIdSchema), ...PageQuerySchema },
          { additionalProperties: false },
        ),
        response: { 200: PaymentListSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { user, publisher, cursor, limit } = request.query;
      const after = decodeCursor(cursor);
      const page = await store.listPayments({
        ...(user === undefined ? {} : { user: user as PartyId<"user"> }),
        ...(publisher === undefined ? {} : { publisher: publisher as PartyId<"publisher"> }),
        ...(after === undefined ? {} : { after }),
        limit: limit ?? 100,
      });
      return {
        payments: page.payments.map(paymentView),
        ...(page.next === undefined ? {} : { nextCursor: encodeCursor(page.next) }),
      };
    },
  );
};

export function isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00.000Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(text);
}
