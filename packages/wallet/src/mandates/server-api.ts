/**
 * The wallet's requests to the payment server about mandates (docs/transport.md §7): registering
 * one the user signed, listing the user's, revoking one, and which payments each made; the last
 * three signed with the user's key as /v1/me's are.
 */
import { isPlainObject, tryParseStrictJson, type Mandate } from "@peage/protocol";
import { WalletError } from "../errors.js";
import { networkError, problemError } from "../server-client.js";
import type { Wallet } from "../wallet.js";

const TIMEOUT_MS = 10_000;

async function call(wallet: Wallet, method: "GET" | "POST", path: string, body?: unknown, signed = true): Promise<unknown> {
  const base = wallet.config.server.url.replace(/\/+$/, "");
  const headers: Record<string, string> = { accept: "application/json, application/problem+json" };
  if (signed) headers["authorization"] = await wallet.signRequest(method, path);
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: "error",
    });
    text = await response.text();
  } catch (cause) {
    throw networkError(cause, base);
  }
  if (response.status !== 200 && response.status !== 201) throw problemError(response.status, text);
  const value = tryParseStrictJson(text);
  if (!isPlainObject(value))
    throw new WalletError(
      "ERR_MALFORMED",
      "the payment server's answer is not a JSON object: tell the server's operator",
      502,
      false,
    );
  return value;
}

/** Registers a signed mandate; the server's view of it. */
export function registerMandate(wallet: Wallet, mandate: Mandate): Promise<unknown> {
  return call(wallet, "POST", "/v2/mandates", mandate, false);
}

/** The user's mandates at the server, newest first, with what each paid in its current period. */
export async function listMandates(wallet: Wallet): Promise<Record<string, unknown>[]> {
  const answer = (await call(wallet, "GET", "/v2/me/mandates")) as Record<string, unknown>;
  return Array.isArray(answer["mandates"]) ? (answer["mandates"] as Record<string, unknown>[]) : [];
}

/** Revokes one of the user's mandates: from then on it pays nothing. */
export function revokeMandate(wallet: Wallet, id: string): Promise<unknown> {
  if (!/^[A-Za-z0-9_-]{22,86}$/.test(id)) throw new WalletError("ERR_BAD_REQUEST", `${id} is not a mandate id`, 400, false);
  return call(wallet, "POST", `/v2/me/mandates/${id}/revoke`);
}

/** Payments per page of the server's feed (its largest page). */
const FEED_PAGE = 500;

/** Payment id → the mandate that made it, for the user's payments made by agents: every page of the server's feed. */
export async function mandateOfPayments(wallet: Wallet, pageSize = FEED_PAGE): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let cursor: string | undefined;
  for (;;) {
    const query = `?limit=${pageSize}${cursor === undefined ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
    const answer = (await call(wallet, "GET", `/v2/me/mandate-payments${query}`)) as Record<string, unknown>;
    const list = Array.isArray(answer["payments"]) ? (answer["payments"] as Record<string, unknown>[]) : [];
    for (const p of list) found.set(String(p["paymentId"]), String(p["mandateId"]));
    const next = answer["nextCursor"];
    // A short page is the last; a cursor that does not move would never end.
    if (list.length < pageSize || typeof next !== "string" || next === cursor) return found;
    cursor = next;
  }
}
