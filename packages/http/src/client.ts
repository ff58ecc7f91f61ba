/**
 * A fetch that pays: when a request is answered 402 (or 401 with a Payment challenge) with a Péage
 * challenge, it checks that the challenge was made for this very request, has the user's wallet pay
 * the offer (the wallet shows it and applies the user's rules and consent), and sends the same
 * request again with the credential, in the wire format the server offered. The body must be given
 * as a string or bytes, so the same bytes can be sent twice and bound to the payment.
 */
import { HttpWalletTransport, type WalletTransport } from "@peage/merchant";
import { isPlainObject, PeageError, uptoNonce } from "@peage/protocol";
import { boundNonce, type RequestFacts } from "./binding.js";
import type { Challenge } from "./challenge.js";
import { TICK_HEADER, tickHeader } from "./sessions.js";
import * as x402 from "./wire/x402.js";
import * as auth from "./wire/payment-auth.js";

/** Options of {@link payingFetch}. */
export interface PayingFetchOptions {
  /** The user's wallet: its endpoint file, or a transport of your own (default: the running wallet). */
  readonly wallet?: WalletTransport | { readonly endpointFile?: string };
  /** The fetch to send requests with (default the global fetch). */
  readonly fetch?: typeof fetch;
  /** How long the wallet may take, the user included (default 3 minutes). */
  readonly timeoutMs?: number;
  /** The wire format to answer in when the server offers both (default x402). */
  readonly prefer?: "x402" | "payment";
}

/**
 * The server's 402 answer cannot be paid: its challenge is malformed, or it asks payment for
 * another request than the one sent. Nothing was paid; `response` is the server's answer.
 */
export class PaymentRefused extends PeageError<"ERR_PAYMENT_REFUSED"> {
  override readonly name = "PaymentRefused";
  constructor(
    message: string,
    readonly response: Response,
  ) {
    super("ERR_PAYMENT_REFUSED", message);
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

/** The route a session is kept for: origin and path, without the query. */
function routeOf(url: string | URL): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

/** The nonce a challenge for this request must carry: bound to it, and for an upto offer to the settlement key's commitment. */
function expectedNonce(challenge: Challenge, facts: RequestFacts): string | undefined {
  const bound = boundNonce(challenge.salt, facts);
  if ((challenge.offer.terms as { upto?: unknown } | undefined)?.upto !== true) return bound;
  return typeof challenge.commitment === "string" ? uptoNonce(challenge.commitment, bound) : undefined;
}

/**
 * Returns a fetch that pays Péage challenges through the user's wallet: on a 402 with a Péage
 * challenge (x402 or the "Payment" scheme), it has the wallet pay the offer and sends the request
 * again with the acknowledgment. It rejects with a {@link PaymentRefused} when the challenge is
 * malformed or bound to another request, and with the wallet's MerchantError (ERR_DECLINED,
 * ERR_WALLET_UNAVAILABLE, …) when the payment fails; nothing is paid then.
 *
 * @example
 * ```ts
 * import { payingFetch } from "@peage/http";
 *
 * const paying = payingFetch({ timeoutMs: 60_000 });
 * const response = await paying("http://localhost:8080/forecast"); // 402, paid, 200
 * console.log(await response.text());
 * ```
 */
export function payingFetch(options: PayingFetchOptions = {}): (url: string | URL, init?: RequestInit) => Promise<Response> {
  const doFetch = options.fetch ?? fetch;
  const wallet: WalletTransport =
    options.wallet && "submit" in options.wallet ? options.wallet : new HttpWalletTransport(options.wallet ?? {});
  // Metered sessions this fetch opened, by route (origin and path): later calls pay with the next tick.
  const sessions = new Map<string, { id: string; ticks: number; length: number }>();
  const timeout = () => AbortSignal.timeout(options.timeoutMs ?? 180_000);
  const withTick = async (url: string | URL, init: RequestInit): Promise<Response | undefined> => {
    const route = routeOf(url);
    const open = sessions.get(route);
    if (!open || open.ticks >= open.length || !wallet.tick) return undefined;
    const { word } = await wallet.tick(open.id, open.ticks + 1, { signal: timeout() });
    open.ticks++;
    const headers = new Headers(init.headers);
    headers.set(TICK_HEADER, tickHeader({ session: open.id, ticks: open.ticks, word }));
    const response = await doFetch(url, { ...init, headers });
    if (response.status === 402) sessions.delete(route);
    return response;
  };
  return async (url, init = {}) => {
    const first = (await withTick(url, init)) ?? (await doFetch(url, init));
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
    const signal = timeout();
    let acknowledgment: unknown;
    let session: { root: string; length: number; ticks: number; word: string } | undefined;
    if (challenge.offer.terms.tick === undefined) acknowledgment = await wallet.submit(challenge.offer, { signal });
    else {
      if (!wallet.openSession || !wallet.tick)
        throw new PaymentRefused("this route is paid by metered session, which this wallet transport cannot open", first);
      const opened = await wallet.openSession(challenge.offer, { signal });
      const { word } = await wallet.tick(opened.session.id, 1, { signal });
      acknowledgment = opened.acknowledgment;
      session = { root: opened.session.root, length: opened.session.length, ticks: 1, word };
      sessions.set(routeOf(url), { id: opened.session.id, ticks: 1, length: opened.session.length });
    }
    const headers = new Headers(init.headers);
    if (found.format === "x402")
      headers.set(x402.Headers402.signature, x402.paymentSignature(challenge, acknowledgment, session));
    else headers.set("authorization", auth.authorization(challenge, acknowledgment, session));
    return doFetch(url, { ...init, headers });
  };
}
