/** POST /v1/payments: message 2 in, message 3 out (payments.ts does the work). */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { AcknowledgmentSchema, PaymentRequestSchema } from "@peage/protocol";
import type { RouteContext } from "../app.js";
import { processPayment } from "../payments.js";
import { problemResponses } from "../schemas.js";

export const paymentRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  app.addHook("onResponse", async (request, reply) => {
    ctx.metrics.recordPayment(request.peageOutcome || `HTTP_${reply.statusCode}`, reply.elapsedTime / 1000);
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
        response: { 200: AcknowledgmentSchema, ...problemResponses },
      },
    },
    async (request) => {
      const answer = await processPayment(request.body, ctx);
      request.peageOutcome = answer.replayed ? "replayed" : "recorded";
      request.log.info(
        { paymentId: answer.payment.id, user: answer.payment.user, publisher: answer.payment.publisher, charged: answer.payment.charged, replayed: answer.replayed },
        answer.replayed ? "payment replayed" : "payment recorded",
      );
      return answer.acknowledgment;
    },
  );
};
