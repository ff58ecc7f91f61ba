/**
 * The routes of spending mandates (docs/transport.md §7), under /v2 since mandates are protocol
 * version 2: a mandate registered (the user's signature is the credential), an agent's payment
 * under it, and the user's own list, revocation and mandate of each payment (signed user requests,
 * as /v1/me).
 */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  AcknowledgmentSchema,
  mandatePeriodKey,
  MandatePaymentSchema,
  MandateSchema,
  noncePattern,
  PriceSchema,
  type MinorUnits,
  type PartyId,
} from "@peage/protocol";
import type { RouteContext } from "../app.js";
import { signedUserHook } from "../routes/me.js";
import { HttpProblem } from "../problems.js";
import { PageQuerySchema, problemResponses, problemsAt } from "../schemas.js";
import type { MandateRecord, MandateUsage } from "./logic.js";
import { processMandatePayment, registerMandate, revokeMandate } from "./service.js";

const security = [{ userSignature: [] }];

export const MandateViewSchema = Type.Object({
  mandateId: Type.String(),
  user: Type.String(),
  agentKid: Type.String(),
  payees: Type.Array(Type.String()),
  maxPerPayment: PriceSchema,
  budget: PriceSchema,
  maxPayments: Type.Integer(),
  period: Type.String(),
  consentedAt: Type.String(),
  expiresAt: Type.String(),
  registeredAt: Type.String(),
  revokedAt: Type.Optional(Type.String()),
  status: Type.Union([Type.Literal("active"), Type.Literal("revoked"), Type.Literal("expired")]),
  /** What it paid in the period in progress. */
  current: Type.Object({ periodKey: Type.String(), spent: PriceSchema, payments: Type.Integer() }),
});

const MandatePaymentPageSchema = Type.Object({
  payments: Type.Array(Type.Object({ paymentId: Type.String(), mandateId: Type.String(), periodKey: Type.String() })),
  nextCursor: Type.String({ description: "where the next page starts: pass it as cursor, also to poll for payments to come" }),
});

/** A cursor names the position of the last payment of a page (logic.ts); opaque to clients. */
const encodeMandatePaymentsCursor = (position: number) => Buffer.from(`m${position}`, "utf8").toString("base64url");
function decodeMandatePaymentsCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^m(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match)
    throw HttpProblem.of(
      "ERR_BAD_REQUEST",
      "cursor is not a mandate payments cursor: pass nextCursor from the previous page unchanged",
    );
  return Number(match[1]);
}

function view(record: MandateRecord, usage: readonly MandateUsage[], now: Date) {
  const { claims } = record;
  const periodKey = mandatePeriodKey(claims.period, now);
  const current = usage.find((u) => u.periodKey === periodKey);
  const expired = now.getTime() >= Date.parse(claims.expiresAt);
  return {
    mandateId: record.id,
    user: record.user,
    agentKid: record.agentKid,
    payees: claims.payees,
    maxPerPayment: claims.maxPerPayment,
    budget: claims.budget,
    maxPayments: claims.maxPayments,
    period: claims.period,
    consentedAt: claims.consentedAt,
    expiresAt: claims.expiresAt,
    registeredAt: record.registeredAt,
    ...(record.revokedAt === undefined ? {} : { revokedAt: record.revokedAt }),
    status: record.revokedAt !== undefined ? ("revoked" as const) : expired ? ("expired" as const) : ("active" as const),
    current: {
      periodKey,
      spent: { amount: current?.spent ?? (0 as MinorUnits), currency: claims.budget.currency },
      payments: current?.payments ?? 0,
    },
  };
}

export const mandateRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { clock } = ctx;

  app.post(
    "/v2/mandates",
    {
      schema: {
        summary: "Register a spending mandate the user signed",
        tags: ["mandates"],
        body: MandateSchema,
        response: { 200: MandateViewSchema, 201: MandateViewSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { mandate, created } = await registerMandate(request.body, ctx);
      reply.code(created ? 201 : 200);
      return view(mandate, [], clock.now());
    },
  );

  app.post(
    "/v2/mandate-payments",
    {
      schema: {
        summary: "Pay an offer for an agent, under a mandate",
        description: "The agent's payment request; the mandate's limits are checked in the payment's transaction.",
        tags: ["mandates"],
        body: MandatePaymentSchema,
        response: { 200: AcknowledgmentSchema, ...problemResponses },
      },
    },
    async (request) => {
      const answer = await processMandatePayment(request.body, ctx);
      request.log.info(
        { paymentId: answer.payment.id, mandate: answer.mandate, charged: answer.payment.charged, replayed: answer.replayed },
        answer.replayed ? "mandate payment replayed" : "mandate payment recorded",
      );
      return answer.acknowledgment;
    },
  );

  app.register<{ ctx: RouteContext }>(meMandateRoutes, { ctx });
};

const meMandateRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (me, { ctx }) => {
  const { store, clock } = ctx;
  me.addHook("onRequest", signedUserHook(ctx));

  me.get(
    "/v2/me/mandates",
    {
      schema: {
        summary: "The signed-in user's mandates, newest first",
        tags: ["mandates"],
        security,
        response: { 200: Type.Object({ mandates: Type.Array(MandateViewSchema) }), ...problemResponses },
      },
    },
    async (request) => {
      const found = await store.mandates("listMandates", request.peageUser as PartyId<"user">);
      const now = clock.now();
      return { mandates: found.map((m) => view(m, m.usage, now)) };
    },
  );

  me.get(
    "/v2/me/mandate-payments",
    {
      schema: {
        summary:
          "Which of the signed-in user's payments each mandate made, in a feed whose cursor never skips one committed late",
        description:
          "Each payment under a mandate takes the next position in the user's feed as it commits, so a page ends at a position " +
          "after which every payment to come will appear. The last page's nextCursor is where new ones will start.",
        tags: ["mandates"],
        security,
        querystring: Type.Object(PageQuerySchema, { additionalProperties: false }),
        response: { 200: MandatePaymentPageSchema, ...problemsAt(400, 401, 500, 503) },
      },
    },
    async (request) => {
      const after = decodeMandatePaymentsCursor(request.query.cursor);
      const user = request.peageUser as PartyId<"user">;
      const found = await store.mandates("mandatePaymentsAfter", user, after, request.query.limit ?? 100);
      return {
        payments: found.map(({ paymentId, mandateId, periodKey }) => ({ paymentId, mandateId, periodKey })),
        nextCursor: encodeMandatePaymentsCursor(found.at(-1)?.position ?? after),
      };
    },
  );

  me.post(
    "/v2/me/mandates/:id/revoke",
    {
      schema: {
        summary: "Revoke one of the signed-in user's mandates: from now on it pays nothing",
        tags: ["mandates"],
        security,
        params: Type.Object({ id: Type.String({ pattern: noncePattern }) }, { additionalProperties: false }),
        response: { 200: MandateViewSchema, ...problemResponses },
      },
    },
    async (request) => {
      const user = request.peageUser as PartyId<"user">;
      const record = await revokeMandate(ctx, user, request.params.id);
      return view(record, [], clock.now());
    },
  );
};
