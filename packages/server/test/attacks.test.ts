/**
 * Hostile and broken payment requests: each is refused with its specific code and status, as a
 * problem document, and the database is exactly as it was (row counts, balances, credits).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  canonicalBytes,
  createDemoPki,
  createCrl,
  generateKeyPair,
  issueCertificate,
  JwsTypes,
  keyThumbprint,
  signCatalogEntry,
  signJws,
  toX5c,
  type CatalogEntry,
  type CertifiedKeyPair,
  type DemoPki,
  type PartyId,
  type PaymentRequest,
} from "@peage/protocol";
import {
  assertProblem,
  enrol,
  http,
  NOW,
  pay,
  paymentRequest,
  snapshot,
  startFixture,
  PAYMENT_SETUPS,
  type Fixture,
  type TestUser,
} from "./helpers/fixture.js";

const DAY = 86_400_000;

/** Re-encodes a JWS with a changed payload, keeping the original signature. */
function tamperPayload(token: string, change: (claims: Record<string, any>) => void): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, any>;
  change(claims);
  return `${header}.${canonicalBytes(claims).toString("base64url")}.${signature}`;
}

async function publisherCertificate(pki: DemoPki, validity: { notBefore: Date; notAfter: Date }): Promise<CertifiedKeyPair> {
  const keys = await generateKeyPair("ES256");
  const certificate = await issueCertificate({
    issuer: pki.publishersCa,
    subject: "CN=acme-games,O=Péage",
    publicKey: keys.publicKey,
    ...validity,
    roles: ["offer-signing"],
    identity: pki.publisher.identity,
  });
  return { keys, certificate };
}

for (const { engine, threads, label } of PAYMENT_SETUPS) {
  describe(`refused payment requests leave the database unchanged (${label})`, () => {
    let fx: Fixture;
    let alice: TestUser;
    let bob: TestUser;
    let expired: CertifiedKeyPair;
    let revoked: CertifiedKeyPair;

    before(async () => {
      const pki = await createDemoPki({ now: NOW });
      expired = await publisherCertificate(pki, {
        notBefore: new Date(NOW.getTime() - 30 * DAY),
        notAfter: new Date(NOW.getTime() - DAY),
      });
      revoked = await publisherCertificate(pki, {
        notBefore: new Date(NOW.getTime() - DAY),
        notAfter: new Date(NOW.getTime() + 300 * DAY),
      });
      const crl = await createCrl({
        issuer: pki.publishersCa,
        revoked: [
          {
            serialNumber: revoked.certificate.serialNumber,
            revocationDate: new Date(NOW.getTime() - 60_000),
            reason: "keyCompromise",
          },
        ],
        thisUpdate: new Date(NOW.getTime() - 60_000),
        nextUpdate: new Date(NOW.getTime() + 7 * DAY),
        crlNumber: 1,
      });
      fx = await startFixture({ pki, crls: [crl], engine, threads });
      alice = await enrol(fx, { balance: 100_000, name: "alice" });
      bob = await enrol(fx, { balance: 100_000, name: "bob" });
    });
    after(async () => {
      await fx.close();
    });

    /** Sends the body and checks the problem and that nothing changed. */
    async function refused(
      send: () => Promise<Parameters<typeof assertProblem>[0]>,
      status: number,
      code: string,
    ): Promise<void> {
      const before = await snapshot(fx);
      const answer = await send();
      assertProblem(answer, status, code, false);
      assert.deepEqual(await snapshot(fx), before, `${code}: the database changed`);
    }

    /** A catalog entry for the launch offer signed by another key/chain. */
    const entrySignedBy = async (party: CertifiedKeyPair, chain: string[]): Promise<CatalogEntry> =>
      signCatalogEntry(fx.entry("launch").terms, party.keys, chain);

    it("malformed JSON: 400 ERR_BAD_REQUEST saying so", async () => {
      const answer = await http(fx, "POST", "/v1/payments", { raw: '{"type": "peage.payment-request", "v": 1,' });
      assertProblem(answer, 400, "ERR_BAD_REQUEST", false);
      assert.match(answer.body.detail, /not valid JSON/);
      await refused(() => http(fx, "POST", "/v1/payments", { raw: "" }), 400, "ERR_BAD_REQUEST");
      await refused(
        () => http(fx, "POST", "/v1/payments", { raw: "{}", headers: { "content-type": "text/plain" } }),
        415,
        "ERR_BAD_REQUEST",
      );
    });

    it("a member named twice (a second consent after the genuine one): 400 ERR_BAD_REQUEST, nothing paid", async () => {
      const { request } = await paymentRequest(fx, alice);
      const { request: other } = await paymentRequest(fx, bob);
      const raw = `{"type":"peage.payment-request","v":1,"signature":${JSON.stringify(request.signature)},"consent":${JSON.stringify(other.consent)},"consent":${JSON.stringify(request.consent)}}`;
      await refused(() => http(fx, "POST", "/v1/payments", { raw }), 400, "ERR_BAD_REQUEST");
      const answer = await http(fx, "POST", "/v1/payments", { raw });
      assert.match(answer.body.detail, /"consent" appears twice/);
    });

    it("a body over 64 KiB: 413 ERR_PAYLOAD_TOO_LARGE", async () => {
      const { request } = await paymentRequest(fx, alice);
      await refused(
        () => http(fx, "POST", "/v1/payments", { raw: JSON.stringify({ ...request, padding: "x".repeat(70 * 1024) }) }),
        413,
        "ERR_PAYLOAD_TOO_LARGE",
      );
    });

    it("wrong types and unknown members: 400 ERR_MALFORMED naming the field", async () => {
      const { request } = await paymentRequest(fx, alice);
      const cases: [unknown, RegExp][] = [
        [{ ...request, v: "1" }, /\/v/],
        [{ ...request, consent: 42 }, /\/consent/],
        [{ ...request, signature: ["a"] }, /\/signature/],
        [{ type: request.type, v: 1, signature: request.signature }, /consent/],
        [{ ...request, extra: true }, /\/extra/],
        [[request], /body/],
      ];
      for (const [body, field] of cases) {
        const before = await snapshot(fx);
        const answer = await http(fx, "POST", "/v1/payments", { body });
        assertProblem(answer, 400, "ERR_MALFORMED", false);
        assert.match(answer.body.detail, field);
        assert.deepEqual(await snapshot(fx), before);
      }
    });

    it("a consent changed after signing (price lowered): ERR_BAD_SIGNATURE", async () => {
      const { request } = await paymentRequest(fx, alice);
      const consent = tamperPayload(request.consent, (claims) => (claims["price"] = { amount: 1, currency: "EUR" }));
      await refused(() => pay(fx, { ...request, consent }), 422, "ERR_BAD_SIGNATURE");
    });

    it("a consent with alg none or HS256: 400 ERR_UNSUPPORTED_ALGORITHM", async () => {
      const { request } = await paymentRequest(fx, alice);
      const [, payload, signature] = request.consent.split(".");
      for (const alg of ["none", "HS256"]) {
        const header = Buffer.from(
          JSON.stringify({ alg, typ: JwsTypes.consent, kid: await keyThumbprint(alice.key.publicKey) }),
        ).toString("base64url");
        await refused(
          () => pay(fx, { ...request, consent: `${header}.${payload}.${signature}` }),
          400,
          "ERR_UNSUPPORTED_ALGORITHM",
        );
      }
    });

    it("a forged publisher signature (another key, the publisher's chain): ERR_BAD_SIGNATURE", async () => {
      const forger = { keys: await generateKeyPair("ES256"), certificate: fx.pki.publisher.certificate };
      const entry = await entrySignedBy(forger, fx.pki.chainOf(fx.pki.publisher.certificate));
      await refused(
        async () => pay(fx, (await paymentRequest(fx, alice, "launch", { entry })).request),
        422,
        "ERR_BAD_SIGNATURE",
      );
    });

    it("the price in the consent differs from the price the publisher signed: ERR_PRICE_MISMATCH", async () => {
      const mutateOffer = (offer: any) => ({ ...offer, terms: { ...offer.terms, price: { amount: 1, currency: "EUR" } } });
      await refused(
        async () => pay(fx, (await paymentRequest(fx, alice, "launch", { mutateOffer })).request),
        422,
        "ERR_PRICE_MISMATCH",
      );
    });

    it("the consent names another publisher than the one who signed: ERR_IDENTITY_MISMATCH", async () => {
      const mutateOffer = (offer: any) => ({
        ...offer,
        terms: { ...offer.terms, publisher: "urn:peage:publisher:someone-else" },
      });
      await refused(
        async () => pay(fx, (await paymentRequest(fx, alice, "launch", { mutateOffer })).request),
        422,
        "ERR_IDENTITY_MISMATCH",
      );
    });

    it("an offer signed with a payment server's certificate: ERR_WRONG_ROLE", async () => {
      const entry = await entrySignedBy(fx.pki.server, fx.pki.chainOf(fx.pki.server.certificate));
      await refused(async () => pay(fx, (await paymentRequest(fx, alice, "launch", { entry })).request), 422, "ERR_WRONG_ROLE");
    });

    it("an offer signed under an expired publisher certificate: ERR_CERT_EXPIRED", async () => {
      const entry = await entrySignedBy(expired, [toX5c(expired.certificate), toX5c(fx.pki.publishersCa.certificate)]);
      await refused(async () => pay(fx, (await paymentRequest(fx, alice, "launch", { entry })).request), 422, "ERR_CERT_EXPIRED");
    });

    it("an offer signed under a revoked publisher certificate (CRL in the trust store): ERR_REVOKED", async () => {
      const entry = await entrySignedBy(revoked, [toX5c(revoked.certificate), toX5c(fx.pki.publishersCa.certificate)]);
      await refused(async () => pay(fx, (await paymentRequest(fx, alice, "launch", { entry })).request), 422, "ERR_REVOKED");
    });

    it("a consent meant for another payment server: ERR_WRONG_AUDIENCE", async () => {
      const server = "urn:peage:server:elsewhere" as PartyId<"server">;
      await refused(
        async () => pay(fx, (await paymentRequest(fx, alice, "launch", { server })).request),
        422,
        "ERR_WRONG_AUDIENCE",
      );
    });

    it("user B's key signing a consent that names user A: ERR_UNKNOWN_KEY, or ERR_BAD_SIGNATURE under A's kid", async () => {
      // B signs as A with B's own kid: no such key is enrolled for A.
      const asAlice = { id: alice.id, key: bob.key };
      await refused(async () => pay(fx, (await paymentRequest(fx, asAlice)).request), 422, "ERR_UNKNOWN_KEY");
      // B signs as A and claims A's kid: the signature does not verify with A's key.
      const { request } = await paymentRequest(fx, alice);
      const claims = JSON.parse(Buffer.from(request.consent.split(".")[1]!, "base64url").toString("utf8")) as Record<
        string,
        unknown
      >;
      const consent = await signJws(JwsTypes.consent, claims, bob.key, { kid: await keyThumbprint(alice.key.publicKey) });
      await refused(() => pay(fx, { ...request, consent }), 422, "ERR_BAD_SIGNATURE");
    });

    it("a consent by a user nobody enrolled: ERR_UNKNOWN_KEY", async () => {
      const stranger = { id: "urn:peage:user:stranger" as PartyId<"user">, key: await generateKeyPair("ES256") };
      await refused(async () => pay(fx, (await paymentRequest(fx, stranger)).request), 422, "ERR_UNKNOWN_KEY");
    });

    it("an expired consent: ERR_MESSAGE_EXPIRED", async () => {
      const { request } = await paymentRequest(fx, alice);
      const start = fx.clock.now();
      fx.clock.advance(20 * 60_000);
      try {
        await refused(() => pay(fx, request), 422, "ERR_MESSAGE_EXPIRED");
      } finally {
        fx.clock.set(start);
      }
    });

    it("a replayed nonce (the same offer consented to again): 409 ERR_NONCE_REUSED", async () => {
      const { offer, request } = await paymentRequest(fx, alice);
      assert.equal((await pay(fx, request)).status, 200);
      fx.clock.advance(5);
      const replay: PaymentRequest = (await paymentRequest(fx, alice, "launch", { mutateOffer: () => offer })).request;
      fx.clock.advance(-5);
      await refused(() => pay(fx, replay), 409, "ERR_NONCE_REUSED");
    });

    it("unknown routes and methods: 404 problem", async () => {
      assertProblem(await http(fx, "GET", "/v1/nothing"), 404, "ERR_NOT_FOUND", false);
      assertProblem(await http(fx, "DELETE", "/v1/payments"), 404, "ERR_NOT_FOUND", false);
    });
  });
}
