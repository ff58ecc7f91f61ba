/**
 * The operator's routes for users: enrol one (POST /v1/admin/users), replace its key, show its
 * account, suspend and reactivate it.
 */
import { Type } from "@fastify/type-provider-typebox";
import { isCurrencyCode, type CurrencyCode, type MinorUnits, type PartyId } from "@peage/protocol";
import { authorizeOperator } from "../../api-keys.js";
import { HttpProblem } from "../../problems.js";
import { AccountSchema, EnrolmentSchema, problemResponses, UserParamsSchema } from "../../schemas.js";
import { parseUserJwk, storedJwk } from "../../user-keys.js";
import { security, type RouteApp } from "../operator.js";
import type { AccountKit } from "./kit.js";

/** Enrolment, key replacement and the account of a user. */
export function userRoutes(app: RouteApp, kit: AccountKit): void {
  enrolRoute(app, kit);
  keyRoute(app, kit);
  accountRoute(app, kit);
}

/** POST /v1/admin/users: a user enrolled with its key, prepaid or postpaid. */
function enrolRoute(app: RouteApp, kit: AccountKit): void {
  const { store, clock, scope, account } = kit;
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
}

/** PUT /v1/admin/users/:user/key: a lost or compromised wallet's key replaced. */
function keyRoute(app: RouteApp, kit: AccountKit): void {
  const { store, scope, account } = kit;
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
}

/** GET /v1/admin/users/:user: the account. */
function accountRoute(app: RouteApp, kit: AccountKit): void {
  const { scope, account, existing } = kit;
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
}

/** Suspending an account refuses its payments; reactivating it takes them again. */
export function statusRoutes(app: RouteApp, kit: AccountKit): void {
  const { store, scope, account, existing } = kit;
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
}
