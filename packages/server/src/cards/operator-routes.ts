/**
 * The card desk's operator routes (operator.ts), beside the desk's own (routes.ts):
 *
 *   GET  /v1/cards                   the cards, by id, a page at a time     users:read
 *   GET  /v1/cards/:card/entries     the card's usage log as synced          users:read
 *   POST /v1/cards/:card/block       block a card, with the reason           users:write
 *   PUT  /v1/cards/:card/ceiling     a postpaid card's ceiling               funds:write
 */
import { Type } from "@fastify/type-provider-typebox";
import { PriceSchema } from "@peage/protocol";
import { problemResponses, UserIdSchema } from "../schemas.js";
import type { CardApp, CardRouteDeps } from "./routes.js";
import { CardAccountSchema, CardIdSchema, CardParamsSchema } from "./route-schemas.js";

const security = [{ operatorKey: [] }];
const tags = ["cards"];

const CardSummarySchema = Type.Object(
  {
    card: CardIdSchema,
    user: UserIdSchema,
    mode: Type.Union([Type.Literal("prepaid"), Type.Literal("postpaid")]),
    status: Type.Union([Type.Literal("active"), Type.Literal("blocked")]),
    blockedReason: Type.Optional(Type.String()),
    balance: Type.Optional({ ...PriceSchema, description: "prepaid: loaded (at issue and by reloads) less the payments synced" }),
    ceiling: Type.Optional(PriceSchema),
    entries: Type.Integer({ minimum: 0, description: "log entries synced" }),
    syncedCounter: Type.Integer({ minimum: 0 }),
    lastSyncAt: Type.Optional(Type.String()),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);

const SyncedEntrySchema = Type.Object(
  {
    counter: Type.Integer({ minimum: 1 }),
    paymentId: Type.String(),
    publisher: Type.String(),
    price: PriceSchema,
    booking: Type.String({ description: "what the ledger answered: recorded, duplicate, or why it did not book it" }),
    recordedAt: Type.String(),
  },
  { additionalProperties: false },
);

const Reason = Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false });

/** Listing the cards and reading one card's log. */
function readRoutes(app: CardApp, deps: CardRouteDeps): void {
  app.get(
    "/v1/cards",
    {
      onRequest: deps.scope("users:read"),
      schema: {
        summary: "List the cards this server issued, by card id, a page at a time (scope users:read)",
        tags,
        security,
        querystring: Type.Object(
          {
            status: Type.Optional(Type.Union([Type.Literal("active"), Type.Literal("blocked")])),
            cursor: Type.Optional({ ...CardIdSchema, description: "nextCursor of the page before" }),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            { cards: Type.Array(CardSummarySchema), nextCursor: Type.Optional(CardIdSchema) },
            { additionalProperties: false },
          ),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { status, cursor, limit } = request.query;
      return deps
        .enabled()
        .list({ limit: limit ?? 100, ...(status && { status }), ...(cursor !== undefined && { after: cursor }) });
    },
  );

  app.get(
    "/v1/cards/:card/entries",
    {
      onRequest: deps.scope("users:read"),
      schema: {
        summary: "A card's usage log as it was synced, in counter order (scope users:read)",
        description: "Forks, rollbacks and refused uploads are the card's incidents, in GET /v1/cards/{card}.",
        tags,
        security,
        params: CardParamsSchema,
        querystring: Type.Object(
          {
            after: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff, description: "nextAfter of the page before" })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            { card: CardIdSchema, entries: Type.Array(SyncedEntrySchema), nextAfter: Type.Optional(Type.Integer()) },
            { additionalProperties: false },
          ),
          ...problemResponses,
        },
      },
    },
    async (request) =>
      deps.enabled().entries(request.params.card, { after: request.query.after ?? 0, limit: request.query.limit ?? 100 }),
  );
}

/** Blocking a card and changing a postpaid card's ceiling. */
function changeRoutes(app: CardApp, deps: CardRouteDeps): void {
  app.post(
    "/v1/cards/:card/block",
    {
      onRequest: deps.scope("users:write"),
      schema: {
        summary: "Block a card: its syncs and reloads are refused, with the reason, until it is unblocked (scope users:write)",
        description: "A lost or stolen card, a user's request. Blocking a blocked card is a conflict (409).",
        tags,
        security,
        params: CardParamsSchema,
        body: Reason,
        response: { 200: CardAccountSchema, ...problemResponses },
      },
    },
    async (request) => {
      const account = await deps.enabled().block(request.params.card, request.body.reason);
      request.log.info({ card: account.card }, "card blocked by the operator");
      return account;
    },
  );

  app.put(
    "/v1/cards/:card/ceiling",
    {
      onRequest: deps.scope("funds:write"),
      schema: {
        summary: "Set a postpaid card's ceiling, sent to the card in its next SYNC (scope funds:write)",
        description: "A prepaid card has no ceiling (409): top it up with POST /v1/cards/{card}/reloads.",
        tags,
        security,
        params: CardParamsSchema,
        body: Type.Object(
          { ceiling: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "minor units" }) },
          { additionalProperties: false },
        ),
        response: { 200: CardAccountSchema, ...problemResponses },
      },
    },
    async (request) => {
      const account = await deps.enabled().setCeiling(request.params.card, request.body.ceiling);
      request.log.info({ card: account.card, ceiling: request.body.ceiling }, "card ceiling set");
      return account;
    },
  );
}

export function cardOperatorRoutes(app: CardApp, deps: CardRouteDeps): void {
  readRoutes(app, deps);
  changeRoutes(app, deps);
}
