/**
 * GET /healthz (liveness: the process answers), GET /readyz (readiness: readiness.ts) and, when
 * the operator puts them on the public listener, GET /metrics (Prometheus text exposition).
 */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { RouteContext } from "../app.js";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics.js";
import { problemResponses } from "../schemas.js";

const ReadinessSchema = Type.Object(
  {
    status: Type.Union([Type.Literal("ready"), Type.Literal("not-ready")]),
    server: Type.String(),
    checks: Type.Array(
      Type.Object({ name: Type.String(), ok: Type.Boolean(), detail: Type.String() }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false, $id: "Readiness" },
);

export const healthRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext; publicMetrics: boolean }> = async (
  app,
  { ctx, publicMetrics },
) => {
  app.addSchema(ReadinessSchema);
  app.get(
    "/healthz",
    {
      schema: {
        operationId: "getHealth",
        summary: "Liveness: the process answers",
        description: "Says nothing about the database, rates or certificates: see /readyz.",
        tags: ["operations"],
        security: [],
        response: {
          200: Type.Object({ status: Type.Literal("ok"), server: Type.String() }, { additionalProperties: false }),
          ...problemResponses,
        },
      },
    },
    async () => ({ status: "ok" as const, server: ctx.identity.id }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        operationId: "getReadiness",
        summary: "Readiness: database, rates, certificates and bank details",
        description: "200 when every check passes, 503 with the same document otherwise; each check says what to do.",
        tags: ["operations"],
        security: [],
        response: { 200: Type.Ref(ReadinessSchema), 503: Type.Ref(ReadinessSchema), "4xx": problemResponses["4xx"] },
      },
    },
    async (_request, reply) => {
      const readiness = await app.peageReadiness();
      return reply
        .code(readiness.ready ? 200 : 503)
        .send({ status: readiness.ready ? "ready" : "not-ready", server: ctx.identity.id, checks: [...readiness.checks] });
    },
  );

  if (publicMetrics) {
    app.get(
      "/metrics",
      {
        schema: {
          operationId: "getMetrics",
          summary: "Prometheus metrics",
          tags: ["operations"],
          security: [],
          produces: ["text/plain"],
        },
      },
      async (_request, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(await ctx.metrics.render()),
    );
  }
};
