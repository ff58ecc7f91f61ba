/**
 * The x402 v2 HTTP transport (x402-foundation/x402, specs/transports-v2/http.md) with Péage as the
 * scheme: `PAYMENT-REQUIRED` (server → client) lists a `peage` requirement whose `extra.challenge`
 * is the sealed offer; `PAYMENT-SIGNATURE` (client → server) carries the challenge and message 3 as
 * its `payload`; `PAYMENT-RESPONSE` (server → client) is the settlement response, with the
 * acknowledgment. Each header is base64 (RFC 4648 §4) of a JSON object.
 */
import { isPlainObject, type Offer } from "@peage/protocol";
import type { Challenge } from "../challenge.js";
import type { Credential, Receipt } from "../gate.js";

export const X402_VERSION = 2;
export const SCHEME = "peage";
/** The x402 `network` of Péage: the protocol and its version, as a CAIP-2-style id. */
export const NETWORK = "peage:1";

export const Headers402 = { required: "payment-required", signature: "payment-signature", response: "payment-response" } as const;

const encode = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8").toString("base64");

function decode(text: string): unknown {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length > 64 * 1024) return undefined;
  try {
    return JSON.parse(Buffer.from(text, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
}

function requirement(challenge: Challenge) {
  const offer: Offer = challenge.offer;
  const seconds = Math.max(1, Math.floor((Date.parse(offer.expiresAt) - Date.parse(offer.date)) / 1000));
  return {
    scheme: SCHEME,
    network: NETWORK,
    amount: String(offer.terms.price.amount),
    asset: offer.terms.price.currency,
    payTo: offer.terms.publisher,
    maxTimeoutSeconds: seconds,
    extra: { challenge },
  };
}

/** The PAYMENT-REQUIRED header value for a challenge on `url`. */
export function paymentRequired(challenge: Challenge, url: string, error?: string): string {
  return encode({
    x402Version: X402_VERSION,
    ...(error === undefined ? {} : { error }),
    resource: { url, description: challenge.offer.terms.description },
    accepts: [requirement(challenge)],
  });
}

/** The Péage challenge of a PAYMENT-REQUIRED header, if it offers one. */
export function challengeFromRequired(header: string): unknown {
  const value = decode(header);
  if (!isPlainObject(value) || value["x402Version"] !== X402_VERSION || !Array.isArray(value["accepts"])) return undefined;
  const accepted = value["accepts"].find(
    (item) => isPlainObject(item) && item["scheme"] === SCHEME && item["network"] === NETWORK,
  );
  return isPlainObject(accepted) && isPlainObject(accepted["extra"]) ? accepted["extra"]["challenge"] : undefined;
}

/** The PAYMENT-SIGNATURE header value answering `challenge` with message 3. */
export function paymentSignature(challenge: Challenge, acknowledgment: unknown, session?: unknown): string {
  const payload = { challenge, acknowledgment, ...(session === undefined ? {} : { session }) };
  return encode({ x402Version: X402_VERSION, accepted: requirement(challenge), payload });
}

/** The credential of a PAYMENT-SIGNATURE header, or why it is none. */
export function credentialFromSignature(header: string): Credential | string {
  const value = decode(header);
  if (!isPlainObject(value)) return "PAYMENT-SIGNATURE is not base64 of a JSON object";
  if (value["x402Version"] !== X402_VERSION) return `PAYMENT-SIGNATURE must be x402Version ${X402_VERSION}`;
  const accepted = value["accepted"];
  if (!isPlainObject(accepted) || accepted["scheme"] !== SCHEME || accepted["network"] !== NETWORK)
    return `PAYMENT-SIGNATURE accepts another scheme than ${SCHEME} on ${NETWORK}`;
  const payload = value["payload"];
  if (!isPlainObject(payload) || !("challenge" in payload) || !("acknowledgment" in payload))
    return "PAYMENT-SIGNATURE's payload must hold challenge and acknowledgment";
  return { challenge: payload["challenge"], acknowledgment: payload["acknowledgment"], session: payload["session"] };
}

/** The PAYMENT-RESPONSE header value of a served request. */
export function paymentResponse(receipt: Receipt): string {
  return encode({
    success: true,
    transaction: receipt.paymentId,
    network: NETWORK,
    payer: receipt.user,
    acknowledgment: receipt.acknowledgment,
  });
}

/** The acknowledgment inside a PAYMENT-RESPONSE header. */
export function acknowledgmentFromResponse(header: string): unknown {
  const value = decode(header);
  return isPlainObject(value) && value["success"] === true ? value["acknowledgment"] : undefined;
}
