/**
 * The operator's side of the payment server's HTTP API, with an API key: what `peage admin` and the
 * demo call. A refusal becomes a CommandError with the server's own problem code and detail.
 */
import { isProblemCode, rateTable, type Price, type RateTable } from "@peage/protocol";
import { CommandError } from "./errors.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

/** A client of the operator API at `url`, authenticated by the API key `secret`. */
export class Operator {
  constructor(
    readonly url: string,
    readonly secret: string,
  ) {}

  async call<T = unknown>(method: HttpMethod, path: string, body?: unknown): Promise<T> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.secret}`,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
      text = await response.text();
    } catch (cause) {
      throw new CommandError(
        "ERR_SERVER_UNAVAILABLE",
        `${method} ${path}: the payment server cannot be reached: ${(cause as Error).message}`,
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (!response.ok) {
      const problem = value as { code?: unknown; detail?: string } | undefined;
      const code = problem?.code;
      throw new CommandError(
        isProblemCode(code) ? code : "ERR_OPERATOR_API",
        `${method} ${path} answered ${response.status}: ${problem?.detail ?? text.slice(0, 200)}`,
      );
    }
    return value as T;
  }

  /** GET /v1/rates: the reference rates the server converts with. */
  async rates(): Promise<RateTable> {
    const table = await this.call<{ base: string; date: string; rates: Record<string, string> }>("GET", "/v1/rates");
    return rateTable(table.base, table.date, table.rates);
  }

  /** The user's prepaid balance, as the server holds it. */
  async balance(user: string): Promise<Price> {
    const account = await this.call<{ balance?: Price }>("GET", `/v1/admin/users/${user}`);
    if (!account.balance) throw new CommandError("ERR_OPERATOR_API", `${user} has no prepaid balance`);
    return account.balance;
  }

  /** Every payment of the user the server recorded, oldest first. */
  async payments(user: string): Promise<{ paymentId: string; charged: Price; serverTime: string }[]> {
    const all: { paymentId: string; charged: Price; serverTime: string }[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.call<{
        payments: { paymentId: string; charged: Price; serverTime: string }[];
        nextCursor?: string;
      }>("GET", `/v1/admin/payments?user=${encodeURIComponent(user)}&limit=100${cursor ? `&cursor=${cursor}` : ""}`);
      all.push(...page.payments.map(({ paymentId, charged, serverTime }) => ({ paymentId, charged, serverTime })));
      cursor = page.nextCursor;
    } while (cursor);
    return all;
  }
}
