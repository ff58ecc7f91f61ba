/**
 * What every paid route does, whatever server it runs on (Node's http, Express, Fastify): read the
 * request's credential, redeem it against this exact request, and say what to answer — a refusal
 * with a fresh challenge (402 for x402, 401 for the Payment scheme, as each specification says), or
 * "serve" with the receipt header of the format the client used. The adapters only move the
 * answer onto their own response objects, so the rules live here once.
 */
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { RequestFacts } from "./binding.js";
import type { Challenge } from "./challenge.js";
import type { Credential, PaymentGate, Receipt } from "./gate.js";
import type { UsageSettlement } from "@peage/merchant";
import { TICK_HEADER, tickProof, type OpenSession } from "./sessions.js";
import * as x402 from "./wire/x402.js";
import * as auth from "./wire/payment-auth.js";

export interface PaidRouteOptions {
  /** The catalog offer each request of the route costs. */
  readonly offerId: string;
  /** Largest request body read (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** The realm of the Payment challenge (default: the Host header). */
  readonly realm?: string;
}

/** The request as the admission reads it: method, target as sent, headers. */
export interface RequestHead {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** A complete answer that is not the paid resource: status, headers and a problem document. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export type Admission =
  | { readonly kind: "refused"; readonly answer: Answer }
  | {
      readonly kind: "paid";
      readonly receipt: Receipt;
      /** An upto offer: settles the payment for the amount used, never above the maximum (gate.ts). */
      readonly settle?: (used: number) => Promise<UsageSettlement>;
      /** A metered session this request opened or paid a tick of. */
      readonly session?: OpenSession;
      /** The receipt header of the client's format: set it on the response before serving (none for a tick). */
      readonly receiptHeader?: readonly [name: string, value: string];
      /** The response completed: the acknowledgment is spent. */ spend(): void;
      /** The response failed: it may be presented again. */ release(): void;
    };

type Format = "x402" | "payment";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** The receipt headers of both formats, removed from a response that failed after admission. */
export const RECEIPT_HEADERS = [x402.Headers402.response, "payment-receipt"] as const;

/** The request's body, or undefined when it is larger than `limit` bytes. */
export async function readBody(req: AsyncIterable<unknown>, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
    size += bytes.length;
    if (size > limit) return undefined;
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

function credentialOf(headers: IncomingHttpHeaders): { format: Format; credential: Credential | string } | undefined {
  const signature = headers[x402.Headers402.signature];
  if (typeof signature === "string") return { format: "x402", credential: x402.credentialFromSignature(signature.trim()) };
  const authorization = headers.authorization;
  const credential = typeof authorization === "string" ? auth.credentialFromAuthorization(authorization) : undefined;
  return credential === undefined ? undefined : { format: "payment", credential };
}

/** A problem document (RFC 9457) answer with the given extra headers. */
export function problemAnswer(status: number, code: string, detail: string, headers: Record<string, string> = {}): Answer {
  const title = status === 402 ? "Payment required" : status === 401 ? "Payment not accepted" : "Bad payment credential";
  const type = `urn:peage:problem:${code.replace(/^ERR_/, "").toLowerCase().replaceAll("_", "-")}`;
  return {
    status,
    headers: { ...headers, "content-type": "application/problem+json", "cache-control": "no-store" },
    body: JSON.stringify({ type, title, status, detail, code, retryable: true }),
  };
}

function challengeHeaders(challenge: Challenge, req: RequestHead, realm: string | undefined, error?: string) {
  const url = `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
  return {
    "payment-required": x402.paymentRequired(challenge, url, error),
    "www-authenticate": auth.wwwAuthenticate(challenge, realm ?? req.headers.host ?? "peage"),
  };
}

/** Decides what a paid route answers to this request with this body. */
export async function admit(gate: PaymentGate, options: PaidRouteOptions, req: RequestHead, body: Buffer): Promise<Admission> {
  const facts: RequestFacts = { method: req.method ?? "GET", target: req.url ?? "/", body };
  const tick = req.headers[TICK_HEADER];
  if (typeof tick === "string") return admitTick(gate, options, req, facts, tick);
  const presented = credentialOf(req.headers);
  const fresh = (error?: string) => challengeHeaders(gate.challenge(options.offerId, facts), req, options.realm, error);
  if (presented === undefined) {
    const detail =
      "this resource is paid for per request: pay the offer in the challenge and send the request again with the credential";
    return { kind: "refused", answer: problemAnswer(402, "ERR_PAYMENT_REQUIRED", detail, fresh()) };
  }
  const refuse = (code: string, detail: string): Admission => ({
    kind: "refused",
    answer: problemAnswer(presented.format === "x402" ? 402 : 401, code, detail, fresh(detail)),
  });
  if (typeof presented.credential === "string") return refuse("ERR_MALFORMED_CREDENTIAL", presented.credential);
  const redemption = await gate.redeem(options.offerId, facts, presented.credential);
  if (!redemption.ok) return refuse(redemption.code, redemption.detail);
  const receiptHeader =
    presented.format === "x402"
      ? ([x402.Headers402.response, x402.paymentResponse(redemption.receipt)] as const)
      : (["payment-receipt", auth.paymentReceipt(redemption.receipt)] as const);
  const { receipt, settle, spend, release, session } = redemption;
  return { kind: "paid", receipt, receiptHeader, spend, release, ...(settle ? { settle } : {}), ...(session ? { session } : {}) };
}

/** A request paid by the next tick of an open metered session: checked offline, refused with a fresh challenge. */
function admitTick(
  gate: PaymentGate,
  options: PaidRouteOptions,
  req: RequestHead,
  facts: RequestFacts,
  header: string,
): Admission {
  const proof = tickProof(header.trim());
  const outcome = proof ? gate.tick(options.offerId, proof) : undefined;
  if (!outcome?.ok) {
    const code = outcome?.code ?? "ERR_MALFORMED_CREDENTIAL";
    const detail = outcome?.detail ?? `${TICK_HEADER} is not base64url of {"session", "ticks", "word"}`;
    const headers = challengeHeaders(gate.challenge(options.offerId, facts), req, options.realm, detail);
    return { kind: "refused", answer: problemAnswer(402, code, detail, headers) };
  }
  const { receipt, spend, release, session } = outcome;
  return { kind: "paid", receipt, spend, release, ...(session ? { session } : {}) };
}

/** The answer when the body is over the limit. */
export const tooLarge = (): Answer =>
  problemAnswer(413, "ERR_PAYLOAD_TOO_LARGE", "the request body is larger than this route accepts");

/** The answer when the paid handler failed before sending anything. */
export const handlerFailed = (): Answer =>
  problemAnswer(500, "ERR_INTERNAL", "the paid handler failed: send the same request with the same credential again");

/**
 * Spends the acknowledgment when `res` completes with a status below 500, releases it when the
 * response fails or the connection drops before it is complete.
 */
export function settleOnCompletion(res: ServerResponse, admission: Extract<Admission, { kind: "paid" }>): void {
  // A response that fails carries no receipt, whoever writes it (the route, Express's error handler…).
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    if (status >= 500) for (const name of RECEIPT_HEADERS) this.removeHeader(name);
    return (writeHead as (...args: unknown[]) => ServerResponse).call(this, status, ...rest);
  } as ServerResponse["writeHead"];
  res.once("finish", () => (res.statusCode < 500 ? admission.spend() : admission.release()));
  res.once("close", () => {
    if (!res.writableFinished) admission.release();
  });
}

/** Writes an answer on a Node response. */
export function writeAnswer(res: ServerResponse, answer: Answer): void {
  res.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.end(answer.body);
}
