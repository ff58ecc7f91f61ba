/**
 * The test vectors of spending mandates (docs/protocol.md §16, version 2): a mandate as the
 * payment server checks it at registration, and an agent's payment request under a registered
 * mandate, each valid and in every way it can fail. make-vectors.ts adds them to the vector set.
 */
import {
  createMandate,
  createMandatePayment,
  FixedClock,
  generateKeyPair,
  jwkThumbprint,
  MAX_MANDATE_TTL_MS,
  type KeyPair,
  type Mandate,
  type MandateClaims,
  type MandatePayment,
  type Offer,
  type VerificationCode,
} from "../src/index.js";
import { at, claimsOf, DAY, JwsTypes, MINUTE, offerAt, OTHER_SERVER, SERVER, sign, withClaims, type World } from "./scenario.js";
import type { VectorContext, VectorExpectation, VectorKind } from "./vectors.js";

/** What make-vectors.ts's case list offers: its world and a way to add a case. */
export interface CaseSink {
  readonly world: World;
  add(
    kind: VectorKind,
    name: string,
    description: string,
    input: unknown,
    context: VectorContext,
    expected: VectorExpectation,
  ): void;
}

const valid: VectorExpectation = { valid: true };
const fails = (code: VerificationCode): VectorExpectation => ({ valid: false, code });
const SECOND = 1000;

/** Mandates and agents' payments made at `t` (the offers' time of the other cases). */
export async function mandateCases(c: CaseSink, t: Date): Promise<void> {
  const agent = await generateKeyPair(c.world.alg);
  const mandate = await mandateAt(c.world, agent, t);
  await mandateOnly(c, mandate, t);
  await agentPayments(c, mandate, agent, t);
}

function mandateAt(w: World, agent: KeyPair, t: Date, expiresAt = at(t, 30 * DAY)): Promise<Mandate> {
  return createMandate({
    user: w.user.id,
    server: SERVER,
    agent: agent.publicKey,
    payees: [w.pki.publisher.identity],
    maxPerPayment: { amount: 500, currency: "EUR" } as MandateClaims["budget"],
    budget: { amount: 5000, currency: "EUR" } as MandateClaims["budget"],
    maxPayments: 20,
    period: "month",
    expiresAt,
    clock: new FixedClock(t),
    userKey: w.user.key,
  });
}

async function mandateOnly(c: CaseSink, mandate: Mandate, t: Date): Promise<void> {
  const w = c.world;
  const now = at(t, SECOND);
  const ctx = (when = now): VectorContext => ({ at: when.toISOString(), server: SERVER });
  const claims = claimsOf<MandateClaims>(mandate.mandate);
  const userSigns = async (changed: MandateClaims) => ({
    ...mandate,
    mandate: await sign(JwsTypes.mandate, changed, w.user.key, { kid: w.user.kid }),
  });
  const add = (name: string, description: string, input: unknown, context: VectorContext, expected: VectorExpectation) =>
    c.add("mandate", name, description, input, context, expected);

  add(
    "valid",
    "A month's budget of 50.00 EUR, 5.00 a payment and 20 payments for one agent key, checked at registration.",
    mandate,
    ctx(),
    valid,
  );
  add(
    "malformed-version-1",
    "The mandate message claims version 1: mandates are version 2.",
    { ...mandate, v: 1 },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-x5c-instead-of-kid",
    "The user's key signed the mandate but the header names a certificate chain, not the user's key.",
    { ...mandate, mandate: await sign(JwsTypes.mandate, claims, w.user.key, { x5c: w.publisherChain }) },
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "unknown-key-other-user",
    "A mandate naming the user, signed by another person's key under that key's own kid.",
    { ...mandate, mandate: await sign(JwsTypes.mandate, claims, w.mallory.key, { kid: w.mallory.kid }) },
    ctx(),
    fails("ERR_UNKNOWN_KEY"),
  );
  add(
    "bad-signature-altered-budget",
    "The user's mandate with its budget raised after signing.",
    { ...mandate, mandate: withClaims(mandate.mandate, { ...claims, budget: { amount: 5_000_000, currency: "EUR" } }) },
    ctx(),
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "wrong-audience",
    "A mandate for another payment server.",
    await userSigns({ ...claims, server: OTHER_SERVER }),
    ctx(),
    fails("ERR_WRONG_AUDIENCE"),
  );
  add(
    "malformed-currencies-differ",
    "The maximum per payment in USD, the budget in EUR.",
    await userSigns({ ...claims, maxPerPayment: { amount: 500, currency: "USD" } as MandateClaims["budget"] }),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-max-above-budget",
    "A maximum per payment above the budget.",
    await userSigns({ ...claims, maxPerPayment: { amount: 6000, currency: "EUR" } as MandateClaims["budget"] }),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-agent-not-a-key",
    "An agent JWK whose coordinates are not a point of P-256.",
    await userSigns({ ...claims, agent: { kty: "EC", crv: "P-256", x: "A".repeat(43), y: "A".repeat(43) } }),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-longer-than-a-year",
    "A mandate valid for a year and two days.",
    await userSigns({ ...claims, expiresAt: at(t, MAX_MANDATE_TTL_MS + DAY).toISOString() as MandateClaims["expiresAt"] }),
    ctx(),
    fails("ERR_MALFORMED"),
  );
  add(
    "expired",
    "The mandate checked a second after its expiry plus the 5 minutes of skew.",
    mandate,
    ctx(at(t, 30 * DAY + 5 * MINUTE + SECOND)),
    fails("ERR_MESSAGE_EXPIRED"),
  );
  add(
    "not-yet-valid",
    "The mandate checked 5 minutes and a second before it was signed.",
    mandate,
    ctx(at(t, -5 * MINUTE - SECOND)),
    fails("ERR_MESSAGE_NOT_YET_VALID"),
  );
}

async function agentPayments(c: CaseSink, mandate: Mandate, agent: KeyPair, t: Date): Promise<void> {
  const w = c.world;
  const offer: Offer = offerAt(w.entries["launch"]!, t);
  const consentAt = at(t, MINUTE);
  const claims = claimsOf<MandateClaims>(mandate.mandate);
  const request = await createMandatePayment({ offer, mandate: claims, agentKey: agent, clock: new FixedClock(consentAt) });
  const consent = claimsOf<Record<string, unknown>>(request.consent);
  const ctx: VectorContext = { at: at(consentAt, SECOND).toISOString(), server: SERVER, mandate };
  const agentSigns = async (changed: Record<string, unknown>, key: KeyPair = agent): Promise<MandatePayment> => ({
    ...request,
    consent: await sign(JwsTypes.agentConsent, changed, key, { kid: await kidOf(key) }),
  });
  const add = (name: string, description: string, input: unknown, expected: VectorExpectation, context = ctx) =>
    c.add("mandate-payment", name, description, input, context, expected);

  add("valid", "The agent pays the launch offer under the registered mandate, with its own key.", request, valid);
  add(
    "malformed-version-1",
    "The request claims version 1: payments under a mandate are version 2.",
    { ...request, v: 1 },
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-user-consent-typ",
    "A user's consent (peage-consent+jws) where the agent's is expected.",
    { ...request, consent: await sign(JwsTypes.consent, consent, agent, { kid: await kidOf(agent) }) },
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-x5c-instead-of-kid",
    "The agent's consent names a certificate chain, not the agent's key.",
    { ...request, consent: await sign(JwsTypes.agentConsent, consent, agent, { x5c: w.publisherChain }) },
    fails("ERR_MALFORMED"),
  );
  add(
    "unknown-key-not-the-agent",
    "Another key signs a consent under the mandate.",
    await agentSigns(consent, w.mallory.key),
    fails("ERR_UNKNOWN_KEY"),
  );
  add(
    "unknown-key-unregistered-mandate",
    "The consent names a mandate the server never registered.",
    await agentSigns({ ...consent, mandate: "bm90LWEtcmVnaXN0ZXJlZC1tYW5kYXRl" }),
    fails("ERR_UNKNOWN_KEY"),
  );
  add(
    "unknown-key-other-user",
    "The agent names another user than the mandate's: it may spend for the mandate's user only.",
    await agentSigns({ ...consent, user: "urn:peage:user:somebody-else" }),
    fails("ERR_UNKNOWN_KEY"),
  );
  add(
    "bad-signature-altered-consent",
    "The agent's consent with another nonce after signing.",
    { ...request, consent: withClaims(request.consent, { ...consent, nonce: "YW5vdGhlci1ub25jZS0wMDAwMDAwMA" }) },
    fails("ERR_BAD_SIGNATURE"),
  );
  add(
    "wrong-audience",
    "The agent's consent names another payment server.",
    await agentSigns({ ...consent, server: OTHER_SERVER }),
    fails("ERR_WRONG_AUDIENCE"),
  );
  add(
    "price-mismatch",
    "The agent consents to another price than the publisher signed.",
    await agentSigns({ ...consent, price: { amount: 1, currency: "EUR" } }),
    fails("ERR_PRICE_MISMATCH"),
  );
  add("expired", "The agent's consent checked after its expiry plus the skew.", request, fails("ERR_MESSAGE_EXPIRED"), {
    ...ctx,
    at: at(consentAt, 10 * MINUTE + 5 * MINUTE + SECOND).toISOString(),
  });
}

async function kidOf(key: KeyPair): Promise<string> {
  return jwkThumbprint(key.publicKey);
}
