/** GET /healthz (liveness and database) and GET /metrics (Prometheus text exposition). */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { RouteContext } from "../app.js";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics.js";
import { HttpProblem } from "../problems.js";
import { problemResponses } from "../schemas.js";

export const healthRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "Health: the database answers",
        tags: ["operations"],
        response: {
          200: Type.Object({ status: Type.Literal("ok"), server: Type.String(), ratesDate: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: false }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      try {
        await ctx.store.ping();
      } catch (error) {
        request.log.error({ err: error }, "health check: database");
        throw HttpProblem.of("ERR_SERVER_UNAVAILABLE", "the database does not answer");
      }
      return { status: "ok" as const, server: ctx.identity.id, ratesDate: ctx.rates.current()?.date ?? null };
    },
  );

  app.get("/metrics", { schema: { summary: "Prometheus metrics", tags: ["operations"], produces: ["text/plain"] } }, async (_request, reply) => {
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(ctx.metrics.render());
  });
};
