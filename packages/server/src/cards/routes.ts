/**
 * The card desk's HTTP API (docs/card.md, "The issuing server's card desk"). Every route needs an
 * operator API key (api-keys.ts) with the scope it names; a sync is further authenticated by the
 * card itself: its log head, signed with the key this server certified, answers a challenge the
 * desk gave out once. A server without a card issuer in its data directory answers these 404.
 *
 *   POST /v1/cards                          register an issued card          users:write (+ funds:write with money or credit)
 *   GET  /v1/cards/:card                    the card's account               users:read
 *   POST /v1/cards/:card/challenges         a challenge for LOG HEAD         funds:write
 *   POST /v1/cards/:card/sync               upload the log, get SYNC/RELOAD  funds:write
 *   POST /v1/cards/:card/receipts           the card's receipts              funds:write
 *   POST /v1/cards/:card/reloads            a top-up for a prepaid card      funds:write
 *   POST /v1/cards/:card/unblock            clear a blocked card             users:write
 *
 * and the operator's (operator-routes.ts): the list, a card's log as synced, blocking, the ceiling.
 */
import { Type, type FastifyPluginAsyncTypebox, type TSchema } from "@fastify/type-provider-typebox";
import { PROBLEM_CONTENT_TYPE, type PartyId } from "@peage/protocol";
import { authorizeOperator } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { CardService, SyncRefused, type CardDesk } from "./desk.js";
import { cardOperatorRoutes } from "./operator-routes.js";
import { HttpProblem } from "../problems.js";
import { CurrencySchema, MinorUnitsSchema, problemResponses, UserIdSchema } from "../schemas.js";
import type { ApiScope } from "../store/store.js";
import {
  CardAccountSchema,
  CardParamsSchema,
  ReloadAnswerSchema,
  SyncAnswerSchema,
  SyncRefusedSchema,
  Token,
  UploadSchema,
} from "./route-schemas.js";

const security = [{ operatorKey: [] }];

const RegistrationSchema = Type.Object(
  {
    chain: Type.Array(Type.String({ maxLength: 8192 }), {
      minItems: 2,
      maxItems: 6,
      description: "the card's x5c (GET DATA DF02): card first",
    }),
    user: UserIdSchema,
    mode: Type.Union([Type.Literal("prepaid"), Type.Literal("postpaid")]),
    currency: CurrencySchema,
    balance: Type.Optional({ ...MinorUnitsSchema, description: "prepaid: the balance loaded at issue, received from the user" }),
    ceiling: Type.Optional({ ...MinorUnitsSchema, description: "postpaid: the ceiling personalised on the card" }),
    deposit: Type.Optional({ ...MinorUnitsSchema, description: "postpaid: the deposit received with the card (claim 10)" }),
    monthlyLimit: Type.Optional({
      ...MinorUnitsSchema,
      description: "postpaid, for a user enrolled with the card: the account's monthly limit",
    }),
  },
  { additionalProperties: false },
);

export type CardApp = Parameters<FastifyPluginAsyncTypebox>[0];

/** What every card route needs: the store's operator keys, and the desk's service (or a 404 when the server issues no cards). */
export interface CardRouteDeps {
  readonly ctx: RouteContext;
  readonly enabled: () => CardService;
  readonly scope: (needed: ApiScope) => (request: Parameters<typeof authorizeOperator>[1]) => Promise<void>;
}

export const cardRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext; desk: CardDesk | undefined }> = async (
  app,
  { ctx, desk },
) => {
  const service = desk ? new CardService(desk, { ...ctx, log: (fields, message) => app.log.warn(fields, message) }) : undefined;
  const deps: CardRouteDeps = {
    ctx,
    enabled: () => {
      if (!service)
        throw HttpProblem.of("ERR_NOT_FOUND", "this payment server issues no cards (its data directory holds no card issuer)");
      return service;
    },
    scope: (needed) => async (request) => {
      await authorizeOperator(ctx.store, request, needed);
    },
  };
  accountRoutes(app, deps);
  uploadRoutes(app, deps);
  commandRoutes(app, deps);
  cardOperatorRoutes(app, deps);
};

/** Registering a card, reading its account, and the operator clearing a blocked one. */
function accountRoutes(app: CardApp, deps: CardRouteDeps): void {
  app.post(
    "/v1/cards",
    {
      onRequest: deps.scope("users:write"),
      schema: {
        summary:
          "Register a card this server's card issuer certified (scope users:write; funds:write too with a balance, deposit, ceiling or monthly limit)",
        description:
          "The card's chain must validate for the card-acknowledgment role through this server's card-issuer CA. The prepaid balance loaded at issue is " +
          "credited to the user's funds, the postpaid deposit recorded as the account's deposit; a user without an account gets one, enrolled with the card's key. " +
          "The same registration again answers 200 with the account.",
        tags: ["cards"],
        security,
        body: RegistrationSchema,
        response: { 200: CardAccountSchema, 201: CardAccountSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      // Money, and the credit a ceiling or a monthly limit grants, are funds:write's, as PUT /limit is.
      const grantsCredit =
        (body.balance ?? 0) > 0 || (body.deposit ?? 0) > 0 || body.ceiling !== undefined || body.monthlyLimit !== undefined;
      if (grantsCredit) await authorizeOperator(deps.ctx.store, request, "funds:write");
      const cards = deps.enabled();
      const result = await cards.register({ ...body, user: body.user as PartyId<"user"> });
      request.log.info({ card: result.account.card, user: result.account.user, kind: result.kind }, "card registered");
      return reply.code(result.kind === "created" ? 201 : 200).send(result.account);
    },
  );

  app.get(
    "/v1/cards/:card",
    {
      onRequest: deps.scope("users:read"),
      schema: {
        summary: "Show a card's account (scope users:read)",
        tags: ["cards"],
        security,
        params: CardParamsSchema,
        response: { 200: CardAccountSchema, ...problemResponses },
      },
    },
    async (request) => deps.enabled().view(request.params.card),
  );

  app.post(
    "/v1/cards/:card/unblock",
    {
      onRequest: deps.scope("users:write"),
      schema: {
        summary: "Clear a blocked card after investigating its incidents (scope users:write); an active card is a conflict (409)",
        tags: ["cards"],
        security,
        params: CardParamsSchema,
        body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false }),
        response: { 200: CardAccountSchema, ...problemResponses },
      },
    },
    async (request) => deps.enabled().unblock(request.params.card, request.body.reason),
  );
}

/** A card's log coming back: the challenge, then the upload, answered with the card's commands. */
function uploadRoutes(app: CardApp, deps: CardRouteDeps): void {
  app.post(
    "/v1/cards/:card/challenges",
    {
      onRequest: deps.scope("funds:write"),
      schema: {
        summary: "A challenge for the card's LOG HEAD, usable once (scope funds:write)",
        tags: ["cards"],
        security,
        params: CardParamsSchema,
        response: {
          201: Type.Object({ challenge: Type.String(), expiresAt: Type.String() }, { additionalProperties: false }),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => reply.code(201).send(await deps.enabled().challenge(request.params.card)),
  );

  app.post(
    "/v1/cards/:card/sync",
    {
      onRequest: deps.scope("funds:write"),
      schema: {
        summary: "Upload the card's usage log; answers the signed SYNC and RELOAD commands (scope funds:write)",
        description:
          "The body is READ LOG's entries and LOG HEAD's answer to a challenge from /challenges. Each entry must verify under the card's certified key and the " +
          "counters continue from the last one recorded; the head must answer the challenge and name the last counter uploaded. Every new entry is posted once " +
          "as a payment (an entry uploaded again is not posted again). An upload that does not verify is answered 422 with the problems found, nothing is " +
          "recorded and the card is blocked; a replayed one (challenge already used) 409.",
        tags: ["cards"],
        security,
        params: CardParamsSchema,
        body: UploadSchema,
        response: { 200: SyncAnswerSchema, 409: SyncRefusedSchema, 422: SyncRefusedSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      try {
        const answer = await deps.enabled().sync(request.params.card, request.body);
        request.peageOutcome = "synced";
        request.log.info(
          { card: answer.card, recorded: answer.recorded, lastCounter: answer.lastCounter, unbooked: answer.unbooked.length },
          "card log synced",
        );
        return answer;
      } catch (error) {
        if (!(error instanceof SyncRefused)) throw error;
        request.peageOutcome = error.problem.code;
        request.log.warn(
          { card: request.params.card, problems: error.problems.map((p) => p.kind), blocked: error.blocked },
          "card log refused",
        );
        return reply
          .code(error.problem.status)
          .type(PROBLEM_CONTENT_TYPE)
          .send({ ...error.problem, problems: [...error.problems], blocked: error.blocked });
      }
    },
  );
}

/** The commands' side: top-ups of a prepaid card (a RELOAD at its next sync), and the card's receipts for commands it applied. */
function commandRoutes(app: CardApp, deps: CardRouteDeps): void {
  app.post(
    "/v1/cards/:card/receipts",
    {
      onRequest: deps.scope("funds:write"),
      schema: {
        summary: "The card's signed receipts for the commands it applied (scope funds:write)",
        tags: ["cards"],
        security,
        params: CardParamsSchema,
        body: Type.Object({ receipts: Type.Array(Token, { minItems: 1, maxItems: 64 }) }, { additionalProperties: false }),
        response: {
          200: Type.Object(
            {
              applied: Type.Array(
                Type.Object({ seq: Type.Integer(), kind: Type.String(), id: Type.String() }, { additionalProperties: false }),
              ),
              account: CardAccountSchema,
            },
            { additionalProperties: false },
          ),
          ...problemResponses,
        },
      },
    },
    async (request) => deps.enabled().receipts(request.params.card, request.body.receipts),
  );

  app.post(
    "/v1/cards/:card/reloads",
    {
      onRequest: deps.scope("funds:write"),
      schema: {
        summary: "Top up a prepaid card: credited now, loaded onto the card at its next sync (scope funds:write)",
        description: "Idempotent by idempotencyKey: the same key again credits nothing and answers 200.",
        tags: ["cards"],
        security,
        params: CardParamsSchema,
        body: Type.Object(
          {
            amount: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
            idempotencyKey: Type.String({ minLength: 1, maxLength: 200 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: ReloadAnswerSchema, 201: ReloadAnswerSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const result = await deps.enabled().reload(request.params.card, request.body);
      return reply.code(result.kind === "created" ? 201 : 200).send({ reload: result.reload, account: result.account });
    },
  );
}

/** The card desk's schemas, named for the OpenAPI document's shared components (openapi-document.ts). */
export const cardSchemas: Readonly<Record<string, TSchema>> = {
  CardRegistration: RegistrationSchema,
  CardAccount: CardAccountSchema,
  CardUpload: UploadSchema,
  CardSyncRefused: SyncRefusedSchema,
  CardSyncAnswer: SyncAnswerSchema,
};
