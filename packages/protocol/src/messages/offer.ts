/**
 * Message 1, the offer: a signed catalog entry plus a fresh nonce and the machine's date and time.
 * The nonce and date are not covered by the publisher's signature; they are bound later by the
 * user's consent proof and by the acknowledgment, and the merchant checks they come back unchanged.
 */
import { fail, ok, type Result } from "../errors.js";
import type { PartyId } from "../identity.js";
import { newNonce } from "../nonce.js";
import type { TrustStore } from "../pki/validate.js";
import { timestamp, toDate, type Clock } from "../time.js";
import { verifySignedTerms } from "./catalog.js";
import type { VerifiedOfferSignature } from "./offer-signature.js";
import { OfferSchema, parser, PROTOCOL_VERSION, type CatalogEntry, type Offer } from "./schema.js";

const offerParser = parser(OfferSchema);

/** How long an offer stays open by default, and at most. */
export const DEFAULT_OFFER_TTL_MS = 10 * 60_000;
export const MAX_OFFER_TTL_MS = 15 * 60_000;
/** Clock difference tolerated between the parties' machines. */
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000;

export function createOffer(entry: CatalogEntry, clock: Clock, ttlMs: number = DEFAULT_OFFER_TTL_MS): Offer {
  if (!(ttlMs > 0 && ttlMs <= MAX_OFFER_TTL_MS)) throw new RangeError(`offer lifetime must be in (0, ${MAX_OFFER_TTL_MS}] ms`);
  const now = clock.now();
  return {
    type: "peage.offer",
    v: PROTOCOL_VERSION,
    terms: entry.terms,
    offerHash: entry.offerHash,
    signature: entry.signature,
    nonce: newNonce(),
    date: timestamp(now),
    expiresAt: timestamp(new Date(now.getTime() + ttlMs)),
  };
}

export interface VerifiedOffer {
  readonly offer: Offer;
  readonly signature: VerifiedOfferSignature;
}

export interface OfferCheckOptions {
  readonly trust: TrustStore;
  readonly clock: Clock;
  readonly skewMs?: number;
  /** The payment server the wallet pays through: an offer naming other servers only is refused (ERR_WRONG_AUDIENCE). */
  readonly server?: PartyId<"server">;
}

/** What the wallet runs before showing an offer: a forged or stale offer is never shown. */
export async function verifyOffer(value: unknown, options: OfferCheckOptions): Promise<Result<VerifiedOffer>> {
  const parsed = offerParser.parse(value, "offer");
  if (!parsed.ok) return parsed;
  const offer = parsed.value;
  const now = options.clock.now();
  const window = checkWindow(
    offer.date,
    offer.expiresAt,
    MAX_OFFER_TTL_MS,
    now,
    options.skewMs ?? DEFAULT_CLOCK_SKEW_MS,
    "offer",
  );
  if (!window.ok) return window;
  const signature = await verifySignedTerms(offer, options.trust, now);
  if (!signature.ok) return signature;
  // Paying through a server the program does not accept would charge the user for nothing.
  const { servers } = offer.terms;
  if (options.server !== undefined && servers !== undefined && !servers.includes(options.server)) {
    return fail("ERR_WRONG_AUDIENCE", `the program accepts payments through ${servers.join(", ")} only, not ${options.server}`, {
      servers,
    });
  }
  return ok({ offer, signature: signature.value });
}

/**
 * Checks a message's lifetime [issued, expires] against `now`: not issued in the future beyond
 * the skew, not expired beyond the skew, and no longer than `maxLifetimeMs`.
 */
export function checkWindow(
  issued: Offer["date"],
  expires: Offer["expiresAt"],
  maxLifetimeMs: number,
  now: Date,
  skewMs: number,
  what: string,
): Result<true> {
  const from = toDate(issued).getTime();
  const until = toDate(expires).getTime();
  if (until <= from || until - from > maxLifetimeMs) {
    return fail("ERR_MALFORMED", `${what}: lifetime must be positive and at most ${maxLifetimeMs / 60_000} minutes`);
  }
  if (from > now.getTime() + skewMs) {
    return fail("ERR_MESSAGE_NOT_YET_VALID", `${what} dated ${issued} is in the future`, { issued, now: now.toISOString() });
  }
  if (until + skewMs < now.getTime()) {
    return fail("ERR_MESSAGE_EXPIRED", `${what} expired at ${expires}`, { expiresAt: expires, now: now.toISOString() });
  }
  return ok(true);
}
