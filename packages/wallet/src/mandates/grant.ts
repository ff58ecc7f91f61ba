/**
 * Granting a spending mandate: a program asks (POST /v2/mandates on the wallet's local service),
 * the user reads every limit in the consent window and approves or declines, and only then does
 * the wallet sign the mandate with the user's key and register it at the payment server. The
 * program gets the signed mandate back: with it and its own key it pays without asking. Where no
 * window can be shown, the wallet's terminal asks instead, as it does for offers.
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
  // The consent window when the wallet serves one, else its own prompt (the terminal).
  const yes = window ? await window.ask(view, signal) : await wallet.askMandate(view, signal);
  if (!yes) throw new WalletError("ERR_DECLINED", "the user declined the mandate: ask for each payment instead", 403, false);
  if (signal?.aborted) throw new WalletError("ERR_TIMEOUT", "the program stopped waiting; no mandate was signed", 408, true);
  const mandate = await wallet.signMandate(request);
  await registerMandate(wallet, mandate);
  return { mandate, summary: describeMandate(view) };
}
