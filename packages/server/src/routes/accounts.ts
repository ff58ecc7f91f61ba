/**
 * The operator's API: enrol users (and replace their keys), top up prepaid balances, record postpaid deposits and SEPA
 * mandates, set postpaid limits, suspend, and list payments. Every route needs an API key with the scope it names (api-keys.ts).
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { RouteContext } from "../app.js";
import { fundsRoutes } from "./accounts/funds.js";
import { accountKit } from "./accounts/kit.js";
import { paymentListRoutes } from "./accounts/payments.js";
import { postpaidRoutes } from "./accounts/postpaid.js";
import { statusRoutes, userRoutes } from "./accounts/users.js";

/** The operator's account routes, one module per resource (routes/accounts/), in one plugin. */
export const accountRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const kit = accountKit(ctx);
  userRoutes(app, kit);
  fundsRoutes(app, kit);
  postpaidRoutes(app, kit);
  statusRoutes(app, kit);
  paymentListRoutes(app, kit);
};
