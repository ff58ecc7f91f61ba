/** GET /openapi.json: the OpenAPI 3.1 document generated from the routes' schemas, finished by openapi-document.ts. */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { finishOpenApi } from "../openapi-document.js";

export const openApiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  let document: ReturnType<typeof finishOpenApi> | undefined;
  app.get("/openapi.json", { schema: { hide: true } }, async () => (document ??= finishOpenApi(app.swagger())));
};
