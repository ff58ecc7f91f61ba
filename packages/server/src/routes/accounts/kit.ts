/**
 * What the operator's account routes share (routes/accounts.ts and the modules of this folder):
 * the API key's scope checked on request, the account as the API shows it, and the user a path
 * names, which must be enrolled.
 */
import type { PartyId } from "@peage/protocol";
import { authorizeOperator } from "../../api-keys.js";
import type { RouteContext } from "../../app.js";
import { HttpProblem } from "../../problems.js";
import type { ApiScope, UserRecord } from "../../store/store.js";
import { operatorScope } from "../operator.js";
import { accountView } from "../../views.js";

export interface AccountKit {
  readonly store: RouteContext["store"];
  readonly clock: RouteContext["clock"];
  /** An onRequest hook refusing a key without the scope `needed`. */
  scope(needed: ApiScope): (request: Parameters<typeof authorizeOperator>[1]) => Promise<void>;
  /** The account as the API shows it (with the month's usage of a postpaid one). */
  account(user: UserRecord): Promise<ReturnType<typeof accountView>>;
  /** The enrolled user `id`, or ERR_UNKNOWN_USER. */
  existing(id: string): Promise<UserRecord>;
}

export function accountKit(ctx: RouteContext): AccountKit {
  const { store, clock } = ctx;
  return {
    store,
    clock,
    scope: operatorScope(store),
    account: async (user) =>
      accountView(user, user.mode === "postpaid" ? await store.monthlyUsage(user.id, clock.now()) : undefined),
    existing: async (id) => {
      const user = await store.getUser(id as PartyId<"user">);
      if (!user) throw HttpProblem.of("ERR_UNKNOWN_USER", `no user ${id} is enrolled`);
      return user;
    },
  };
}
