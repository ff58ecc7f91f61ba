/**
 * A challenge is the offer the resource server made for one request, with the salt of its bound
 * nonce, sealed by the server: `id = BASE64URL(HMAC-SHA-256(secret, JCS({offer, salt})))`. The
 * client carries it back with the acknowledgment, and the seal lets the server check the offer
 * against as its own copy without keeping a table of open offers (the merchant's rule, docs/
 * protocol.md §7.6: the offer the merchant itself made, never one received back unchecked).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { canonicalBytes, err, isPlainObject, ok, parser, OfferSchema, type Offer, type Result } from "@peage/protocol";

export interface Challenge {
  readonly offer: Offer;
  readonly salt: string;
  /** The seal: 43 base64url characters. */
  readonly id: string;
  /** An upto offer's commitment to its settlement key, in the nonce (docs/http.md §2); derived from the salt, so not sealed. */
  readonly commitment?: string;
}

const offerParser = parser(OfferSchema);
const SALT = /^[A-Za-z0-9_-]{22,86}$/;
const ID = /^[A-Za-z0-9_-]{43}$/;

function seal(secret: Uint8Array, offer: Offer, salt: string): string {
  return createHmac("sha256", secret).update(canonicalBytes({ offer, salt })).digest("base64url");
}

export function makeChallenge(secret: Uint8Array, offer: Offer, salt: string, commitment?: string): Challenge {
  return { offer, salt, id: seal(secret, offer, salt), ...(commitment === undefined ? {} : { commitment }) };
}

/** The challenge inside a credential, if it is well-formed and sealed by this server; else why not (a sentence). */
export function openChallenge(secret: Uint8Array, value: unknown): Result<Challenge, string> {
  if (!isPlainObject(value)) return err("the challenge is not an object");
  const { offer, salt, id, commitment } = value as Record<string, unknown>;
  if (Object.keys(value).length !== (commitment === undefined ? 3 : 4))
    return err("the challenge has members other than offer, salt, id and commitment");
  if (typeof salt !== "string" || !SALT.test(salt)) return err("the challenge's salt is not base64url of 16 to 64 bytes");
  if (typeof id !== "string" || !ID.test(id)) return err("the challenge's id is not a seal");
  const parsed = offerParser.parse(offer, "offer");
  if (!parsed.ok) return err(`the challenge's offer is malformed: ${parsed.error.message}`);
  const expected = Buffer.from(seal(secret, parsed.value, salt), "base64url");
  if (!timingSafeEqual(expected, Buffer.from(id, "base64url"))) return err("the challenge was not made by this server");
  return ok({ offer: parsed.value, salt, id });
}
