/**
 * The merchant's call to the payment server that settles a payment charged by use (an upto offer
 * or a metered session) for what was used: POST /v1/payments/{id}/settlement (docs/protocol.md
 * §3.12). The server checks the settlement key against the nonce the user signed, refuses anything
 * above the maximum, and settles once.
 */
import { isPlainObject, type OfferTerms, type Price } from "@peage/protocol";

export interface UsageSettlement {
  readonly paymentId: string;
  /** What the user consented to. */
  readonly maximum: Price;
  /** What was used, and settled. */
  readonly used: Price;
  /** What the user was charged for the maximum, and what they pay for what was used, in their currency. */
  readonly charged: Price;
  readonly chargedUsed: Price;
  readonly ticks?: number;
  readonly settledAt: string;
}

export interface SettlementRequest {
  readonly terms: OfferTerms;
  readonly key: string;
  readonly inner: string;
  readonly used?: Price;
  readonly chain?: { readonly root: string; readonly length: number; readonly ticks: number; readonly word: string };
}

/** A settlement the payment server refused, with its problem code (ERR_ABOVE_MAXIMUM, ERR_ALREADY_SETTLED, …). */
export class SettlementRefused extends Error {
  override readonly name = "SettlementRefused";
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Settles `paymentId` at the payment server `base`; throws SettlementRefused with the server's reason. */
export async function settleAtServer(
  doFetch: typeof fetch,
  base: string,
  paymentId: string,
  request: SettlementRequest,
): Promise<UsageSettlement> {
  const url = new URL(`/v1/payments/${encodeURIComponent(paymentId)}/settlement`, base);
  const response = await doFetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok || !isPlainObject(body)) {
    const problem = isPlainObject(body) ? body : {};
    throw new SettlementRefused(
      typeof problem["code"] === "string" ? problem["code"] : "ERR_SERVER_UNAVAILABLE",
      `the payment server refused the settlement: ${typeof problem["detail"] === "string" ? problem["detail"] : `HTTP ${response.status}`}`,
      response.status,
    );
  }
  return body as unknown as UsageSettlement;
}
