/**
 * Records packages/protocol/test-vectors/transport/payment-server.json (docs/transport.md §6):
 * the exchanges between a wallet (and the operator, for enrolment) and the payment server, each
 * sent to a running reference server with a fixed clock and checked against the answer the text
 * specifies before anything is written. A departure stops the generator.
 *
 *   npm run transport-vectors
 *
 * Keys and ECDSA signatures are random, so each run writes different (equally valid) files.
 */
import { fileURLToPath } from "node:url";
import {
  certificateToPem,
  createDemoPki,
  createOffer,
  createPaymentRequest,
  FixedClock,
  generateKeyPair,
  JwsTypes,
  keyThumbprint,
  price,
  rateTable,
  signCatalog,
  signJws,
  type Catalog,
  type CatalogEntry,
  type KeyPair,
  type Offer,
  type PartyId,
} from "@peage/protocol";
import { exportJWK } from "jose";
import {
  EXCHANGES_FORMAT,
  problemShape,
  recordExchanges,
  startRealServer,
  type Exchange,
  type ExchangeFile,
  type ExchangeRequest,
  type ExchangeResponse,
} from "../src/testing.js";

/** The clock of every message and of the server replaying the file. */
export const TRANSPORT_AT = new Date("2026-01-16T09:00:00.000Z");
const MINUTE = 60_000;
const RATES = { base: "EUR", date: "2026-01-15", rates: { USD: "1.0845", JPY: "162.35", KRW: "1450.2" } };
const ALICE = "urn:peage:user:alice" as PartyId<"user">;
const CAROL = "urn:peage:user:carol" as PartyId<"user">;
const BOB = "urn:peage:user:bob" as PartyId<"user">;
const JSON_HEADERS = { "content-type": "application/json" };
const OPERATOR = { ...JSON_HEADERS, authorization: "Bearer <operator-key>" };
const at = (offset: number) => new Date(TRANSPORT_AT.getTime() + offset);

const ACKNOWLEDGMENT: ExchangeResponse = {
  status: 200,
  headers: { "content-type": "application/json" },
  body: { type: "peage.acknowledgment", v: 1, acknowledgment: "<jws>" },
};

interface User {
  readonly id: PartyId<"user">;
  readonly key: KeyPair;
  readonly kid: string;
}

async function user(id: PartyId<"user">): Promise<User> {
  const key = await generateKeyPair("ES256");
  return { id, key, kid: await keyThumbprint(key.publicKey) };
}

async function publicJwk(key: KeyPair): Promise<Record<string, unknown>> {
  const { kty, crv, x, y } = await exportJWK(key.publicKey);
  return { kty, crv, x, y };
}

class Recorder {
  readonly exchanges: Exchange[] = [];
  add(id: string, description: string, request: ExchangeRequest, response: ExchangeResponse): void {
    this.exchanges.push({ id, description, request, response });
  }
}

async function enrolment(r: Recorder, alice: User, carol: User): Promise<void> {
  const enrol = async (who: User) => ({
    user: who.id,
    publicKey: await publicJwk(who.key),
    mode: "prepaid",
    homeCurrency: "EUR",
  });
  r.add(
    "enrolment/without-api-key",
    "The operator's enrolment without an API key: 401 before the body is looked at.",
    { method: "POST", path: "/v1/admin/users", headers: JSON_HEADERS, body: await enrol(alice) },
    problemShape(401, "ERR_UNAUTHORIZED"),
  );
  r.add(
    "enrolment/alice",
    "The operator enrols alice's public key (transport §2.2); the server names it by its RFC 7638 thumbprint.",
    { method: "POST", path: "/v1/admin/users", headers: OPERATOR, body: await enrol(alice) },
    { status: 201, headers: { "content-type": "application/json" }, body: { user: alice.id, kid: alice.kid, status: "active" } },
  );
  r.add(
    "enrolment/carol",
    "The operator enrols carol, whose account is suspended below.",
    { method: "POST", path: "/v1/admin/users", headers: OPERATOR, body: await enrol(carol) },
    { status: 201, headers: { "content-type": "application/json" }, body: { user: carol.id, kid: carol.kid } },
  );
  r.add(
    "enrolment/topup-alice",
    "The operator puts 10.00 EUR on alice's prepaid account.",
    {
      method: "POST",
      path: `/v1/admin/users/${alice.id}/topups`,
      headers: OPERATOR,
      body: { amount: 1000, idempotencyKey: "topup-0001" },
    },
    { status: 201, body: { amount: { amount: 1000, currency: "EUR" } } },
  );
  r.add(
    "enrolment/suspend-carol",
    "The operator suspends carol's account.",
    { method: "POST", path: `/v1/admin/users/${carol.id}/suspend`, headers: OPERATOR, body: {} },
    { status: 200, body: { user: carol.id, status: "suspended" } },
  );
}

interface World {
  readonly catalog: Catalog;
  readonly server: PartyId<"server">;
  entry(offerId: string): CatalogEntry;
}

/** Message 2 as the wallet sends it: `who` consents to `offer` at `consentedAt` for `server`. */
async function pay(offer: Offer, who: User, server: PartyId<"server">, consentedAt = TRANSPORT_AT): Promise<ExchangeRequest> {
  const body = await createPaymentRequest({ offer, user: who.id, server, userKey: who.key, clock: new FixedClock(consentedAt) });
  return { method: "POST", path: "/v1/payments", headers: JSON_HEADERS, body };
}

async function payments(r: Recorder, w: World, alice: User, carol: User, bob: User): Promise<Offer> {
  const offer = (id: string, date = TRANSPORT_AT) => createOffer(w.entry(id), new FixedClock(date));
  const paid = offer("launch");
  const request = await pay(paid, alice, w.server);
  r.add("payments/paid", "Alice pays the launch offer (1.00 EUR): message 3 comes back.", request, ACKNOWLEDGMENT);
  r.add(
    "payments/identical-request-again",
    "The identical request again (a wallet that got no answer): the same acknowledgment, nothing charged twice.",
    request,
    { ...ACKNOWLEDGMENT, sameBodyAs: "payments/paid" },
  );
  r.add(
    "payments/nonce-reused",
    "Another consent (a second later) to the same offer instance: its nonce is taken.",
    await pay(paid, alice, w.server, at(1000)),
    problemShape(409, "ERR_NONCE_REUSED"),
  );
  r.add(
    "payments/insufficient-funds",
    "An offer of 50.00 EUR against the 9.00 EUR left: not covered, nothing recorded.",
    await pay(offer("big"), alice, w.server),
    problemShape(402, "ERR_INSUFFICIENT_FUNDS"),
  );
  r.add(
    "payments/account-suspended",
    "Carol's account is suspended.",
    await pay(offer("launch"), carol, w.server),
    problemShape(403, "ERR_ACCOUNT_SUSPENDED"),
  );
  r.add(
    "payments/unknown-key",
    "Bob has no key enrolled at this server.",
    await pay(offer("launch"), bob, w.server),
    problemShape(422, "ERR_UNKNOWN_KEY"),
  );
  r.add(
    "payments/wrong-audience",
    "A consent made for another payment server.",
    await pay(offer("launch"), alice, "urn:peage:server:pay-us" as PartyId<"server">),
    problemShape(422, "ERR_WRONG_AUDIENCE"),
  );
  r.add(
    "payments/consent-expired",
    "A consent given 20 minutes before the server's clock, whose 5 minutes ran out.",
    await pay(offer("launch", at(-20 * MINUTE)), alice, w.server, at(-20 * MINUTE)),
    problemShape(422, "ERR_MESSAGE_EXPIRED"),
  );
  r.add(
    "payments/rate-unavailable",
    "An offer priced in Kenyan shillings, for which the server has no rate to alice's euros.",
    await pay(offer("kenya"), alice, w.server),
    problemShape(422, "ERR_RATE_UNAVAILABLE"),
  );
  r.add(
    "payments/charge-rounds-to-zero",
    "An offer of 1 KRW, less than half a euro cent at 1450.2 KRW per EUR: nothing is charged or acknowledged.",
    await pay(offer("one-won"), alice, w.server),
    problemShape(422, "ERR_CHARGE_ROUNDS_TO_ZERO"),
  );
  const good = (await pay(offer("launch"), alice, w.server)).body as { signature: string; consent: string };
  r.add(
    "payments/malformed",
    "A payment request without its consent.",
    {
      method: "POST",
      path: "/v1/payments",
      headers: JSON_HEADERS,
      body: { type: "peage.payment-request", v: 1, signature: good.signature },
    },
    problemShape(400, "ERR_MALFORMED"),
  );
  const text = JSON.stringify({ type: "peage.payment-request", v: 1, signature: good.signature, consent: good.consent });
  r.add(
    "payments/duplicate-member",
    "A body naming consent twice (the first a junk value): refused before it is read, whichever value a parser would keep.",
    {
      method: "POST",
      path: "/v1/payments",
      headers: JSON_HEADERS,
      bodyText: text.replace('"consent":', '"consent":"x","consent":'),
    },
    problemShape(400, "ERR_BAD_REQUEST"),
  );
  r.add(
    "payments/not-json",
    "A body sent as text/plain.",
    { method: "POST", path: "/v1/payments", headers: { "content-type": "text/plain" }, bodyText: text },
    problemShape(415, "ERR_BAD_REQUEST"),
  );
  return paid;
}

/** A `Peage-Signature` request token (transport §2.3) for `path`, signed by `who` at the file's clock. */
async function signed(who: User, path: string, nonce: string): Promise<Record<string, string>> {
  const claims = { v: 1, user: who.id, method: "GET", path, iat: TRANSPORT_AT.toISOString(), nonce };
  return { authorization: `Peage-Signature ${await signJws(JwsTypes.userRequest, claims, who.key, { kid: who.kid })}` };
}

async function ownRecords(r: Recorder, alice: User, paid: Offer): Promise<void> {
  const account = await signed(alice, "/v1/me", "bWUtcmVxdWVzdC0wMDAwMDE");
  r.add(
    "me/account",
    "Alice reads her account with a request she signed: 9.00 EUR left.",
    { method: "GET", path: "/v1/me", headers: account },
    {
      status: 200,
      headers: { "content-type": "application/json" },
      body: { user: alice.id, kid: alice.kid, balance: { amount: 900, currency: "EUR" } },
    },
  );
  r.add(
    "me/token-replayed",
    "The same signed request again: a token is good once (401, with the code saying why).",
    { method: "GET", path: "/v1/me", headers: account },
    problemShape(401, "ERR_NONCE_REUSED"),
  );
  r.add(
    "me/token-for-another-target",
    "A token signed for /v1/me sent to /v1/me/payments.",
    { method: "GET", path: "/v1/me/payments", headers: await signed(alice, "/v1/me", "bWUtcmVxdWVzdC0wMDAwMDI") },
    problemShape(401, "ERR_UNAUTHORIZED"),
  );
  r.add("me/unsigned", "No signature at all.", { method: "GET", path: "/v1/me" }, problemShape(401, "ERR_UNAUTHORIZED"));
  const list = "/v1/me/payments?limit=10";
  r.add(
    "me/payments",
    "Alice lists her payments: the one launch.",
    { method: "GET", path: list, headers: await signed(alice, list, "bWUtcmVxdWVzdC0wMDAwMDM") },
    {
      status: 200,
      body: { payments: [{ nonce: paid.nonce, offerHash: paid.offerHash, price: paid.terms.price, charged: paid.terms.price }] },
    },
  );
  const found = `/v1/me/acknowledgments/${paid.nonce}`;
  r.add(
    "me/acknowledgment-by-nonce",
    "The acknowledgment of the paid offer read back by its nonce (a wallet whose answer was lost): the one POST /v1/payments returned.",
    { method: "GET", path: found, headers: await signed(alice, found, "bWUtcmVxdWVzdC0wMDAwMDQ") },
    { ...ACKNOWLEDGMENT, sameBodyAs: "payments/paid" },
  );
  const missing = "/v1/me/acknowledgments/bm8tcGF5bWVudC13aXRoLXRoaXM";
  r.add(
    "me/acknowledgment-unknown-nonce",
    "A nonce alice paid nothing for: 404, as for another user's payment.",
    { method: "GET", path: missing, headers: await signed(alice, missing, "bWUtcmVxdWVzdC0wMDAwMDU") },
    problemShape(404, "ERR_NOT_FOUND"),
  );
}

async function main(): Promise<void> {
  const pki = await createDemoPki({ now: at(-1440 * MINUTE) });
  const drafts = [
    { offerId: "launch", description: "Start one game", price: price(100, "EUR"), grant: { kind: "launch" as const } },
    { offerId: "big", description: "A large purchase", price: price(5000, "EUR"), grant: { kind: "launch" as const } },
    { offerId: "kenya", description: "Priced in shillings", price: price(1000, "KES"), grant: { kind: "launch" as const } },
    { offerId: "one-won", description: "A won", price: price(1, "KRW"), grant: { kind: "launch" as const } },
  ];
  const catalog = await signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
  const world: World = {
    catalog,
    server: pki.server.identity,
    entry: (id) => catalog.offers.find((entry) => entry.terms.offerId === id)!,
  };
  const [alice, carol, bob] = await Promise.all([user(ALICE), user(CAROL), user(BOB)]);
  const r = new Recorder();
  await enrolment(r, alice, carol);
  const paid = await payments(r, world, alice, carol, bob);
  await ownRecords(r, alice, paid);

  const file: ExchangeFile = {
    format: EXCHANGES_FORMAT,
    description:
      "Péage transport vectors, wallet and operator to payment server (docs/transport.md §6): replay each exchange in order against a payment server set up as `setup` says, with its clock at `at`.",
    party: "payment server",
    at: TRANSPORT_AT.toISOString(),
    setup: {
      description:
        "A payment server named `server`, trusting `trustAnchors` (they certify the publisher of every offer), with the rates `rates`, its clock fixed at `at`, an empty database, and an operator API key with every scope in place of <operator-key>. No user exists before the first exchange.",
      trustAnchors: [certificateToPem(pki.root.certificate)],
      server: pki.server.identity,
      rates: RATES,
    },
    exchanges: r.exchanges,
  };
  const server = await startRealServer(pki, rateTable(RATES.base, RATES.date, RATES.rates), {
    clock: new FixedClock(TRANSPORT_AT),
  });
  try {
    const dir = fileURLToPath(new URL("../../../protocol/test-vectors/transport/", import.meta.url));
    const path = await recordExchanges(file, server.url, { "<operator-key>": server.operatorKey }, dir, "payment-server.json");
    console.log(`wrote ${r.exchanges.length} exchanges to ${path}`);
  } finally {
    await server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
