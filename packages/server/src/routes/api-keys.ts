/**
 * The operator's API keys, managed over the operator API itself (scopes keys:read and keys:write):
 * create one with the scopes a job needs, list them (never their secrets, which are not stored),
 * revoke one, or rotate one — a new secret with the same scopes and label replaces the old in
 * one transaction, so there is no moment with both or neither.
 */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { authorizeOperator, newApiKey } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { HttpProblem } from "../problems.js";
import { problemResponses } from "../schemas.js";
import { ApiScopes, type ApiKeyRecord, type ApiScope } from "../store/store.js";

const security = [{ operatorKey: [] }];

const ApiKeySchema = Type.Object(
  {
    id: Type.String(),
    scopes: Type.Array(Type.String()),
    label: Type.String(),
    createdAt: Type.String(),
    publisher: Type.Optional(Type.String({ description: "present on a publisher's own key: the publisher whose data it reads" })),
  },
  { additionalProperties: false },
);
const NewApiKeySchema = Type.Object(
  { ...ApiKeySchema.properties, secret: Type.String({ description: "shown once: only its SHA-256 is stored" }) },
  { additionalProperties: false },
);
const ApiKeyRequestSchema = Type.Object(
  {
    scopes: Type.Array(Type.Union(ApiScopes.map((scope) => Type.Literal(scope))), { minItems: 1, maxItems: ApiScopes.length }),
    label: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);
const KeyParamsSchema = Type.Object(
  { key: Type.String({ pattern: "^key_[A-Za-z0-9_-]{1,64}$" }) },
  { additionalProperties: false },
);

const view = (key: ApiKeyRecord) => ({
  id: key.id,
  scopes: [...key.scopes],
  label: key.label,
  createdAt: key.createdAt,
  ...(key.publisher === undefined ? {} : { publisher: key.publisher }),
});

export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { store, clock } = ctx;
  const scope = (needed: ApiScope) => async (request: Parameters<typeof authorizeOperator>[1]) => {
    await authorizeOperator(store, request, needed);
  };
  const tags = ["operator"];

  app.post(
    "/v1/admin/api-keys",
    {
      onRequest: scope("keys:write"),
      schema: {
        summary: "Create an API key with these scopes (scope keys:write)",
        tags,
        security,
        body: ApiKeyRequestSchema,
        response: { 201: NewApiKeySchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { secret, record } = newApiKey(request.body.scopes, request.body.label, clock.now());
      await store.insertApiKey(record);
      request.log.info({ key: record.id, scopes: record.scopes }, "API key created");
      return reply.code(201).send({ ...view(record), secret });
    },
  );

  app.get(
    "/v1/admin/api-keys",
    {
      onRequest: scope("keys:read"),
      schema: {
        summary: "List the API keys, without their secrets (scope keys:read)",
        tags,
        security,
        response: { 200: Type.Object({ apiKeys: Type.Array(ApiKeySchema) }), ...problemResponses },
      },
    },
    async () => ({ apiKeys: (await store.listApiKeys()).map(view) }),
  );

  app.delete(
    "/v1/admin/api-keys/:key",
    {
      onRequest: scope("keys:write"),
      schema: {
        summary: "Revoke an API key: its secret stops working at once (scope keys:write)",
        tags,
        security,
        params: KeyParamsSchema,
        response: { 200: Type.Object({ id: Type.String(), revoked: Type.Literal(true) }), ...problemResponses },
      },
    },
    async (request) => {
      if (!(await store.revokeApiKey(request.params.key)))
        throw HttpProblem.of("ERR_NOT_FOUND", `no API key ${request.params.key}: list them with GET /v1/admin/api-keys`);
      request.log.info({ key: request.params.key }, "API key revoked");
      return { id: request.params.key, revoked: true as const };
    },
  );

  app.post(
    "/v1/admin/api-keys/:key/rotate",
    {
      onRequest: scope("keys:write"),
      schema: {
        summary: "Replace an API key by a new secret with the same scopes and label (scope keys:write)",
        tags,
        security,
        params: KeyParamsSchema,
        response: { 201: NewApiKeySchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const old = (await store.listApiKeys()).find((key) => key.id === request.params.key);
      if (!old) throw HttpProblem.of("ERR_NOT_FOUND", `no API key ${request.params.key}: list them with GET /v1/admin/api-keys`);
      const { secret, record } = newApiKey(old.scopes, old.label, clock.now(), old.publisher);
      if (!(await store.rotateApiKey(old.id, record)))
        throw HttpProblem.of("ERR_NOT_FOUND", `API key ${old.id} was revoked meanwhile`);
      request.log.info({ key: old.id, replacedBy: record.id }, "API key rotated");
      return reply.code(201).send({ ...view(record), secret });
    },
  );
};
