/** GET /openapi.json: the OpenAPI 3.1 document generated from the routes' schemas. */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";

export const openApiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
};
