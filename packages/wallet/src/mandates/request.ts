/**
 * A program's request for a spending mandate, as the wallet's local service receives it
 * (POST /v2/mandates): the limits it asks for and its public key. The wallet checks it, shows it
 * in the consent window as a MandateView, and only once the user approved signs the mandate
 * (docs/protocol.md §16) with the user's key.
 */
import { Type, type Static } from "@sinclair/typebox";
import {
  jwkThumbprint,
  MAX_MANDATE_TTL_MS,
  MandateClaimsSchema,
  importAgentKey,
  parser,
  toDate,
  type Clock,
  type CurrencyCode,
  type MandateClaims,
  type MandatePeriod,
  type Price,
} from "@peage/protocol";
import { WalletError } from "../errors.js";

export const MandateRequestSchema = Type.Object(
  {
    mandate: Type.Pick(MandateClaimsSchema, ["agent", "payees", "maxPerPayment", "budget", "maxPayments", "period", "expiresAt"]),
  },
  { additionalProperties: false },
);
export type MandateRequest = Static<typeof MandateRequestSchema>["mandate"];

const requestParser = parser(MandateRequestSchema);

/** What the consent window shows for a mandate: every limit the user signs, and the agent's key. */
export interface MandateView {
  readonly kind: "mandate";
  /** The RFC 7638 thumbprint of the agent's key: what the program can show the user to be recognised. */
  readonly agentKid: string;
  readonly payees: readonly string[];
  readonly maxPerPayment: Price;
  readonly budget: Price;
  readonly maxPayments: number;
  readonly period: MandatePeriod;
  readonly expiresAt: string;
  readonly server: string;
}

/** A request checked: the limits consistent, in the account's currency, the expiry ahead and within a year. */
export async function readMandateRequest(
  body: unknown,
  home: CurrencyCode,
  server: string,
  clock: Clock,
): Promise<{ request: MandateRequest; view: MandateView }> {
  const parsed = requestParser.parse(body, "mandate request");
  if (!parsed.ok)
    throw bad(
      `${parsed.error.message}: send {"mandate": {agent, payees, maxPerPayment, budget, maxPayments, period, expiresAt}}`,
    );
  const request = parsed.value.mandate;
  const { maxPerPayment, budget } = request;
  if (maxPerPayment.currency !== home || budget.currency !== home)
    throw bad(`the mandate's limits must be in the wallet's currency, ${home}`);
  if (maxPerPayment.amount < 1 || maxPerPayment.amount > budget.amount)
    throw bad("maxPerPayment must be at least 1 minor unit and at most the budget");
  const now = clock.now().getTime();
  const expires = toDate(request.expiresAt as MandateClaims["expiresAt"]).getTime();
  if (expires <= now || expires - now > MAX_MANDATE_TTL_MS) throw bad("expiresAt must be in the future, at most 366 days ahead");
  const agent = await importAgentKey(request.agent);
  if (!agent) throw bad("the agent's key is not a point of its curve: send the public JWK of the program's key");
  return {
    request,
    view: {
      kind: "mandate",
      agentKid: jwkThumbprint(agent.publicKey),
      payees: request.payees,
      maxPerPayment: maxPerPayment as Price,
      budget: budget as Price,
      maxPayments: request.maxPayments,
      period: request.period as MandatePeriod,
      expiresAt: request.expiresAt,
      server,
    },
  };
}

/** The lines a terminal or a log shows for a mandate. */
export function describeMandate(view: MandateView): string {
  const per = view.period === "total" ? "in all" : `a ${view.period}`;
  return (
    `agent ${view.agentKid} may pay ${view.payees.join(", ")}: at most ${view.maxPerPayment.amount} a payment, ` +
    `${view.budget.amount} ${view.budget.currency} minor units and ${view.maxPayments} payments ${per}, until ${view.expiresAt}`
  );
}

function bad(message: string): WalletError {
  return new WalletError("ERR_BAD_REQUEST", `mandate request: ${message}`, 400, false);
}
