/**
 * The operator's list of payments (GET /v1/admin/payments), by user or publisher, a page at a time.
 */
import { Type } from "@fastify/type-provider-typebox";
import type { PartyId } from "@peage/protocol";
import { PageQuerySchema, PaymentListSchema, problemResponses, PublisherIdSchema, UserIdSchema } from "../../schemas.js";
import { decodeCursor, encodeCursor, paymentView } from "../../views.js";
import { security, type RouteApp } from "../operator.js";
import type { AccountKit } from "./kit.js";

/** Payments, oldest first. */
export function paymentListRoutes(app: RouteApp, kit: AccountKit): void {
  const { store, scope } = kit;
  app.get(
    "/v1/admin/payments",
    {
      onRequest: scope("payments:read"),
      schema: {
        summary: "List payments, oldest first (scope payments:read)",
        tags: ["operator"],
        security,
        querystring: Type.Object(
          { user: Type.Optional(UserIdSchema), publisher: Type.Optional(PublisherIdSchema), ...PageQuerySchema },
          { additionalProperties: false },
        ),
        response: { 200: PaymentListSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { user, publisher, cursor, limit } = request.query;
      const after = decodeCursor(cursor);
      const page = await store.listPayments({
        ...(user === undefined ? {} : { user: user as PartyId<"user"> }),
        ...(publisher === undefined ? {} : { publisher: publisher as PartyId<"publisher"> }),
        ...(after === undefined ? {} : { after }),
        limit: limit ?? 100,
      });
      return {
        payments: page.payments.map(paymentView),
        ...(page.next === undefined ? {} : { nextCursor: encodeCursor(page.next) }),
      };
    },
  );
}
