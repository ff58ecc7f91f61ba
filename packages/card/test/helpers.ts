/**
 * The card tests' world: a demo PKI whose payment server is also a card issuer, a publisher's
 * catalog with one offer per price, a user, and helpers to personalise a card on a medium and
 * talk to it in-process. Everything is dated from NOW on a FixedClock, never from the wall clock.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createDemoPki,
  createOffer,
  FixedClock,
  partyId,
  price,
  signCatalog,
  verifyAcknowledgment,
  type Acknowledgment,
  type CatalogEntry,
  type DemoPki,
  type Offer,
  type PartyId,
  type Result,
  type TrustStore,
  type VerifiedAcknowledgment,
} from "@peage/protocol";
import {
  CardClient,
  cardIssuerFromDemo,
  cardKeyFromChain,
  createCardPaymentRequest,
  InProcessTransport,
  issueCard,
  type CardIssuer,
  type CardKey,
  type CardMode,
  type CardPaymentRequest,
  type IssuedCard,
  type Medium,
} from "../src/index.js";
import { describeSw, encodeCommand, parseResponse } from "../src/iso7816.js";

export const NOW = new Date("2026-09-14T10:00:00.000Z");
export const MINUTE = 60_000;
export const PIN = "2468";
export const WRONG_PIN = "1357";
/** Prices of the catalog's offers, EUR cents. */
export const PRICES = [0, 1, 50, 199, 500, 1000, 2500] as const;

export interface CardWorld {
  readonly pki: DemoPki;
  readonly issuer: CardIssuer;
  readonly trust: TrustStore;
  readonly clock: FixedClock;
  readonly user: PartyId<"user">;
  readonly card: PartyId<"card">;
  readonly server: PartyId<"server">;
  /** Catalog entries by price (EUR), and one offer in USD. */
  readonly entries: ReadonlyMap<number, CatalogEntry>;
  readonly usdEntry: CatalogEntry;
  /** A fresh offer (new nonce) of the given price, dated by the world's clock. */
  offer(amount?: number): Offer;
  /** Personalises a card on `medium` for the world's user. */
  issue(
    medium: Medium,
    options?: {
      card?: PartyId<"card">;
      mode?: CardMode;
      balance?: number;
      ceiling?: number;
      logCapacity?: number;
      maxBalance?: number;
    },
  ): Promise<IssuedCard>;
  /** The card-variant payment request for an offer. */
  request(offer: Offer): CardPaymentRequest;
  /** The merchant's check of message 3 (verifyAcknowledgment, accepting cards of this issuer). */
  merchantCheck(ack: Acknowledgment, offer: Offer): Promise<Result<VerifiedAcknowledgment>>;
  cardKey(issued: IssuedCard): Promise<CardKey>;
}

export async function makeCardWorld(alg: "ES256" | "EdDSA" = "ES256"): Promise<CardWorld> {
  const pki = await createDemoPki({ alg, now: NOW, cardIssuer: true });
  const issuer = cardIssuerFromDemo(pki);
  const trust = pki.trustStore();
  const clock = new FixedClock(NOW);
  const user = partyId("user", "alice");
  const card = partyId("card", "alice-1");
  const chain = pki.chainOf(pki.publisher.certificate);
  const catalog = await signCatalog(
    pki.publisher.identity,
    [
      ...PRICES.map((amount) => ({
        offerId: `play-${amount}`,
        description: `Play for ${amount} cents`,
        price: price(amount, "EUR"),
        grant: { kind: "launch" as const },
      })),
      { offerId: "play-usd", description: "Play, in dollars", price: price(50, "USD"), grant: { kind: "launch" as const } },
    ],
    pki.publisher.keys,
    chain,
  );
  const entries = new Map(
    catalog.offers
      .filter((entry) => entry.terms.price.currency === "EUR")
      .map((entry) => [entry.terms.price.amount as number, entry]),
  );
  const usdEntry = catalog.offers.find((entry) => entry.terms.price.currency === "USD")!;
  return {
    pki,
    issuer,
    trust,
    clock,
    user,
    card,
    server: pki.server.identity,
    entries,
    usdEntry,
    offer(amount = 50) {
      const entry = entries.get(amount);
      assert.ok(entry, `no offer at ${amount}`);
      return createOffer(entry, clock);
    },
    issue(medium, options = {}) {
      const mode = options.mode ?? "prepaid";
      return issueCard(medium, {
        issuer,
        card: options.card ?? card,
        user,
        pin: PIN,
        mode,
        currency: "EUR",
        ...(mode === "prepaid" ? { balance: options.balance ?? 1000 } : { ceiling: options.ceiling ?? 1000 }),
        roots: [pki.root.certificate],
        now: NOW,
        ...(options.logCapacity !== undefined && { logCapacity: options.logCapacity }),
        ...(options.maxBalance !== undefined && { maxBalance: options.maxBalance }),
      });
    },
    request(offer) {
      return createCardPaymentRequest({ offer, user, issuer: issuer.identity, clock });
    },
    merchantCheck(ack, offer) {
      return verifyAcknowledgment(ack, offer, { trust, clock, server: pki.server.identity });
    },
    async cardKey(issued) {
      const key = await cardKeyFromChain(issued.chain, trust, NOW);
      assert.ok(key.ok);
      return key.value;
    },
  };
}

/** A personalised card in-process, and a client for it. */
export async function openCard(
  medium: Medium,
  world: CardWorld,
  options: { extendedLength?: boolean } = {},
): Promise<{ transport: InProcessTransport; client: CardClient }> {
  const transport = await InProcessTransport.open(medium, { clock: world.clock });
  return { transport, client: new CardClient(transport, options) };
}

/** One payment as the wallet makes it: VERIFY then PAY (each PAY uses the verification up). */
export async function verifiedPay(client: CardClient, request: CardPaymentRequest): Promise<Acknowledgment> {
  await client.verifyPin(PIN);
  return client.pay(request);
}

/** Sends raw APDU bytes (hex) and returns the status word and data. */
export async function raw(
  transport: { transmit(apdu: Uint8Array): Promise<Uint8Array> },
  hexApdu: string,
): Promise<{ sw: number; data: Uint8Array }> {
  return parseResponse(await transport.transmit(Uint8Array.from(Buffer.from(hexApdu.replace(/\s+/g, ""), "hex"))));
}

/** The status word a client call ended with ("9000" on success), for assertions. */
export async function swOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "9000";
  } catch (cause) {
    const sw = (cause as { sw?: number }).sw;
    if (sw === undefined) throw cause;
    return sw.toString(16).toUpperCase().padStart(4, "0");
  }
}

export function expectSw(actual: number, expected: number): void {
  assert.equal(describeSw(actual), describeSw(expected));
}

export { encodeCommand };

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
