/**
 * A fetch that pays: when a request is answered 402 (or 401 with a Payment challenge) with a Péage
 * challenge, it checks that the challenge was made for this very request, has the user's wallet pay
 * the offer (the wallet shows it and applies the user's rules and consent), and sends the same
 * request again with the credential, in the wire format the server offered. The body must be given
 * as a string or bytes, so the same bytes can be sent twice and bound to the payment.
 */
import { HttpWalletTransport, type WalletTransport } from "@peage/merchant";
import { isPlainObject, uptoNonce } from "@peage/protocol";
import { boundNonce, type RequestFacts } from "./binding.js";
import type { Challenge } from "./challenge.js";
import * as x402 from "./wire/x402.js";
import * as auth from "./wire/payment-auth.js";

export interface PayingFetchOptions {
  /** The user's wallet: its endpoint file, or a transport of your own (default: the running wallet). */
  readonly wallet?: WalletTransport | { readonly endpointFile?: string };
  readonly fetch?: typeof fetch;
  /** How long the wallet may take, the user included (default 3 minutes). */
  readonly timeoutMs?: number;
  /** The wire format to answer in when the server offers both (default x402). */
  readonly prefer?: "x402" | "payment";
}

export class PaymentRefused extends Error {
  override readonly name = "PaymentRefused";
  constructor(
    message: string,
    readonly response: Response,
  ) {
    super(message);
  }
}

type Found = { format: "x402" | "payment"; challenge: unknown };

function challengeOf(response: Response, prefer: "x402" | "payment"): Found | undefined {
  const found: Found[] = [];
  const required = response.headers.get(x402.Headers402.required);
  if (response.status === 402 && required) {
    const challenge = x402.challengeFromRequired(required);
    if (challenge !== undefined) found.push({ format: "x402", challenge });
  }
  const www = response.headers.get("www-authenticate");
  if ((response.status === 402 || response.status === 401) && www) {
    const challenge = auth.challengeFromWwwAuthenticate(www);
    if (challenge !== undefined) found.push({ format: "payment", challenge });
  }
  return found.find((f) => f.format === prefer) ?? found[0];
}

function bodyBytes(body: RequestInit["body"]): Uint8Array {
  if (body === undefined || body === null) return new Uint8Array();
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  throw new TypeError("a paid request's body must be a string or a Uint8Array, so that the paid bytes are the sent bytes");
}

/** The nonce a challenge for this request must carry: bound to it, and for an upto offer to the settlement key's commitment. */
function expectedNonce(challenge: Challenge, facts: RequestFacts): string | undefined {
  const bound = boundNonce(challenge.salt, facts);
  if ((challenge.offer.terms as { upto?: unknown } | undefined)?.upto !== true) return bound;
  return typeof challenge.commitment === "string" ? uptoNonce(challenge.commitment, bound) : undefined;
}

/** Returns a fetch that pays Péage challenges through the user's wallet. */
export function payingFetch(options: PayingFetchOptions = {}): (url: string | URL, init?: RequestInit) => Promise<Response> {
  const doFetch = options.fetch ?? fetch;
  const wallet: WalletTransport =
    options.wallet && "submit" in options.wallet ? options.wallet : new HttpWalletTransport(options.wallet ?? {});
  return async (url, init = {}) => {
    const first = await doFetch(url, init);
    const found = challengeOf(first, options.prefer ?? "x402");
    if (!found) return first;
    await first.body?.cancel();
    const challenge = found.challenge as Challenge;
    if (!isPlainObject(challenge) || !isPlainObject(challenge.offer) || typeof challenge.salt !== "string")
      throw new PaymentRefused("the server's challenge is malformed", first);
    const target = new URL(url);
    const facts = { method: init.method ?? "GET", target: `${target.pathname}${target.search}`, body: bodyBytes(init.body) };
    if (expectedNonce(challenge, facts) !== challenge.offer.nonce)
      throw new PaymentRefused("the server asked payment for another request than this one; nothing was paid", first);
    const signal = AbortSignal.timeout(options.timeoutMs ?? 180_000);
    const acknowledgment = await wallet.submit(challenge.offer, { signal });
    const headers = new Headers(init.headers);
    if (found.format === "x402") headers.set(x402.Headers402.signature, x402.paymentSignature(challenge, acknowledgment));
    else headers.set("authorization", auth.authorization(challenge, acknowledgment));
    return doFetch(url, { ...init, headers });
  };
}
