/** The user's own view, authenticated by a request signed with their key (user-auth.ts). */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import { AcknowledgmentSchema, noncePattern, type PartyId } from "@peage/protocol";
import type { RouteContext } from "../app.js";
import { enrolledKey } from "../payments.js";
import { HttpProblem } from "../problems.js";
import { AccountSchema, CurrencySchema, PageQuerySchema, PaymentListSchema, problemsAt } from "../schemas.js";
import { authenticateUser } from "../user-auth.js";
import { accountView, decodeCursor, encodeCursor, paymentView } from "../views.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The user a signed request authenticated. */
    peageUser: PartyId<"user"> | undefined;
  }
}

const security = [{ userSignature: [] }];

/** The user's money movements (GET /v1/me/transactions): signed minor units, positive towards the user. */
const UserTransactionListSchema = Type.Object(
  {
    transactions: Type.Array(
      Type.Object(
        {
          seq: Type.Integer(),
          kind: Type.String(),
          createdAt: Type.String(),
          period: Type.String(),
          paymentId: Type.Optional(Type.String()),
          ref: Type.Optional(Type.String()),
          currency: CurrencySchema,
          change: Type.Integer(),
          funds: Type.Integer(),
        },
        { additionalProperties: false },
      ),
    ),
    nextAfter: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

/**
 * The onRequest hook of the routes a user signs (/v1/me…, /v2/me…): the signed request checked
 * against the user's enrolled key and its nonce remembered, the user it authenticates set on
 * the request; a 401 problem otherwise.
 */
export function signedUserHook(ctx: RouteContext): (request: FastifyRequest) => Promise<void> {
  const { store, clock } = ctx;
  return async (request) => {
    request.peageUser = await authenticateUser(request.headers.authorization, {
      method: request.method,
      path: request.url,
      clock,
      windowMs: ctx.userRequestWindowMs,
      userKey: (user, kid) => enrolledKey(ctx, user, kid),
      remember: (user, nonce, expiresAt) => store.rememberRequestNonce(user, nonce, expiresAt, clock.now()),
    });
  };
}

export const meRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { store, clock } = ctx;
  app.decorateRequest("peageUser", undefined);
  app.addHook("onRequest", signedUserHook(ctx));

  app.get(
    "/v1/me",
    {
      schema: {
        summary: "The signed-in user's account",
        tags: ["user"],
        security,
        response: { 200: AccountSchema, ...problemsAt(401, 500, 503) },
      },
    },
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
        response: { 200: PaymentListSchema, ...problemsAt(400, 401, 500, 503) },
      },
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor);
      const page = await store.listPayments({
        user: request.peageUser!,
        ...(after === undefined ? {} : { after }),
        limit: request.query.limit ?? 100,
      });
      return {
        payments: page.payments.map(paymentView),
        ...(page.next === undefined ? {} : { nextCursor: encodeCursor(page.next) }),
      };
    },
  );

  userTransactionsRoute(app, ctx);

  app.get(
    "/v1/me/acknowledgments/:nonce",
    {
      schema: {
        summary: "The acknowledgment of the signed-in user's payment of one offer instance",
        description:
          "Message 3 of the payment whose offer carried this nonce, exactly as POST /v1/payments returned it, for a wallet whose " +
          "answer was lost (a timeout, a dropped connection) so that it can still hand the paid offer to the program. " +
          "Only the user who paid can read it; for anybody else, and when no such payment was recorded, the answer is 404.",
        tags: ["user"],
        security,
        params: Type.Object({ nonce: Type.String({ pattern: noncePattern }) }, { additionalProperties: false }),
        response: { 200: AcknowledgmentSchema, ...problemsAt(400, 401, 404, 500, 503) },
      },
    },
    async (request) => {
      const payment = await store.findPaymentByNonce(request.peageUser!, request.params.nonce);
      // Another user's payment is not found either: a nonce tells nobody else whether it was paid.
      if (!payment || payment.user !== request.peageUser) {
        throw HttpProblem.of(
          "ERR_NOT_FOUND",
          "you made no payment for an offer with this nonce: the offer was not paid, and may be paid now",
        );
      }
      return payment.acknowledgment;
    },
  );
};

type App = Parameters<FastifyPluginAsyncTypebox<{ ctx: RouteContext }>>[0];

/** GET /v1/me/transactions: the user's money movements, each with what it moved on the user's own accounts. */
function userTransactionsRoute(app: App, ctx: RouteContext): void {
  const { store } = ctx;
  app.get(
    "/v1/me/transactions",
    {
      schema: {
        summary: "The signed-in user's money movements, oldest first",
        description:
          "Every ledger transaction touching the user's own accounts (payments, refunds, top-ups, deposits, collections, card " +
          "loads), with what it moved: `change` on all of them together (a refund's is what it gave back) and `funds` on the " +
          "prepaid balance alone, signed minor units, positive towards the user. The prepaid balance at any moment is the sum " +
          "of `funds` before it. `after` is the `seq` of the last transaction read.",
        tags: ["user"],
        security,
        querystring: Type.Object(
          {
            after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: UserTransactionListSchema, ...problemsAt(400, 401, 500, 503) },
      },
    },
    async (request) => {
      const user = request.peageUser!;
      const limit = request.query.limit ?? 100;
      const rows = await store.ledgerTransactions({
        user,
        limit,
        ...(request.query.after === undefined ? {} : { after: request.query.after }),
      });
      const own = (account: string) => /^(funds|float|receivable)\//.test(account) && account.endsWith(`/${user}`);
      const transactions = rows.map((txn) => {
        const mine = txn.postings.filter((p) => own(p.account));
        const sum = (postings: typeof mine) => -postings.reduce((total, p) => total + p.amount, 0);
        return {
          seq: txn.seq,
          kind: txn.kind,
          createdAt: txn.createdAt,
          period: txn.period,
          ...(txn.paymentId === undefined ? {} : { paymentId: txn.paymentId }),
          ...(txn.ref === undefined ? {} : { ref: txn.ref }),
          currency: mine[0]?.currency ?? txn.postings[0]!.currency,
          change: sum(mine),
          funds: sum(mine.filter((p) => p.account === `funds/${user}`)),
        };
      });
      return { transactions, ...(rows.length === limit ? { nextAfter: rows[rows.length - 1]!.seq } : {}) };
    },
  );
}
