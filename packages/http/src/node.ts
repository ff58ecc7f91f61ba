/**
 * Paid routes on Node's http server, and as a connect-style middleware `(req, res, next)`.
 *
 * Without a credential the route answers 402 with both wire formats (PAYMENT-REQUIRED and
 * WWW-Authenticate: Payment) and a problem document. With one, it reads the body, redeems the
 * credential against this exact request (admission.ts), and either serves — with the receipt
 * header of the format the client used — or refuses with a fresh challenge. The acknowledgment is
 * spent only if the response completes with a status below 500; a failed or abandoned response
 * releases it for a retry of the same request.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  admit,
  DEFAULT_MAX_BODY_BYTES,
  handlerFailed,
  readBody,
  settleOnCompletion,
  tooLarge,
  writeAnswer,
  type Admission,
  type PaidRouteOptions,
} from "./admission.js";
import type { PaymentGate, Receipt } from "./gate.js";
import type { UsageSettlement } from "@peage/merchant";

export type { PaidRouteOptions } from "./admission.js";

/** What a served request carries: the receipt, and the body bytes that were paid for. */
export interface PaidState {
  readonly receipt: Receipt;
  readonly body: Buffer;
  /**
   * An upto offer: settle the payment for the amount used (minor units of the price's currency),
   * at most the maximum, once. Not called, the payment stays at the maximum the user consented to.
   */
  readonly settle?: (used: number) => Promise<UsageSettlement>;
  /** A metered session: its id (settle it with `gate.settleSession(id)`), the ticks paid so far and its cap in ticks. */
  readonly session?: { readonly id: string; readonly ticks: number; readonly length: number };
}

/** A request the route served, with what paid for it. */
export interface PaidRequest extends IncomingMessage {
  peage?: PaidState;
}

/** What the handler is given once the request is paid. */
export function paidState(admission: Extract<Admission, { kind: "paid" }>, body: Buffer): PaidState {
  const { receipt, settle, session } = admission;
  return {
    receipt,
    body,
    ...(settle ? { settle } : {}),
    ...(session ? { session: { id: session.id, ticks: session.ticks, length: session.length } } : {}),
  };
}

/**
 * Wraps a handler so that every request to it is paid for. The handler finds the receipt and the
 * body it must use (the bytes that were paid for) in `req.peage`.
 */
export function paidRoute(
  gate: PaymentGate,
  options: PaidRouteOptions,
  handler: (req: PaidRequest, res: ServerResponse) => void | Promise<void>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const body = await readBody(req, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    if (body === undefined) return writeAnswer(res, tooLarge());
    const admission = await admit(gate, options, req, body);
    if (admission.kind === "refused") return writeAnswer(res, admission.answer);
    if (admission.receiptHeader) res.setHeader(...admission.receiptHeader);
    settleOnCompletion(res, admission);
    (req as PaidRequest).peage = paidState(admission, body);
    try {
      await handler(req as PaidRequest, res);
    } catch (error) {
      if (!res.headersSent) writeAnswer(res, handlerFailed());
      else res.destroy(error as Error);
    }
  };
}

/**
 * The same as a connect-style middleware: calls `next()` with `req.peage` set once the request is
 * paid. It reads the body itself, so it goes before any body parser (Express: @peage/http/express).
 */
export function paymentMiddleware(gate: PaymentGate, options: PaidRouteOptions) {
  return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void => {
    paidRoute(gate, options, () => next())(req, res).catch(next);
  };
}
