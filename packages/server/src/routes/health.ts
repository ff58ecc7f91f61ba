/** GET /healthz (database and revocation lists ready) and GET /metrics (Prometheus text exposition). */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { RouteContext } from "../app.js";
import { revocationReport } from "../crl-refresh.js";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics.js";
import { HttpProblem } from "../problems.js";
import { problemResponses } from "../schemas.js";

export const healthRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "Readiness: the database answers and no revocation list is stale (else 503, as payments would be)",
        tags: ["operations"],
        response: {
          200: Type.Object(
            {
              status: Type.Literal("ok"),
              server: Type.String(),
              ratesDate: Type.Union([Type.String(), Type.Null()]),
              revocation: Type.Object(
                {
                  policy: Type.String(),
                  fresh: Type.Boolean(),
                  crls: Type.Array(
                    Type.Object(
                      { issuer: Type.String(), thisUpdate: Type.String(), nextUpdate: Type.Union([Type.String(), Type.Null()]), stale: Type.Boolean() },
                      { additionalProperties: false },
                    ),
                  ),
                },
                { additionalProperties: false },
              ),
            },
            { additionalProperties: false },
          ),
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
      const revocation = revocationReport(ctx.trust, ctx.clock.now());
      if (!revocation.fresh) {
        const stale = revocation.crls.filter((crl) => crl.stale).map((crl) => `${crl.issuer} (nextUpdate ${crl.nextUpdate ?? "none"})`);
        const why = stale.length > 0 ? `the CRL of ${stale.join(", ")} is stale` : `the revocation policy is "${revocation.policy}" and no CRL is installed`;
        throw HttpProblem.of(
          "ERR_SERVER_UNAVAILABLE",
          `${why}: payments whose certificates it covers are refused; publish a newer CRL where crlSources points, or in the data directory's crls/`,
        );
      }
      return { status: "ok" as const, server: ctx.identity.id, ratesDate: ctx.rates.current()?.date ?? null, revocation: { ...revocation, crls: [...revocation.crls] } };
    },
  );

  app.get("/metrics", { schema: { summary: "Prometheus metrics", tags: ["operations"], produces: ["text/plain"] } }, async (_request, reply) => {
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(ctx.metrics.render());
  });
};
