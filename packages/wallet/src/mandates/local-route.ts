/**
 * POST /v2/mandates on the wallet's local service (service.ts routes it here, after its own
 * checks of Host, Origin and the bearer token): a program asks for a spending mandate, the user
 * answers in the consent window, and the program gets `{"mandate": <signed mandate>}` or a problem.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseStrictJson, type Mandate } from "@peage/protocol";
import { WalletError } from "../errors.js";
import type { ConsentWindow } from "../ui/consent-window.js";
import type { Wallet } from "../wallet.js";
import { grantMandate } from "./grant.js";

export interface MandateRouteDeps {
  readonly wallet: Wallet;
  readonly window: ConsentWindow | undefined;
  readonly readBody: (req: IncomingMessage) => Promise<string>;
  readonly log: (line: string) => void;
}

export async function mandateRequest(
  req: IncomingMessage,
  res: ServerResponse,
  deps: MandateRouteDeps,
): Promise<{ mandate: Mandate }> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json")
    throw new WalletError("ERR_BAD_REQUEST", "send the mandate request as application/json", 415, false);
  let body: unknown;
  try {
    body = parseStrictJson(await deps.readBody(req));
  } catch {
    throw new WalletError(
      "ERR_BAD_REQUEST",
      'the body is not JSON without repeated member names: send {"mandate": {…}}',
      400,
      false,
    );
  }
  // A program that stops waiting withdraws its question.
  const abandoned = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abandoned.abort();
  });
  try {
    const granted = await grantMandate(deps.wallet, deps.window, body, abandoned.signal);
    deps.log(`mandate granted: ${granted.summary}`);
    return { mandate: granted.mandate };
  } catch (error) {
    if (error instanceof WalletError) deps.log(`no mandate: ${error.code} ${error.message}`);
    throw error;
  }
}
