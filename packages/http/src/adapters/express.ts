/**
 * Paid routes in Express 5: `app.get("/forecast", paid(gate, { offerId: "forecast" }), handler)`.
 * Express's request and response are Node's, so this is the node:http middleware with one check
 * added: the payment is bound to the body's bytes, so it must read them itself, before any body
 * parser. The handler finds the receipt and the paid bytes in `req.peage`.
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { PaidRouteOptions } from "../admission.js";
import type { PaymentGate } from "../gate.js";
import { paymentMiddleware, type PaidState } from "../node.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by @peage/http once the request is paid. */
      peage?: PaidState;
    }
  }
}

/** An Express middleware that lets only paid requests through to the next handler. */
export function paid(gate: PaymentGate, options: PaidRouteOptions): RequestHandler {
  const middleware = paymentMiddleware(gate, options);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.body !== undefined || req.readableEnded) {
      return next(
        new Error("@peage/http read no body: a body parser ran before it. Put paid(…) before express.json() on this route"),
      );
    }
    middleware(req, res, next);
  };
}
