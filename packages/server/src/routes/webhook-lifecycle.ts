/**
 * The operator's hold on webhook deliveries after they went wrong, and on an endpoint's secret
 * (docs/webhooks.md): deliveries given up put back (one event, or every failure of an endpoint,
 * which also enables a disabled endpoint again), and a secret rotated with an overlap during which
 * both the old and the new secret sign, so that a receiver can switch without losing an event.
 */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { authorizeOperator } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { HttpProblem } from "../problems.js";
import { problemResponses } from "../schemas.js";
import type { ApiScope } from "../store/store.js";
import { newWebhookSecret } from "../webhooks/signature.js";
import { NewEndpointSchema, view } from "./webhook-schemas.js";

const security = [{ operatorKey: [] }];
const tags = ["operator"];
const EndpointParams = Type.Object(
  { endpoint: Type.String({ pattern: "^whe_[A-Za-z0-9_-]{1,64}$" }) },
  { additionalProperties: false },
);
const noEndpoint = (id: string) =>
  HttpProblem.of("ERR_NOT_FOUND", `no webhook endpoint ${id}: list them with peage admin webhooks`);

export const webhookLifecycleRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { store, clock } = ctx;
  const scope = (needed: ApiScope) => async (request: Parameters<typeof authorizeOperator>[1]) =>
    void (await authorizeOperator(store, request, needed));

  app.post(
    "/v1/admin/webhooks/:endpoint/redeliver",
    {
      onRequest: scope("webhooks:write"),
      schema: {
        summary: "Send deliveries again: one event's, or every delivery of the endpoint given up (scope webhooks:write)",
        description:
          "The deliveries are due now, with a new retry window and the same event ids. A disabled endpoint is enabled again. " +
          "An event's delivery is found until it is pruned (the retention period after it was delivered or given up).",
        tags,
        security,
        params: EndpointParams,
        body: Type.Object(
          { event: Type.Optional(Type.String({ pattern: "^evt_[A-Za-z0-9_-]{1,64}$" })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            { endpoint: Type.String(), deliveries: Type.Integer({ minimum: 0 }), reenabled: Type.Boolean() },
            { additionalProperties: false },
          ),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { endpoint } = request.params;
      const outcome = await store.runExtension("redeliver", endpoint, request.body.event, clock.now().toISOString());
      if (outcome.kind === "no-endpoint") throw noEndpoint(endpoint);
      if (outcome.kind === "no-delivery")
        throw HttpProblem.of(
          "ERR_NOT_FOUND",
          `${endpoint} has no delivery of ${request.body.event} (never owed to it, or pruned): ` +
            "peage admin webhooks lists the failures still kept",
        );
      request.log.info({ endpoint, event: request.body.event, deliveries: outcome.deliveries }, "webhook deliveries put back");
      return { endpoint, deliveries: outcome.deliveries, reenabled: outcome.reenabled };
    },
  );

  app.post(
    "/v1/admin/webhooks/:endpoint/rotate-secret",
    {
      onRequest: scope("webhooks:write"),
      schema: {
        summary: "Give an endpoint a new signing secret; the old one keeps signing too during the overlap (scope webhooks:write)",
        description:
          "Each delivery carries one v1= signature per secret until the overlap ends: install the new secret at the receiver " +
          "(verifyWebhook accepts either) before then. The new secret is shown once.",
        tags,
        security,
        params: EndpointParams,
        body: Type.Object(
          { overlapHours: Type.Optional(Type.Integer({ minimum: 0, maximum: 168, description: "default 24" })) },
          { additionalProperties: false },
        ),
        response: { 200: NewEndpointSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { endpoint } = request.params;
      const secret = newWebhookSecret();
      const until = new Date(clock.now().getTime() + (request.body.overlapHours ?? 24) * 3_600_000).toISOString();
      const rotated = await store.runExtension("rotateSecret", endpoint, ctx.webhookKeys.seal(secret, endpoint), until);
      if (!rotated) throw noEndpoint(endpoint);
      request.log.info({ endpoint, previousSecretUntil: until }, "webhook secret rotated");
      return { ...view(rotated), secret };
    },
  );
};
