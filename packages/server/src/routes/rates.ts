/** GET /v1/rates: the rate table in force, so the wallet can show the price in the user's currency before consent. */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { RouteContext } from "../app.js";
import { rateTableFor } from "../payments.js";
import { HttpProblem } from "../problems.js";
import { problemResponses } from "../schemas.js";

export const RateTableSchema = Type.Object(
  {
    base: Type.String({ pattern: "^[A-Z]{3}$" }),
    date: Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$" }),
    rates: Type.Record(
      Type.String({ pattern: "^[A-Z]{3}$" }),
      Type.String({ description: "units of the currency per 1 base, decimal" }),
    ),
  },
  { additionalProperties: false },
);

export const rateRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  app.get(
    "/v1/rates",
    {
      schema: {
        summary: "Current exchange rates (ECB reference rates, base EUR)",
        tags: ["rates"],
        response: { 200: RateTableSchema, ...problemResponses },
      },
    },
    async (_request, reply) => {
      const table = await rateTableFor(ctx, ctx.clock.now());
      if (!table)
        throw HttpProblem.of("ERR_RATE_UNAVAILABLE", "the server has no exchange rates loaded", { status: 503, retryable: true });
      // Reference rates change once a day; a few minutes of caching costs nothing.
      void reply.header("cache-control", "public, max-age=300");
      return table;
    },
  );
};
