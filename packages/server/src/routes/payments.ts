/** POST /v1/payments: message 2 in, message 3 out (payments.ts does the work). */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { AcknowledgmentSchema, decodeJws, JwsTypes, PaymentRequestSchema } from "@peage/protocol";
import type { RouteContext } from "../app.js";
import { processPayment } from "../payments.js";
import { problemsAt } from "../schemas.js";

export const paymentRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  app.addHook("onResponse", async (request, reply) => {
    ctx.metrics.recordPayment(
      request.peageOutcome || `HTTP_${reply.statusCode}`,
      reply.elapsedTime / 1000,
      offerCurrency(request.body),
    );
  });

  app.post(
    "/v1/payments",
    {
      schema: {
        summary: "Pay for an offer",
        description:
          "Checks the payment request (message 2), charges the user in their home currency and returns the signed acknowledgment (message 3). " +
          "Sending the identical request again returns the same acknowledgment and charges nothing.",
        tags: ["payments"],
        body: PaymentRequestSchema,
        response: { 200: AcknowledgmentSchema, ...problemsAt(400, 402, 403, 404, 409, 413, 415, 422, 500, 503) },
      },
    },
    async (request) => {
      const answer = await processPayment(request.body, ctx);
      request.peageOutcome = answer.replayed ? "replayed" : "recorded";
      request.log.info(
        {
          paymentId: answer.payment.id,
          user: answer.payment.user,
          publisher: answer.payment.publisher,
          charged: answer.payment.charged,
          replayed: answer.replayed,
        },
        answer.replayed ? "payment replayed" : "payment recorded",
      );
      return answer.acknowledgment;
    },
  );
};

/**
 * The currency of the offer paid for, read from the consent's payload without verifying it: only
 * a label, and the metrics keep ISO 4217 codes only, so a forged one cannot add labels at will.
 */
function offerCurrency(body: unknown): string | undefined {
  const token = (body as { consent?: unknown } | undefined)?.consent;
  const decoded = decodeJws(token, JwsTypes.consent);
  if (!decoded.ok) return undefined;
  const currency = (decoded.value.payload as { price?: { currency?: unknown } } | undefined)?.price?.currency;
  return typeof currency === "string" ? currency : undefined;
}
