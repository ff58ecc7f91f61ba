/**
 * Paid routes on Node's http server, and as a connect-style middleware `(req, res, next)`.
 *
 * Without a credential the route answers 402 with both wire formats (PAYMENT-REQUIRED and
 * WWW-Authenticate: Payment) and a problem document. With one, it reads the body, redeems the
 * credential against this exact request, and either serves — with the receipt header of the format
 * the client used — or refuses with a fresh challenge: 402 for x402, 401 for the Payment scheme
 * (as each specification says). The acknowledgment is spent only if the response completes with a
 * status below 500; a failed or abandoned response releases it for a retry of the same request.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestFacts } from "./binding.js";
import type { Challenge } from "./challenge.js";
import type { Credential, PaymentGate, Receipt } from "./gate.js";
import * as x402 from "./wire/x402.js";
import * as auth from "./wire/payment-auth.js";

/** A request the route served, with what paid for it. */
export interface PaidRequest extends IncomingMessage {
  peage?: { readonly receipt: Receipt; readonly body: Buffer };
}

export interface PaidRouteOptions {
  /** The catalog offer each request of the route costs. */
  readonly offerId: string;
  /** Largest request body read (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** The realm of the Payment challenge (default: the Host header). */
  readonly realm?: string;
}

type Format = "x402" | "payment";

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function credentialOf(req: IncomingMessage): { format: Format; credential: Credential | string } | undefined {
  const signature = req.headers[x402.Headers402.signature];
  if (typeof signature === "string") return { format: "x402", credential: x402.credentialFromSignature(signature.trim()) };
  const authorization = req.headers.authorization;
  const credential = typeof authorization === "string" ? auth.credentialFromAuthorization(authorization) : undefined;
  return credential === undefined ? undefined : { format: "payment", credential };
}

function problem(res: ServerResponse, status: number, code: string, detail: string): void {
  const title = status === 402 ? "Payment required" : status === 401 ? "Payment not accepted" : "Bad payment credential";
  res.statusCode = status;
  res.setHeader("content-type", "application/problem+json");
  res.setHeader("cache-control", "no-store");
  res.end(
    JSON.stringify({
      type: `urn:peage:problem:${code.replace(/^ERR_/, "").toLowerCase().replaceAll("_", "-")}`,
      title,
      status,
      detail,
      code,
      retryable: true,
    }),
  );
}

function challengeHeaders(
  res: ServerResponse,
  challenge: Challenge,
  req: IncomingMessage,
  realm: string | undefined,
  error?: string,
): void {
  const url = `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
  res.setHeader("payment-required", x402.paymentRequired(challenge, url, error));
  res.setHeader("www-authenticate", auth.wwwAuthenticate(challenge, realm ?? req.headers.host ?? "peage"));
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
    const body = await readBody(req, options.maxBodyBytes ?? 1024 * 1024);
    if (body === undefined)
      return problem(res, 413, "ERR_PAYLOAD_TOO_LARGE", "the request body is larger than this route accepts");
    const facts: RequestFacts = { method: req.method ?? "GET", target: req.url ?? "/", body };
    const presented = credentialOf(req);
    if (presented === undefined) {
      challengeHeaders(res, gate.challenge(options.offerId, facts), req, options.realm);
      return problem(
        res,
        402,
        "ERR_PAYMENT_REQUIRED",
        "this resource is paid for per request: pay the offer in the challenge and send the request again with the credential",
      );
    }
    const refuse = (code: string, detail: string) => {
      challengeHeaders(res, gate.challenge(options.offerId, facts), req, options.realm, detail);
      problem(res, presented.format === "x402" ? 402 : 401, code, detail);
    };
    if (typeof presented.credential === "string") return refuse("ERR_MALFORMED_CREDENTIAL", presented.credential);
    const redemption = await gate.redeem(options.offerId, facts, presented.credential);
    if (!redemption.ok) return refuse(redemption.code, redemption.detail);
    res.setHeader(
      presented.format === "x402" ? x402.Headers402.response : "payment-receipt",
      (presented.format === "x402" ? x402.paymentResponse : auth.paymentReceipt)(redemption.receipt),
    );
    res.once("finish", () => (res.statusCode < 500 ? redemption.spend() : redemption.release()));
    res.once("close", () => {
      if (!res.writableFinished) redemption.release();
    });
    (req as PaidRequest).peage = { receipt: redemption.receipt, body };
    try {
      await handler(req as PaidRequest, res);
    } catch (error) {
      if (!res.headersSent) {
        res.removeHeader(x402.Headers402.response);
        res.removeHeader("payment-receipt");
        problem(res, 500, "ERR_INTERNAL", "the paid handler failed: send the same request with the same credential again");
      } else res.destroy(error as Error);
    }
  };
}

/** The same as a connect-style middleware: calls `next()` with `req.peage` set once the request is paid. */
export function paymentMiddleware(gate: PaymentGate, options: PaidRouteOptions) {
  return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void => {
    paidRoute(gate, options, () => next())(req, res).catch(next);
  };
}
