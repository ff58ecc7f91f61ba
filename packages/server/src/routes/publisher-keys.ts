/**
 * The operator gives a publisher its own API key (scope keys:write): bound to that publisher, it
 * reads the publisher's sales, earnings and payouts (routes/publisher.ts) and nothing else. It is
 * listed, revoked and rotated with the other keys (routes/api-keys.ts); a rotation keeps the binding.
 */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { PartyId } from "@peage/protocol";
import { authorizeOperator, newApiKey } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { HttpProblem } from "../problems.js";
import { PublisherIdSchema, PublisherParamsSchema, problemResponses } from "../schemas.js";
import { PublisherScopes } from "../store/store.js";

const PublisherKeySchema = Type.Object(
  {
    id: Type.String(),
    publisher: PublisherIdSchema,
    scopes: Type.Array(Type.String()),
    label: Type.String(),
    createdAt: Type.String(),
    secret: Type.String({ description: "shown once: only its SHA-256 is stored" }),
  },
  { additionalProperties: false },
);

export const publisherKeyRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { store, clock } = ctx;
  app.post(
    "/v1/admin/publishers/:publisher/api-keys",
    {
      onRequest: async (request) => void (await authorizeOperator(store, request, "keys:write")),
      schema: {
        summary: "Create a publisher's own API key, which reads that publisher's data only (scope keys:write)",
        tags: ["operator"],
        security: [{ operatorKey: [] }],
        params: PublisherParamsSchema,
        body: Type.Object({ label: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: { 201: PublisherKeySchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const publisher = request.params.publisher as PartyId<"publisher">;
      if (!(await store.getPublisher(publisher)))
        throw HttpProblem.of(
          "ERR_NOT_FOUND",
          `no publisher ${publisher}: register it first (PUT /v1/admin/publishers/:publisher, or peage admin publisher)`,
        );
      const { secret, record } = newApiKey(PublisherScopes, request.body.label, clock.now(), publisher);
      await store.insertApiKey(record);
      request.log.info({ key: record.id, publisher }, "publisher API key created");
      const { id, scopes, label, createdAt } = record;
      return reply.code(201).send({ id, publisher, scopes: [...scopes], label, createdAt, secret });
    },
  );
};
