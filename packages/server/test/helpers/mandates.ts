/**
 * A spending mandate's parts for the server's tests: a user with money and an agent key, the
 * mandate they sign and register over HTTP, the agent's payments under it, and the mandate's use
 * per period read from the database.
 */
import assert from "node:assert/strict";
import {
  createMandate,
  createMandatePayment,
  generateKeyPair,
  signUserRequest,
  type KeyPair,
  type Mandate,
  type MandateClaims,
  type MandatePeriod,
  type Offer,
  type PartyId,
} from "@peage/protocol";
import { enrol, http, type Fixture, type HttpAnswer, type TestUser } from "./fixture.js";

const HOUR = 3_600_000;

export interface Limits {
  budget?: number;
  maxPerPayment?: number;
  maxPayments?: number;
  period?: MandatePeriod;
  payees?: PartyId<"publisher">[];
  expiresInMs?: number;
  currency?: string;
}

export interface MandateSetUp {
  readonly user: TestUser;
  readonly agent: KeyPair;
  readonly mandate: Mandate;
  readonly id: string;
}

export const claimsOf = (mandate: Mandate) =>
  JSON.parse(Buffer.from(mandate.mandate.split(".")[1]!, "base64url").toString()) as MandateClaims;

/** The paymentId message 3 names. */
export const paymentIdOf = (answer: HttpAnswer) =>
  JSON.parse(Buffer.from(String(answer.body.acknowledgment).split(".")[1]!, "base64url").toString()).paymentId as string;

export function signMandate(fx: Fixture, user: TestUser, agent: KeyPair, limits: Limits = {}, signer = user.key) {
  return createMandate({
    user: user.id,
    server: fx.pki.server.identity,
    agent: agent.publicKey,
    payees: limits.payees ?? [fx.pki.publisher.identity],
    maxPerPayment: { amount: limits.maxPerPayment ?? 1000, currency: limits.currency ?? "EUR" } as MandateClaims["budget"],
    budget: { amount: limits.budget ?? 100_000, currency: limits.currency ?? "EUR" } as MandateClaims["budget"],
    maxPayments: limits.maxPayments ?? 1000,
    period: limits.period ?? "total",
    expiresAt: new Date(fx.clock.now().getTime() + (limits.expiresInMs ?? 24 * HOUR)),
    clock: fx.clock,
    userKey: signer,
  });
}

/** A user with money, an agent key and a mandate registered over HTTP. */
export async function setUpMandate(fx: Fixture, limits: Limits = {}, balance = 1_000_000): Promise<MandateSetUp> {
  const user = await enrol(fx, { balance });
  const agent = await generateKeyPair("ES256");
  const mandate = await signMandate(fx, user, agent, limits);
  const answer = await http(fx, "POST", "/v2/mandates", { body: mandate });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return { user, agent, mandate, id: claimsOf(mandate).mandateId };
}

/** The agent pays this offer under the mandate, over HTTP. */
export async function payUnderMandate(fx: Fixture, set: MandateSetUp, offer: Offer): Promise<HttpAnswer> {
  const request = await createMandatePayment({ offer, mandate: claimsOf(set.mandate), agentKey: set.agent, clock: fx.clock });
  return http(fx, "POST", "/v2/mandate-payments", { body: request });
}

/** A request signed by the user, as the wallet sends it. */
export async function asUser(fx: Fixture, user: TestUser, method: string, path: string): Promise<HttpAnswer> {
  const authorization = await signUserRequest({ user: user.id, key: user.key, method, path, clock: fx.clock });
  return http(fx, method, path, { headers: { authorization } });
}

/** What the mandate has spent and paid per period, read through the test's own connection. */
export async function usageOf(fx: Fixture, id: string): Promise<Record<string, { spent: number; payments: number }>> {
  const rows = await fx.raw.query<{ period_key: string; spent: unknown; payments: unknown }>(
    "SELECT period_key, spent, payments FROM agent_mandate_usage WHERE mandate_id = ? ORDER BY period_key",
    [id],
  );
  return Object.fromEntries(rows.map((r) => [r.period_key, { spent: Number(r.spent), payments: Number(r.payments) }]));
}
