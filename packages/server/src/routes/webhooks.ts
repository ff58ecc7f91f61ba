/**
 * Webhook endpoints, registered by the operator (scopes webhooks:read and webhooks:write): an
 * operator endpoint receives every publisher's events, a publisher's endpoint only that
 * publisher's. The endpoint's signing secret is shown once, at registration (docs/webhooks.md), and
 * kept sealed (webhooks/secret-box.ts). Redelivery and secret rotation: webhook-lifecycle.ts.
 */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { newId, type PartyId } from "@peage/protocol";
import { authorizeOperator } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { HttpProblem } from "../problems.js";
import { problemResponses } from "../schemas.js";
import { WebhookEventTypes } from "../store/self-service-migration.js";
import type { ApiScope } from "../store/store.js";
import type { WebhookEndpoint } from "../store/webhook-logic.js";
import { newWebhookSecret } from "../webhooks/signature.js";
import { webhookLifecycleRoutes } from "./webhook-lifecycle.js";
import { EndpointListSchema, EndpointRequestSchema, NewEndpointSchema, view } from "./webhook-schemas.js";

const security = [{ operatorKey: [] }];
const tags = ["operator"];
/** The URL as given, if deliveries may go there: HTTPS, or plain HTTP to this machine only. */
export function checkEndpointUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw HttpProblem.of("ERR_MALFORMED", `url ${text} is not a URL: give https://host/path`);
  }
  const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback))
    throw HttpProblem.of(
      "ERR_MALFORMED",
      `url ${text}: webhooks are sent over https:// (http:// only to 127.0.0.1 or localhost)`,
    );
  if (url.username || url.password)
    throw HttpProblem.of("ERR_MALFORMED", "url: put no credentials in the URL; deliveries are signed (docs/webhooks.md)");
  return url.href;
}

export const webhookRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { store, clock } = ctx;
  await app.register(webhookLifecycleRoutes, { ctx });
  const scope = (needed: ApiScope) => async (request: Parameters<typeof authorizeOperator>[1]) =>
    void (await authorizeOperator(store, request, needed));

  app.post(
    "/v1/admin/webhooks",
    {
      onRequest: scope("webhooks:write"),
      schema: {
        summary: "Register a webhook endpoint (scope webhooks:write)",
        description: "Events: payment.succeeded, payment.refunded, payout.scheduled (all when absent). See docs/webhooks.md.",
        tags,
        security,
        body: EndpointRequestSchema,
        response: { 201: NewEndpointSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const endpoint: WebhookEndpoint = {
        id: newId("whe"),
        url: checkEndpointUrl(body.url),
        publisher: body.publisher as PartyId<"publisher"> | undefined,
        events: body.events ?? [...WebhookEventTypes],
        label: body.label,
        createdAt: clock.now().toISOString(),
      };
      const secret = newWebhookSecret();
      await store.runExtension("addEndpoint", endpoint, ctx.webhookKeys.seal(secret, endpoint.id));
      request.log.info({ endpoint: endpoint.id, publisher: endpoint.publisher }, "webhook endpoint registered");
      return reply.code(201).send({ ...view(endpoint), secret });
    },
  );

  app.get(
    "/v1/admin/webhooks",
    {
      onRequest: scope("webhooks:read"),
      schema: {
        summary: "List the webhook endpoints, without their secrets, and the latest deliveries given up (scope webhooks:read)",
        tags,
        security,
        response: {
          200: EndpointListSchema,
          ...problemResponses,
        },
      },
    },
    async () => ({
      endpoints: (await store.runExtension("listEndpoints")).map(view),
      deliveries: await store.runExtension("deliveryCounts"),
      failures: await store.runExtension("failedDeliveries", undefined, 20),
    }),
  );

  app.delete(
    "/v1/admin/webhooks/:endpoint",
    {
      onRequest: scope("webhooks:write"),
      schema: {
        summary: "Remove a webhook endpoint and the deliveries still owed to it (scope webhooks:write)",
        tags,
        security,
        params: Type.Object({ endpoint: Type.String({ pattern: "^whe_[A-Za-z0-9_-]{1,64}$" }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ id: Type.String(), removed: Type.Literal(true) }), ...problemResponses },
      },
    },
    async (request) => {
      if (!(await store.runExtension("removeEndpoint", request.params.endpoint)))
        throw HttpProblem.of(
          "ERR_NOT_FOUND",
          `no webhook endpoint ${request.params.endpoint}: list them with peage admin webhooks`,
        );
      return { id: request.params.endpoint, removed: true as const };
    },
  );
};
