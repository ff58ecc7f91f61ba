/** The webhook routes' schemas (TypeBox) and the endpoint's view, shared by routes/webhooks.ts and webhook-lifecycle.ts. */
import { Type } from "@fastify/type-provider-typebox";
import { PublisherIdSchema } from "../schemas.js";
import { WebhookEventTypes } from "../store/self-service-migration.js";
import type { WebhookEndpoint } from "../store/webhook-logic.js";

const EventTypeSchema = Type.Union(WebhookEventTypes.map((type) => Type.Literal(type)));
export const EndpointSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    publisher: Type.Optional(PublisherIdSchema),
    events: Type.Array(EventTypeSchema),
    label: Type.String(),
    createdAt: Type.String(),
    disabled: Type.Optional(
      Type.Object(
        { at: Type.String(), reason: Type.String({ description: "why deliveries to it stopped; redeliver to enable it again" }) },
        { additionalProperties: false },
      ),
    ),
    previousSecretUntil: Type.Optional(
      Type.String({ description: "until when the secret replaced by a rotation still signs too" }),
    ),
  },
  { additionalProperties: false },
);
export const FailedDeliverySchema = Type.Object(
  {
    eventId: Type.String(),
    endpointId: Type.String(),
    attempts: Type.Integer(),
    lastError: Type.String(),
    failedAt: Type.String(),
  },
  { additionalProperties: false },
);
export const NewEndpointSchema = Type.Object(
  {
    ...EndpointSchema.properties,
    secret: Type.String({ description: "the signing secret, shown once: verify deliveries with it (verifyWebhook)" }),
  },
  { additionalProperties: false },
);
export const EndpointRequestSchema = Type.Object(
  {
    url: Type.String({ minLength: 8, maxLength: 2000, description: "https://…; http:// only to a loopback address" }),
    events: Type.Optional(Type.Array(EventTypeSchema, { minItems: 1, maxItems: WebhookEventTypes.length, uniqueItems: true })),
    publisher: Type.Optional(PublisherIdSchema),
    label: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);

/** GET /v1/admin/webhooks's answer. */
export const EndpointListSchema = Type.Object({
  endpoints: Type.Array(EndpointSchema),
  deliveries: Type.Object(
    { pending: Type.Integer(), delivered: Type.Integer(), failed: Type.Integer() },
    { additionalProperties: false },
  ),
  failures: Type.Array(FailedDeliverySchema, { description: "the latest 20 deliveries given up, newest first" }),
});

/** An endpoint as the operator sees it: never its secret. */
export const view = (endpoint: WebhookEndpoint) => ({
  id: endpoint.id,
  url: endpoint.url,
  ...(endpoint.publisher === undefined ? {} : { publisher: endpoint.publisher }),
  events: [...endpoint.events],
  label: endpoint.label,
  createdAt: endpoint.createdAt,
  ...(endpoint.disabled ? { disabled: { ...endpoint.disabled } } : {}),
  ...(endpoint.previousSecretUntil ? { previousSecretUntil: endpoint.previousSecretUntil } : {}),
});
