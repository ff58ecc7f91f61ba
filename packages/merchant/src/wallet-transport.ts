/**
 * How offers reach the user's wallet. The default transport finds the running wallet through its
 * endpoint file ({url, token, pid}, written by the wallet with mode 0600: $PEAGE_WALLET_FILE or
 * ~/.peage/wallet.json), re-read for every payment so a restarted wallet is found again, and
 * POSTs {offer} to {url}/v1/offers with the bearer token. It uses node:http rather than fetch so
 * that no Origin header is ever sent (the wallet refuses those, as web pages send them).
 */
import { request } from "node:http";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { isPlainObject, isVerificationCode, parseStrictJson, PaymentCodes, type Offer, type ProblemCode } from "@peage/protocol";
import { MerchantError, type MerchantErrorCode } from "./errors.js";

export interface WalletTransport {
  /** Sends message 1 and resolves with what the wallet returned as message 3 (not yet verified). */
  submit(offer: Offer, options: { readonly signal: AbortSignal }): Promise<unknown>;
  /** A metered session offer: message 3 (not yet verified) and the session the wallet opened (docs/protocol.md §3.12). */
  openSession?(offer: Offer, options: { readonly signal: AbortSignal }): Promise<OpenedSession>;
  /** The word paying tick `ticks` of a session the wallet opened. */
  tick?(session: string, ticks: number, options: { readonly signal: AbortSignal }): Promise<SessionTick>;
}

/** What the wallet answers to a session offer: message 3, and the chain its consent signed. */
export interface OpenedSession {
  readonly acknowledgment: unknown;
  readonly session: { readonly id: string; readonly root: string; readonly length: number };
}

export interface SessionTick {
  readonly ticks: number;
  readonly word: string;
}

export interface HttpWalletTransportOptions {
  /** Default: $PEAGE_WALLET_FILE, else ~/.peage/wallet.json. */
  readonly endpointFile?: string;
  /** Largest answer read from the wallet (default 64 KiB). */
  readonly maxResponseBytes?: number;
}

/** The environment variable naming the wallet's endpoint file (default ~/.peage/wallet.json). */
export const WALLET_FILE_ENV = "PEAGE_WALLET_FILE";

/** Where the wallet's endpoint file is looked for. */
export function defaultEndpointFile(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[WALLET_FILE_ENV];
  return fromEnv && fromEnv.length > 0 ? fromEnv : join(homedir(), ".peage", "wallet.json");
}

interface Endpoint {
  readonly url: URL;
  readonly token: string;
}

/**
 * The wallet reached over its local HTTP service (POST /v1/offers with the bearer token of its
 * endpoint file). Rejects with a MerchantError: ERR_WALLET_UNAVAILABLE when no wallet runs, the
 * wallet's own refusal (ERR_DECLINED, ERR_INSUFFICIENT_FUNDS, …) otherwise.
 */
export class HttpWalletTransport implements WalletTransport {
  readonly endpointFile: string;
  readonly #maxBytes: number;

  constructor(options: HttpWalletTransportOptions = {}) {
    this.endpointFile = options.endpointFile ?? defaultEndpointFile();
    this.#maxBytes = options.maxResponseBytes ?? 64 * 1024;
  }

  async openSession(offer: Offer, options: { readonly signal: AbortSignal }): Promise<OpenedSession> {
    const value = await this.#answer(offer, options.signal);
    const session = isPlainObject(value) ? value["session"] : undefined;
    if (
      !isPlainObject(session) ||
      typeof session["id"] !== "string" ||
      typeof session["root"] !== "string" ||
      typeof session["length"] !== "number"
    )
      throw new MerchantError(
        "ERR_INVALID_ACKNOWLEDGMENT",
        "the wallet opened no session for a session offer: update the wallet",
        {
          retryable: false,
          verificationCode: "ERR_MALFORMED",
        },
      );
    return { acknowledgment: (value as Record<string, unknown>)["acknowledgment"], session: session as OpenedSession["session"] };
  }

  async tick(session: string, ticks: number, options: { readonly signal: AbortSignal }): Promise<SessionTick> {
    const endpoint = await this.#endpoint();
    const answer = await post(endpoint, JSON.stringify({ session, ticks }), options.signal, this.#maxBytes, "/v1/ticks");
    let value: unknown;
    try {
      value = parseStrictJson(answer.text);
    } catch {
      value = undefined;
    }
    if (answer.status !== 200) throw fromProblem(answer.status, value);
    if (!isPlainObject(value) || value["ticks"] !== ticks || typeof value["word"] !== "string")
      throw new MerchantError("ERR_INVALID_ACKNOWLEDGMENT", "the wallet's tick is malformed: update the wallet", {
        retryable: false,
        verificationCode: "ERR_MALFORMED",
      });
    return { ticks, word: value["word"] };
  }

  async submit(offer: Offer, options: { readonly signal: AbortSignal }): Promise<unknown> {
    const value = await this.#answer(offer, options.signal);
    return (value as Record<string, unknown>)["acknowledgment"];
  }

  /** The wallet's 200 answer to an offer (an object with an acknowledgment), or its refusal thrown. */
  async #answer(offer: Offer, signal: AbortSignal): Promise<unknown> {
    const endpoint = await this.#endpoint();
    const body = JSON.stringify({ offer });
    const answer = await post(endpoint, body, signal, this.#maxBytes);
    let value: unknown;
    try {
      value = parseStrictJson(answer.text);
    } catch {
      value = undefined;
    }
    if (answer.status === 200) {
      if (!isPlainObject(value) || !("acknowledgment" in value)) {
        throw new MerchantError(
          "ERR_INVALID_ACKNOWLEDGMENT",
          "the wallet answered without an acknowledgment: nothing was proven paid; update the wallet",
          {
            retryable: false,
            verificationCode: "ERR_MALFORMED",
          },
        );
      }
      return value;
    }
    throw fromProblem(answer.status, value);
  }

  async #endpoint(): Promise<Endpoint> {
    let text: string;
    try {
      text = await readFile(this.endpointFile, "utf8");
    } catch {
      throw new MerchantError(
        "ERR_WALLET_UNAVAILABLE",
        `no wallet is running (no endpoint file at ${this.endpointFile}): ask the user to start their Péage wallet`,
        {
          retryable: true,
        },
      );
    }
    const unusable = (why: string) =>
      new MerchantError(
        "ERR_WALLET_UNAVAILABLE",
        `the wallet's endpoint file ${this.endpointFile} is unusable (${why}): ask the user to restart their wallet`,
        {
          retryable: true,
        },
      );
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw unusable("not JSON");
    }
    if (!isPlainObject(value) || typeof value["url"] !== "string" || typeof value["token"] !== "string")
      throw unusable("no url or token");
    let url: URL;
    try {
      url = new URL(value["url"]);
    } catch {
      throw unusable("bad url");
    }
    // The wallet only ever listens on the loopback interface; the token must not go anywhere else.
    if (url.protocol !== "http:" || !["127.0.0.1", "localhost"].includes(url.hostname) || !url.port)
      throw unusable("not a loopback address");
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(value["token"])) throw unusable("bad token");
    return { url, token: value["token"] };
  }
}

interface RawAnswer {
  readonly status: number;
  readonly text: string;
}

function post(endpoint: Endpoint, body: string, signal: AbortSignal, maxBytes: number, path = "/v1/offers"): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(timeout());
    const req = request(
      {
        host: endpoint.url.hostname,
        port: endpoint.url.port,
        path,
        method: "POST",
        headers: {
          host: `${endpoint.url.hostname}:${endpoint.url.port}`,
          authorization: `Bearer ${endpoint.token}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          accept: "application/json, application/problem+json",
        },
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy();
            reject(
              new MerchantError("ERR_INVALID_ACKNOWLEDGMENT", "the wallet's answer is too large to be an acknowledgment", {
                retryable: false,
                verificationCode: "ERR_MALFORMED",
              }),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (error) => reject(signal.aborted ? timeout() : unreachable(error)));
      },
    );
    req.on("error", (error) => reject(signal.aborted ? timeout() : unreachable(error)));
    req.end(body);
  });
}

function timeout(): MerchantError {
  return new MerchantError(
    "ERR_TIMEOUT",
    "no answer from the wallet in the time allowed: the user may still be deciding; offer to try again",
    { retryable: true },
  );
}

function unreachable(cause: Error): MerchantError {
  return new MerchantError(
    "ERR_WALLET_UNAVAILABLE",
    `the wallet cannot be reached (${cause.message}): ask the user to start or restart their Péage wallet`,
    {
      retryable: true,
      cause,
    },
  );
}

const paymentCodes = new Set<string>(PaymentCodes);

/** Maps the wallet's RFC 9457 problem to the publisher's few cases. */
export function fromProblem(status: number, value: unknown): MerchantError {
  const code = isPlainObject(value) ? value["code"] : undefined;
  const detail =
    isPlainObject(value) && typeof value["detail"] === "string" ? value["detail"] : `the wallet answered HTTP ${status}`;
  const retryable = isPlainObject(value) && typeof value["retryable"] === "boolean" ? value["retryable"] : status >= 500;
  if (isVerificationCode(code)) {
    // The wallet verifies the payment server's acknowledgment too; it answers 502 when that failed.
    if (status === 502) {
      return new MerchantError(
        "ERR_INVALID_ACKNOWLEDGMENT",
        `the payment server's acknowledgment did not verify (${code}): nothing may be unlocked; ${detail}`,
        { retryable: false, reason: code, verificationCode: code },
      );
    }
    return new MerchantError(
      "ERR_PAYMENT_FAILED",
      `the wallet refused the offer (${code}): ${detail}; check the catalog and this machine's clock`,
      { retryable: false, reason: code, verificationCode: code },
    );
  }
  if (typeof code !== "string" || !paymentCodes.has(code)) {
    return new MerchantError(
      "ERR_PAYMENT_FAILED",
      `the wallet answered HTTP ${status} without a known problem code: update the wallet`,
      { retryable },
    );
  }
  const reason = code as ProblemCode;
  const outcome = PaymentOutcomes[reason];
  if (!outcome) {
    return new MerchantError("ERR_PAYMENT_FAILED", `the payment did not go through (${reason}): ${detail}`, {
      retryable,
      reason,
    });
  }
  return new MerchantError(outcome.code, outcome.says(reason), { retryable: outcome.retryable, reason });
}

/** A publisher's case: its code, whether trying again may help, and the sentence that says what to do. */
interface Outcome {
  readonly code: MerchantErrorCode;
  readonly retryable: boolean;
  readonly says: (reason: ProblemCode) => string;
}

const declined: Outcome = {
  code: "ERR_DECLINED",
  retryable: false,
  says: (reason) => `the user did not agree to pay (${reason}): continue without what this offer unlocks`,
};
const notCovered: Outcome = {
  code: "ERR_INSUFFICIENT_FUNDS",
  retryable: false,
  says: (reason) => `the user's balance or limit does not cover this (${reason}): suggest topping up, then try again`,
};
const walletDown: Outcome = {
  code: "ERR_WALLET_UNAVAILABLE",
  retryable: true,
  says: (reason) => `the wallet cannot take payments now (${reason}): ask the user to unlock or restart it`,
};

/** The wallet's problem codes that are one of the publisher's cases; any other is ERR_PAYMENT_FAILED. */
const PaymentOutcomes: Partial<Record<ProblemCode, Outcome>> = {
  ERR_DECLINED: declined,
  ERR_RULE_REFUSED: declined,
  ERR_INSUFFICIENT_FUNDS: notCovered,
  ERR_LIMIT_EXCEEDED: notCovered,
  ERR_WALLET_LOCKED: walletDown,
  ERR_WALLET_UNAVAILABLE: walletDown,
  ERR_UNAUTHORIZED: walletDown,
  ERR_CONSENT_UNAVAILABLE: {
    code: "ERR_WALLET_UNAVAILABLE",
    retryable: true,
    says: (reason) =>
      `the wallet could not show the offer to anybody (${reason}): ask the user to start it where it can, then try again`,
  },
  ERR_CARD_UNREADABLE: {
    code: "ERR_WALLET_UNAVAILABLE",
    retryable: true,
    says: (reason) =>
      `the user's card could not be read (${reason}): ask the user to put it back in, or take it out to pay online`,
  },
  ERR_TIMEOUT: {
    code: "ERR_TIMEOUT",
    retryable: true,
    says: (reason) => `the payment took too long (${reason}): offer to try again`,
  },
};
