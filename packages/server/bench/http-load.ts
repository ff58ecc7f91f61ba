/**
 * The server benchmarks' load generator: POST /v1/payments over node:http with keep-alive
 * connections, as cheap as it can be made while every answer is still checked, because it shares
 * the machine's cores with the server and every microsecond it spends is one the server lacks.
 *
 *   - Requests are prepared before the timed window: the payment request signed, serialised to
 *     the bytes sent, and the claim its acknowledgment must carry (its nonce) ready to look for.
 *   - Each answer must be 200 and an acknowledgment of that very request: the payload of the JWS
 *     it returns is decoded and must hold the request's nonce and a payment id. That costs a
 *     base64url decode and two byte searches, no JSON parse and no signature check.
 *   - The full check a merchant makes (chain, signature, offer hash, price, nonce, date:
 *     verifyAcknowledgment) is made on a sample of the answers, after the timed window, and
 *     counted; one that fails counts as an error of its load.
 */
import { Agent, request as httpRequest } from "node:http";
import type { Offer } from "@peage/protocol";

/** A payment request ready to send. */
export interface PreparedPayment {
  /** The request's JSON, as sent. */
  readonly body: Buffer;
  /** `"nonce":"…"` as RFC 8785 writes it in the acknowledgment's claims: what ties an answer to this request. */
  readonly nonceClaim: Buffer;
  /** The offer paid for, for the full check of a sampled answer. */
  readonly offer: Offer;
}

export function preparePayment(request: unknown, offer: Offer): PreparedPayment {
  return {
    body: Buffer.from(JSON.stringify(request)),
    nonceClaim: Buffer.from(`"nonce":${JSON.stringify(offer.nonce)}`),
    offer,
  };
}

/** Answers that were not acknowledgments of their request, by kind and HTTP status: how many, and the first one's start. */
export type Problems = Map<string, { count: number; first: string }>;

/** What became of one request. */
export type Outcome = "acknowledged" | "refused" | "not-this-request" | "failed";

const TOKEN_START = Buffer.from('"acknowledgment":"');
const PAYMENT_ID = Buffer.from('"paymentId":"');
const QUOTE = 0x22;
const DOT = 0x2e;

/**
 * Whether an answer's body is an acknowledgment of the request whose nonce claim is given: the
 * JWS payload (between the token's two dots) decoded, holding that nonce and a payment id.
 */
export function acknowledges(body: Buffer, nonceClaim: Buffer): boolean {
  const start = body.indexOf(TOKEN_START);
  if (start < 0) return false;
  const token = start + TOKEN_START.length;
  const end = body.indexOf(QUOTE, token);
  const first = body.indexOf(DOT, token);
  const second = first < 0 ? -1 : body.indexOf(DOT, first + 1);
  if (end < 0 || first < 0 || second < 0 || second > end) return false;
  const payload = Buffer.from(body.toString("latin1", first + 1, second), "base64url");
  return payload.includes(nonceClaim) && payload.includes(PAYMENT_ID);
}

/** Answers kept for the full check after the timed window: one in `every`. */
export class AnswerSample {
  private readonly kept: { readonly body: Buffer; readonly payment: PreparedPayment }[] = [];
  private seen = 0;
  verified = 0;
  failed = 0;

  constructor(private readonly every: number) {}

  offer(body: Buffer, payment: PreparedPayment): void {
    if (this.seen++ % this.every === 0) this.kept.push({ body, payment });
  }

  /** Checks what was kept with `check` and forgets it; returns how many failed in this call. */
  async drain(check: (answer: unknown, offer: Offer) => Promise<boolean>): Promise<number> {
    let failed = 0;
    for (const { body, payment } of this.kept.splice(0)) {
      if (await check(JSON.parse(body.toString("utf8")), payment.offer)) this.verified++;
      else failed++;
    }
    this.failed += failed;
    return failed;
  }
}

/**
 * A client of one server's POST /v1/payments: at most `maxSockets` connections, kept alive
 * between requests (Infinity for a load on a timer, whose requests must never wait for a socket).
 */
export class PaymentClient {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;
  readonly problems: Problems = new Map();

  constructor(
    url: string,
    maxSockets: number,
    private readonly sample?: AnswerSample,
  ) {
    const parsed = new URL(url);
    this.host = parsed.hostname;
    this.port = Number(parsed.port);
    this.agent = new Agent({ keepAlive: true, maxSockets, scheduling: "lifo" });
  }

  post(payment: PreparedPayment): Promise<Outcome> {
    return new Promise((resolve) => {
      const request = httpRequest(
        {
          agent: this.agent,
          host: this.host,
          port: this.port,
          method: "POST",
          path: "/v1/payments",
          headers: { "content-type": "application/json", "content-length": payment.body.length },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => {
            const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
            resolve(this.judge(response.statusCode ?? 0, body, payment));
          });
          response.on("error", () => resolve(this.count("failed", "the answer broke off", "")));
        },
      );
      request.on("error", (error) => resolve(this.count("failed", error.message, "")));
      request.end(payment.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private judge(status: number, body: Buffer, payment: PreparedPayment): Outcome {
    if (status !== 200) return this.count("refused", `HTTP ${status}`, body.toString("utf8", 0, 300));
    if (!acknowledges(body, payment.nonceClaim)) return this.count("not-this-request", "HTTP 200", body.toString("utf8", 0, 300));
    this.sample?.offer(body, payment);
    return "acknowledged";
  }

  private count(outcome: Exclude<Outcome, "acknowledged">, kind: string, first: string): Outcome {
    const key = `${outcome} (${kind})`;
    const seen = this.problems.get(key);
    if (seen) seen.count++;
    else this.problems.set(key, { count: 1, first });
    return outcome;
  }
}

/** A sentence for a report on the answers that were not acknowledgments of their request, or nothing if there were none. */
export function describeProblems(problems: Problems): string {
  if (problems.size === 0) return "";
  const each = [...problems].map(
    ([kind, { count, first }]) => `${count} × ${kind}, the first: \`${first.replace(/[`\r\n]/g, " ")}\``,
  );
  return ` Answers that were not acknowledgments of their request: ${each.join("; ")}.`;
}
