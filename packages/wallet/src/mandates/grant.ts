/**
 * Granting a spending mandate: a program asks (POST /v2/mandates on the wallet's local service),
 * the user reads every limit in the consent window and approves or declines, and only then does
 * the wallet sign the mandate with the user's key and register it at the payment server. The
 * program gets the signed mandate back: with it and its own key it pays without asking.
 */
import type { Mandate } from "@peage/protocol";
import { WalletError } from "../errors.js";
import type { ConsentWindow } from "../ui/consent-window.js";
import type { Wallet } from "../wallet.js";
import { describeMandate, readMandateRequest } from "./request.js";
import { registerMandate } from "./server-api.js";

export async function grantMandate(
  wallet: Wallet,
  window: ConsentWindow | undefined,
  body: unknown,
  signal?: AbortSignal,
): Promise<{ mandate: Mandate; summary: string }> {
  const { config } = wallet;
  const { request, view } = await readMandateRequest(body, config.homeCurrency, config.server.id, wallet.clock);
  if (!window)
    throw new WalletError(
      "ERR_CONSENT_UNAVAILABLE",
      "a mandate is approved in the wallet's consent window only: start the wallet where a browser can be opened",
      503,
      true,
    );
  const yes = await window.ask(view, signal);
  if (!yes) throw new WalletError("ERR_DECLINED", "the user declined the mandate: ask for each payment instead", 403, false);
  if (signal?.aborted) throw new WalletError("ERR_TIMEOUT", "the program stopped waiting; no mandate was signed", 408, true);
  const mandate = await wallet.signMandate(request);
  await registerMandate(wallet, mandate);
  return { mandate, summary: describeMandate(view) };
}
