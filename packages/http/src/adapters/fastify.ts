/**
 * Paid routes in Fastify 5, as route hooks:
 *
 *   app.post("/translate", { ...paid(gate, { offerId: "translate" }) }, (request) => request.peage!.receipt)
 *
 * The payment is bound to the body's bytes, so the work happens in `preParsing`, where Fastify
 * hands over the raw stream: the hook reads it, admits or refuses the request (admission.ts, the
 * same rules as on node:http), and gives Fastify the same bytes to parse. A response that ends
 * with a status of 500 or more loses its receipt header and releases the acknowledgment for a retry.
 */
import { Readable } from "node:stream";
import type { FastifyReply, FastifyRequest, onSendHookHandler, preParsingHookHandler } from "fastify";
import {
  admit,
  DEFAULT_MAX_BODY_BYTES,
  readBody,
  RECEIPT_HEADERS,
  settleOnCompletion,
  tooLarge,
  type Answer,
  type PaidRouteOptions,
} from "../admission.js";
import type { PaymentGate } from "../gate.js";
import { paidState, type PaidState } from "../node.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by @peage/http once the request is paid. */
    peage?: PaidState;
  }
}

function send(reply: FastifyReply, answer: Answer): FastifyReply {
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

/** The route hooks that make a Fastify route paid per request. */
export function paid(
  gate: PaymentGate,
  options: PaidRouteOptions,
): { preParsing: preParsingHookHandler; onSend: onSendHookHandler } {
  const preParsing = async (request: FastifyRequest, reply: FastifyReply, payload: NodeJS.ReadableStream) => {
    const body = await readBody(payload as AsyncIterable<unknown>, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    if (body === undefined) return send(reply, tooLarge());
    const admission = await admit(gate, options, request.raw, body);
    if (admission.kind === "refused") return send(reply, admission.answer);
    if (admission.receiptHeader) void reply.header(...admission.receiptHeader);
    settleOnCompletion(reply.raw, admission);
    request.peage = paidState(admission, body);
    return Readable.from(body.length === 0 ? [] : [body]);
  };
  const onSend = async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (reply.statusCode >= 500) for (const name of RECEIPT_HEADERS) void reply.removeHeader(name);
    return payload;
  };
  return { preParsing: preParsing as unknown as preParsingHookHandler, onSend: onSend as unknown as onSendHookHandler };
}
