/**
 * POST /v1/payments: message 2 in, message 3 out (payments.ts does the work, on the event loop or,
 * with a payment pool, on its threads: then the body is taken as text and read there).
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest, FastifySchemaCompiler } from "fastify";
import { AcknowledgmentSchema, PaymentRequestSchema } from "@peage/protocol";
import type { App, RouteContext } from "../app.js";
import type { PaymentPool } from "../payment-pool.js";
import { offerCurrency, processPayment } from "../payments.js";
import { strictValidatorCompiler } from "../request-validator.js";
import { problemsAt } from "../schemas.js";

export const paymentRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext; pool: PaymentPool | undefined }> = async (
  app,
  { ctx, pool },
) => {
  // With a pool, the offer's currency is read on the thread and handed back with its answer.
  const currencies = new WeakMap<FastifyRequest, string | undefined>();
  app.addHook("onResponse", async (request, reply) => {
    ctx.metrics.recordPayment(
      request.peageOutcome || `HTTP_${reply.statusCode}`,
      reply.elapsedTime / 1000,
      pool ? currencies.get(request) : offerCurrency(request.body),
    );
  });
  if (pool) takeJsonAsText(app as unknown as App);

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
      ...(pool ? { validatorCompiler: bodyCheckedOnThread } : {}),
    },
    async (request) => {
      const answer = pool
        ? await pool.pay(ctx, request.body as unknown as string | null | undefined, (currency) =>
            currencies.set(request, currency),
          )
        : await processPayment(request.body, ctx);
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
 * JSON bodies of this plugin's route kept as text (content-type parsers are per plugin in
 * Fastify): the thread reads them (json-body.ts, the words of app.ts's parser). The size limit and
 * the media type are still enforced here, with the same answers (413, 415).
 */
function takeJsonAsText(app: App): void {
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => done(null, body));
}

/** The body is checked against its schema on the thread, once read; the rest of the request (its query) here, as everywhere. */
const bodyCheckedOnThread: FastifySchemaCompiler<unknown> = (route) =>
  route.httpPart === "body" ? (input: unknown) => ({ value: input }) : strictValidatorCompiler(route as never);
