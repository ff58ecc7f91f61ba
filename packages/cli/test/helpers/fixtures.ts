/**
 * Protocol files for the inspect tests, made in-process with the protocol's own functions at a
 * fixed instant: a demonstration tree, a catalog, one offer, the payment request a wallet would
 * send for it and the acknowledgment a payment server would sign, plus the user's public key
 * as PEM and as JWK. The tests then check them at that instant with `--at`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KeyObject } from "node:crypto";
import {
  FixedClock,
  JwsTypes,
  createDemoPki,
  createOffer,
  createPaymentRequest,
  decodeJws,
  exportPublicKeyPem,
  generateKeyPair,
  partyId,
  price,
  signAcknowledgment,
  signCatalog,
  writePkiDir,
  type ConsentClaims,
  type DemoPki,
  type Offer,
} from "@peage/protocol";

/** The fixtures' "now". */
export const NOW = new Date("2026-03-01T12:00:00.000Z");
/** A minute after NOW, as --at takes it. */
export const AT = new Date(NOW.getTime() + 60_000).toISOString();

export interface Fixtures {
  readonly pki: DemoPki;
  readonly offer: Offer;
  readonly files: {
    readonly catalog: string;
    readonly offer: string;
    readonly otherOffer: string;
    readonly paymentRequest: string;
    readonly acknowledgment: string;
    readonly offerSignature: string;
    readonly userPem: string;
    readonly userJwk: string;
    readonly strangerPem: string;
  };
}

export async function writeFixtures(dir: string): Promise<Fixtures> {
  const clock = new FixedClock(NOW);
  const pki = await createDemoPki({ now: NOW });
  await writePkiDir(dir, pki);
  const catalog = await signCatalog(
    pki.publisher.identity,
    [
      { offerId: "launch", description: "Start the game", price: price(150, "EUR"), grant: { kind: "launch" } },
      { offerId: "level-2", description: "Level 2", price: price(300, "EUR"), grant: { kind: "event", event: "level-2" } },
    ],
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
  );
  const entry = catalog.offers[0]!;
  const offer = createOffer(entry, clock);
  // The same catalog entry offered again: same hash and price, another nonce.
  const otherOffer = createOffer(entry, clock);
  const user = await generateKeyPair("ES256");
  const stranger = await generateKeyPair("EdDSA");
  const request = await createPaymentRequest({
    offer,
    user: partyId("user", "alice"),
    server: pki.server.identity,
    userKey: user,
    clock,
  });
  const decoded = decodeJws(request.consent, JwsTypes.consent);
  if (!decoded.ok) throw decoded.error;
  const acknowledgment = await signAcknowledgment({
    consent: decoded.value.payload as ConsentClaims,
    paymentId: "pay_1",
    server: pki.server.identity,
    charged: price(150, "EUR"),
    key: pki.server.keys,
    x5c: pki.chainOf(pki.server.certificate),
    clock,
  });

  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return name;
  };
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    pki,
    offer,
    files: {
      catalog: write("catalog.json", json(catalog)),
      offer: write("offer.json", json(offer)),
      otherOffer: write("other-offer.json", json(otherOffer)),
      paymentRequest: write("payment-request.json", json(request)),
      acknowledgment: write("acknowledgment.json", json(acknowledgment)),
      offerSignature: write("offer-signature.jws", `${entry.signature}\n`),
      userPem: write("alice.pub.pem", exportPublicKeyPem(user.publicKey)),
      userJwk: write("alice.jwk", json(KeyObject.from(user.publicKey).export({ format: "jwk" }))),
      strangerPem: write("stranger.pub.pem", exportPublicKeyPem(stranger.publicKey)),
    },
  };
}
