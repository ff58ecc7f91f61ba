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
 */
import { Type, type FastifyPluginAsyncTypebox, type TSchema } from "@fastify/type-provider-typebox";
import { partyIdPattern, PriceSchema, PROBLEM_CONTENT_TYPE, ProblemSchema, type PartyId } from "@peage/protocol";
import { authorizeOperator } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { CardService, SyncRefused, type CardDesk } from "./desk.js";
import { HttpProblem } from "../problems.js";
import { CurrencySchema, MinorUnitsSchema, problemResponses, UserIdSchema } from "../schemas.js";
import type { ApiScope } from "../store/store.js";

const security = [{ operatorKey: [] }];
const CardIdSchema = Type.String({ pattern: partyIdPattern.replace("(publisher|server|user|card)", "card"), maxLength: 80 });
const CardParamsSchema = Type.Object({ card: CardIdSchema }, { additionalProperties: false });
const Token = Type.String({ maxLength: 4096 });

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

const IncidentSchema = Type.Object(
  { id: Type.Integer(), kind: Type.String(), detail: Type.Unknown(), createdAt: Type.String() },
  { additionalProperties: false },
);

const CardAccountSchema = Type.Object(
  {
    card: CardIdSchema,
    user: UserIdSchema,
    mode: Type.Union([Type.Literal("prepaid"), Type.Literal("postpaid")]),
    currency: CurrencySchema,
    status: Type.Union([Type.Literal("active"), Type.Literal("blocked")]),
    blockedReason: Type.Optional(Type.String()),
    ceiling: Type.Optional(PriceSchema),
    deposit: PriceSchema,
    loaded: Type.Optional(PriceSchema),
    syncedCounter: Type.Integer({ minimum: 0 }),
    cardSeq: Type.Integer({ minimum: 0 }),
    entries: Type.Integer({ minimum: 0 }),
    booked: PriceSchema,
    pendingReloads: Type.Array(
      Type.Object(
        { id: Type.String(), amount: PriceSchema, commandSeq: Type.Optional(Type.Integer()) },
        { additionalProperties: false },
      ),
    ),
    incidents: Type.Array(IncidentSchema),
    createdAt: Type.String(),
    lastSyncAt: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const UploadSchema = Type.Object(
  {
    challenge: Type.String({ pattern: "^[A-Za-z0-9_-]{11,86}$" }),
    entries: Type.Array(Token, { maxItems: 0xffff }),
    head: Token,
  },
  { additionalProperties: false },
);

const ProblemDetailSchema = Type.Object(
  {
    kind: Type.String(),
    message: Type.String(),
    counter: Type.Optional(Type.Integer()),
    missing: Type.Optional(Type.Tuple([Type.Integer(), Type.Integer()])),
  },
  { additionalProperties: false },
);

/** A refused upload: the problem document, with what was found and whether the card is now blocked. */
const SyncRefusedSchema = Type.Composite([
  ProblemSchema,
  Type.Object({ problems: Type.Array(ProblemDetailSchema), blocked: Type.Boolean() }),
]);

const SyncAnswerSchema = Type.Object(
  {
    card: CardIdSchema,
    recorded: Type.Integer({ minimum: 0 }),
    alreadyRecorded: Type.Integer({ minimum: 0 }),
    lastCounter: Type.Integer({ minimum: 0 }),
    commands: Type.Array(Token, { description: "signed SYNC and RELOAD commands, in the order the card must apply them" }),
    credited: Type.Array(Type.Object({ publisher: Type.String(), amount: PriceSchema }, { additionalProperties: false })),
    unbooked: Type.Array(
      Type.Object({ counter: Type.Integer(), paymentId: Type.String(), reason: Type.String() }, { additionalProperties: false }),
    ),
    account: CardAccountSchema,
  },
  { additionalProperties: false },
);

export const cardRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext; desk: CardDesk | undefined }> = async (
  app,
  { ctx, desk },
) => {
  const service = desk ? new CardService(desk, ctx) : undefined;
  const enabled = (): CardService => {
    if (!service)
      throw HttpProblem.of("ERR_NOT_FOUND", "this payment server issues no cards (its data directory holds no card issuer)");
    return service;
  };
  const scope = (needed: ApiScope) => async (request: Parameters<typeof authorizeOperator>[1]) => {
    await authorizeOperator(ctx.store, request, needed);
  };

  app.post(
    "/v1/cards",
    {
      onRequest: scope("users:write"),
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
      if (grantsCredit) await authorizeOperator(ctx.store, request, "funds:write");
      const cards = enabled();
      const result = await cards.register({ ...body, user: body.user as PartyId<"user"> });
      request.log.info({ card: result.account.card, user: result.account.user, kind: result.kind }, "card registered");
      return reply.code(result.kind === "created" ? 201 : 200).send(result.account);
    },
  );

  app.get(
    "/v1/cards/:card",
    {
      onRequest: scope("users:read"),
      schema: {
        summary: "Show a card's account (scope users:read)",
        tags: ["cards"],
        security,
        params: CardParamsSchema,
        response: { 200: CardAccountSchema, ...problemResponses },
      },
    },
    async (request) => enabled().view(request.params.card),
  );

  app.post(
    "/v1/cards/:card/challenges",
    {
      onRequest: scope("funds:write"),
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
    async (request, reply) => reply.code(201).send(await enabled().challenge(request.params.card)),
  );

  app.post(
    "/v1/cards/:card/sync",
    {
      onRequest: scope("funds:write"),
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
        const answer = await enabled().sync(request.params.card, request.body);
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

  app.post(
    "/v1/cards/:card/receipts",
    {
      onRequest: scope("funds:write"),
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
    async (request) => enabled().receipts(request.params.card, request.body.receipts),
  );

  app.post(
    "/v1/cards/:card/reloads",
    {
      onRequest: scope("funds:write"),
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
        response: {
          200: Type.Object(
            {
              reload: Type.Object({ id: Type.String(), amount: PriceSchema }, { additionalProperties: false }),
              account: CardAccountSchema,
            },
            { additionalProperties: false },
          ),
          201: Type.Object(
            {
              reload: Type.Object({ id: Type.String(), amount: PriceSchema }, { additionalProperties: false }),
              account: CardAccountSchema,
            },
            { additionalProperties: false },
          ),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const result = await enabled().reload(request.params.card, request.body);
      return reply.code(result.kind === "created" ? 201 : 200).send({ reload: result.reload, account: result.account });
    },
  );

  app.post(
    "/v1/cards/:card/unblock",
    {
      onRequest: scope("users:write"),
      schema: {
        summary: "Clear a blocked card after investigating its incidents (scope users:write)",
        tags: ["cards"],
        security,
        params: CardParamsSchema,
        body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false }),
        response: { 200: CardAccountSchema, ...problemResponses },
      },
    },
    async (request) => enabled().unblock(request.params.card, request.body.reason),
  );
};

/** The card desk's schemas, named for the OpenAPI document's shared components (openapi-document.ts). */
export const cardSchemas: Readonly<Record<string, TSchema>> = {
  CardRegistration: RegistrationSchema,
  CardAccount: CardAccountSchema,
  CardUpload: UploadSchema,
  CardSyncRefused: SyncRefusedSchema,
  CardSyncAnswer: SyncAnswerSchema,
};
