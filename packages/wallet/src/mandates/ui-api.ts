/**
 * The JSON the wallet's pages read and change about mandates (ui/routes.ts hands these paths
 * here): a mandate question as the consent window draws it, the user's mandates as the server
 * lists them, and Revoke. The pages' own defences (session, CSRF, Origin) are routes.ts's.
 */
import { isPlainObject, type Price } from "@peage/protocol";
import { WalletError } from "../errors.js";
import type { PendingOffer } from "../ui/consent-window.js";
import { amountOf } from "../ui/user-pages.js";
import type { Wallet } from "../wallet.js";
import type { MandateView } from "./request.js";
import { listMandates, revokeMandate } from "./server-api.js";

const isPrice = (value: unknown): value is Price =>
  isPlainObject(value) && typeof value["amount"] === "number" && typeof value["currency"] === "string";

/** A mandate question with its amounts as exact decimal text, for Intl on the page. */
export function mandateForPage(view: MandateView, pending: PendingOffer): unknown {
  return { ...pending, view: { ...view, maxPerPayment: amountOf(view.maxPerPayment), budget: amountOf(view.budget) } };
}

/** The user's mandates with their amounts for the page (and for `peage wallet mandates --json`). */
export async function mandatesForPage(wallet: Wallet): Promise<{ mandates: unknown[] }> {
  const mandates = await listMandates(wallet);
  return {
    mandates: mandates.map((m) => {
      const current = isPlainObject(m["current"]) ? m["current"] : {};
      return {
        ...m,
        ...(isPrice(m["maxPerPayment"]) ? { maxPerPayment: amountOf(m["maxPerPayment"]) } : {}),
        ...(isPrice(m["budget"]) ? { budget: amountOf(m["budget"]) } : {}),
        current: { ...current, ...(isPrice(current["spent"]) ? { spent: amountOf(current["spent"]) } : {}) },
      };
    }),
  };
}

export async function mandateRead(path: string, wallet: Wallet): Promise<unknown> {
  if (path === "/ui/api/mandates") return mandatesForPage(wallet);
  throw new WalletError("ERR_NOT_FOUND", `no route ${path}`, 404, false);
}

export async function mandateChange(path: string, body: Record<string, unknown>, wallet: Wallet): Promise<unknown> {
  if (path !== "/ui/api/mandates/revoke") throw new WalletError("ERR_NOT_FOUND", `no route ${path}`, 404, false);
  if (typeof body["id"] !== "string") throw new WalletError("ERR_BAD_REQUEST", 'send {"id": "<mandate id>"}', 400, false);
  return revokeMandate(wallet, body["id"]);
}
