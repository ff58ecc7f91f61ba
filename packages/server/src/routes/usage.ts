/**
 * POST /v1/payments/:payment/settlement: the merchant settles a payment charged by use (an upto
 * offer or a metered session) for what was used, once (usage.ts does the work). No API key: the
 * settlement key, committed to in the nonce the user signed, is what proves the merchant made the offer.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { RouteContext } from "../app.js";
import { PaymentParamsSchema, problemResponses } from "../schemas.js";
import { settleUsage, UsageSettlementRequestSchema, UsageSettlementSchema } from "../usage.js";

export const usageRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  app.post(
    "/v1/payments/:payment/settlement",
    {
      schema: {
        summary: "Settle a payment charged by use",
        description:
          "Settles an upto payment for the amount used, or a metered session's for the highest PayWord tick, never above the maximum " +
          "the user consented to; the unused part goes back to the user. Once per payment: the identical settlement again answers the same, " +
          "another is refused (ERR_ALREADY_SETTLED).",
        tags: ["payments"],
        params: PaymentParamsSchema,
        body: UsageSettlementRequestSchema,
        response: { 200: UsageSettlementSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { settlement, payment, replayed } = await settleUsage(ctx.store, ctx.clock, request.params.payment, request.body);
      request.peageOutcome = replayed ? "replayed" : "settled";
      request.log.info({ paymentId: payment.id, used: settlement.used, maximum: settlement.maximum }, "payment settled");
      return {
        paymentId: payment.id,
        maximum: settlement.maximum,
        used: settlement.used,
        charged: payment.charged,
        chargedUsed: settlement.chargedUsed,
        ...(settlement.ticks === undefined ? {} : { ticks: settlement.ticks }),
        settledAt: settlement.createdAt,
      };
    },
  );
};
