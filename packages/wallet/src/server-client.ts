/**
 * The wallet's client of the payment server's HTTP API: POST /v1/payments (message 2 in,
 * message 3 or an RFC 9457 problem out), GET /v1/rates, and two requests signed with the user's
 * key: GET /v1/me (the account, for its currency) and GET /v1/me/acknowledgments/{nonce} (message 3
 * of a payment whose answer was lost).
 *
 * A payment is retried with the SAME bytes on network errors and 5xx answers: the server is
 * idempotent on the request, so a retry of a payment it already recorded returns the same
 * acknowledgment instead of charging twice.
 */
import {
  isCurrencyCode,
  isPlainObject,
  isProblemCode,
  rateTable,
  signUserRequest,
  tryParseStrictJson,
  type Clock,
  type CurrencyCode,
  type KeyPair,
  type PartyId,
  type PaymentRequest,
  type RateTable,
} from "@peage/protocol";
import { serverUrlProblem } from "./config.js";
import { WalletError } from "./errors.js";

export interface ServerClientOptions {
  /** Per attempt (default 10 s). */
  readonly attemptTimeoutMs?: number;
  /** Retries after the first attempt, for network errors and 5xx (default 3). */
  readonly retries?: number;
  /** First back-off delay, doubled each retry (default 200 ms). */
  readonly backoffMs?: number;
  /** Largest response body read (default 64 KiB). */
  readonly maxResponseBytes?: number;
}

/** Who signs the requests for the user's own records: the user, with the key that signs consents. */
export interface UserSigner {
  readonly user: PartyId<"user">;
  readonly key: KeyPair;
  /** The wallet's clock, which dates the signature: the server accepts it within minutes of its own. */
  readonly clock?: Clock;
}

export class PaymentServerClient {
  readonly #base: string;
  readonly #attemptTimeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #maxBytes: number;

  constructor(baseUrl: string, options: ServerClientOptions = {}) {
    const problem = serverUrlProblem(baseUrl);
    if (problem !== undefined) throw new TypeError(`the payment server URL: ${problem}`);
    this.#base = baseUrl.replace(/\/+$/, "");
    this.#attemptTimeoutMs = options.attemptTimeoutMs ?? 10_000;
    this.#retries = options.retries ?? 3;
    this.#backoffMs = options.backoffMs ?? 200;
    this.#maxBytes = options.maxResponseBytes ?? 64 * 1024;
  }

  /** Sends message 2 and returns the server's answer body (message 3, still to be verified). */
  async pay(request: PaymentRequest): Promise<unknown> {
    const body = JSON.stringify(request);
    let last: WalletError | undefined;
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      if (attempt > 0) await sleep(this.#backoffMs * 2 ** (attempt - 1));
      let response: Response;
      let text: string;
      try {
        response = await fetch(`${this.#base}/v1/payments`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, application/problem+json" },
          body,
          signal: AbortSignal.timeout(this.#attemptTimeoutMs),
          redirect: "error",
        });
        text = await readBounded(response, this.#maxBytes);
      } catch (cause) {
        if (cause instanceof WalletError) throw cause;
        // Lost before the whole answer arrived: the payment may be recorded, and the retry of the
        // same bytes gets its acknowledgment back.
        last = networkError(cause, this.#base);
        continue;
      }
      if (response.status === 200) {
        const parsed = parseJson(text);
        if (parsed === undefined)
          throw new WalletError(
            "ERR_MALFORMED",
            "the payment server's answer is not JSON: tell the server's operator",
            502,
            false,
          );
        return parsed;
      }
      const error = problemError(response.status, text);
      if (response.status >= 500 && error.retryable) {
        last = error;
        continue;
      }
      throw error;
    }
    throw last ?? new WalletError("ERR_SERVER_UNAVAILABLE", "the payment server could not be reached", 503, true);
  }

  /**
   * GET one of the user's own records (/v1/me…), signed with the user's key as the server's
   * user-auth.ts expects: a JWS over method, exact path, time and a fresh nonce.
   */
  me(path: string, user: string, key: KeyPair, clock: Clock): Promise<unknown> {
    return this.#signedGet(path, { user: user as PartyId<"user">, key }, clock);
  }

  /** The currency the user's account is kept in (GET /v1/me). */
  async accountCurrency(signer: UserSigner): Promise<CurrencyCode> {
    const account = await this.#signedGet("/v1/me", signer, signer.clock);
    const currency = isPlainObject(account) ? account["homeCurrency"] : undefined;
    if (!isCurrencyCode(currency))
      throw new WalletError(
        "ERR_MALFORMED",
        "the payment server's account view names no currency: tell the server's operator",
        502,
        false,
      );
    return currency;
  }

  /**
   * Message 3 of the user's payment of the offer instance `nonce` (still to be verified), or
   * undefined when the server recorded no such payment.
   */
  async acknowledgmentOf(nonce: string, signer: UserSigner): Promise<unknown> {
    try {
      return await this.#signedGet(`/v1/me/acknowledgments/${encodeURIComponent(nonce)}`, signer, signer.clock);
    } catch (error) {
      if (error instanceof WalletError && error.code === "ERR_NOT_FOUND") return undefined;
      throw error;
    }
  }

  /** One GET signed with the user's key (a fresh signature each time: the server accepts each once). */
  async #signedGet(path: string, signer: UserSigner, clock?: Clock): Promise<unknown> {
    let response: Response;
    let text: string;
    try {
      const authorization = await signUserRequest({
        user: signer.user,
        key: signer.key,
        method: "GET",
        path,
        ...(clock && { clock }),
      });
      response = await fetch(`${this.#base}${path}`, {
        headers: { authorization, accept: "application/json, application/problem+json" },
        signal: AbortSignal.timeout(this.#attemptTimeoutMs),
        redirect: "error",
      });
      // The user's records (/v1/me/payments) can be long: a larger bound than for one payment.
      text = await readBounded(response, this.#maxBytes * 64);
    } catch (cause) {
      if (cause instanceof WalletError) throw cause;
      throw networkError(cause, this.#base);
    }
    if (response.status !== 200) throw problemError(response.status, text);
    const value = parseJson(text);
    if (value === undefined)
      throw new WalletError("ERR_MALFORMED", "the payment server's answer is not JSON: tell the server's operator", 502, false);
    return value;
  }

  /** The server's reference rates, or undefined when they cannot be had (the user is then asked). */
  async rates(): Promise<RateTable | undefined> {
    try {
      const response = await fetch(`${this.#base}/v1/rates`, {
        signal: AbortSignal.timeout(this.#attemptTimeoutMs),
        redirect: "error",
      });
      if (response.status !== 200) return undefined;
      const value = parseJson(await readBounded(response, this.#maxBytes));
      if (
        !isPlainObject(value) ||
        typeof value["base"] !== "string" ||
        typeof value["date"] !== "string" ||
        !isPlainObject(value["rates"])
      )
        return undefined;
      return rateTable(value["base"], value["date"], value["rates"] as Record<string, string>);
    } catch {
      return undefined;
    }
  }
}

/** An RFC 9457 problem from the server as a wallet error; anything else becomes ERR_SERVER_UNAVAILABLE. */
export function problemError(status: number, text: string): WalletError {
  const value = parseJson(text);
  const code = isPlainObject(value) ? value["code"] : undefined;
  if (isPlainObject(value) && isProblemCode(code)) {
    const detail = typeof value["detail"] === "string" ? value["detail"] : `the payment server answered ${status}`;
    const retryable = typeof value["retryable"] === "boolean" ? value["retryable"] : status >= 500;
    return new WalletError(code, `payment server: ${detail}`, status >= 400 && status < 600 ? status : 502, retryable);
  }
  return new WalletError(
    "ERR_SERVER_UNAVAILABLE",
    `the payment server answered ${status} without a problem document`,
    502,
    status >= 500,
  );
}

export function networkError(cause: unknown, base: string): WalletError {
  const name = (cause as { name?: string }).name;
  if (name === "TimeoutError" || name === "AbortError") {
    return new WalletError("ERR_TIMEOUT", `the payment server at ${base} did not answer in time: try again later`, 504, true);
  }
  return new WalletError(
    "ERR_SERVER_UNAVAILABLE",
    `the payment server at ${base} cannot be reached: check the network and try again`,
    503,
    true,
  );
}

async function readBounded(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new WalletError(
      "ERR_PAYLOAD_TOO_LARGE",
      "the payment server's answer is too large: tell the server's operator",
      502,
      false,
    );
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > maxBytes)
        throw new WalletError(
          "ERR_PAYLOAD_TOO_LARGE",
          "the payment server's answer is too large: tell the server's operator",
          502,
          false,
        );
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The server's answer as JSON; undefined for anything else, duplicate member names included. */
function parseJson(text: string): unknown {
  return tryParseStrictJson(text);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
