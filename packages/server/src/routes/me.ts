/** The user's own view, authenticated by a request signed with their key (user-auth.ts). */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { PartyId } from "@peage/protocol";
import type { RouteContext } from "../app.js";
import { enrolledKey } from "../payments.js";
import { AccountSchema, PageQuerySchema, PaymentListSchema, problemResponses } from "../schemas.js";
import { authenticateUser } from "../user-auth.js";
import { accountView, decodeCursor, encodeCursor, paymentView } from "../views.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The user a signed request authenticated. */
    peageUser: PartyId<"user"> | undefined;
  }
}

const security = [{ userSignature: [] }];

export const meRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { store, clock } = ctx;
  app.decorateRequest("peageUser", undefined);
  app.addHook("onRequest", async (request) => {
    request.peageUser = await authenticateUser(request.headers.authorization, {
      method: request.method,
      path: request.url,
      clock,
      windowMs: ctx.userRequestWindowMs,
      userKey: (user, kid) => enrolledKey(ctx, user, kid),
      remember: (user, nonce, expiresAt) => store.rememberRequestNonce(user, nonce, expiresAt, clock.now()),
    });
  });

  app.get(
    "/v1/me",
    { schema: { summary: "The signed-in user's account", tags: ["user"], security, response: { 200: AccountSchema, ...problemResponses } } },
    async (request) => {
      const user = (await store.getUser(request.peageUser!))!;
      return accountView(user, user.mode === "postpaid" ? await store.monthlyUsage(user.id, clock.now()) : undefined);
    },
  );

  app.get(
    "/v1/me/payments",
    {
      schema: {
        summary: "The signed-in user's payments, oldest first",
        tags: ["user"],
        security,
        querystring: Type.Object(PageQuerySchema, { additionalProperties: false }),
        response: { 200: PaymentListSchema, ...problemResponses },
      },
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor);
      const page = await store.listPayments({ user: request.peageUser!, ...(after === undefined ? {} : { after }), limit: request.query.limit ?? 100 });
      return { payments: page.payments.map(paymentView), ...(page.next === undefined ? {} : { nextCursor: encodeCursor(page.next) }) };
    },
  );
};
