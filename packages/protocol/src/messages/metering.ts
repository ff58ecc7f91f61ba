/**
 * Offers charged by use (docs/protocol.md §3.12). An `upto` offer's price is a maximum: the user
 * consents to it, the payment server records it, and the merchant later settles the payment for
 * the amount used, never more, with a settlement key only it knows. A metered session is an
 * upto offer with a `tick` price: the user consents once to the cap (the price) and the rate (the
 * tick), and pays each tick with the next word of a PayWord hash chain whose root the consent
 * signs, so the merchant verifies a tick with one SHA-256 and no signature.
 *
 * Every binding here goes through the nonce, which the consent and the acknowledgment both sign:
 *
 *   commitment   = BASE64URL(SHA-256(settlement key bytes))
 *   offer nonce  = BASE64URL(SHA-256("peage-upto/1" 0x00 commitment 0x00 inner 0x00))
 *   consent nonce (session) = BASE64URL(SHA-256("peage-session/1" 0x00 offer nonce 0x00 root 0x00 length 0x00))
 *   word(i-1)    = BASE64URL(SHA-256(bytes of word(i))), root = word(0), word(length) the wallet's secret seed
 */
import { createHash, randomBytes } from "node:crypto";
import type { OfferTerms } from "./schema.js";

/** Longest PayWord chain a session may ask for: a cap of more ticks than this is malformed. */
export const MAX_SESSION_TICKS = 1_000_000;
const WORD = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest();

function framed(label: string, parts: readonly string[]): string {
  const hash = createHash("sha256").update(label, "utf8").update(Buffer.of(0));
  for (const part of parts) hash.update(part, "utf8").update(Buffer.of(0));
  return hash.digest("base64url");
}

/** Why these terms' metering members are inconsistent (ERR_MALFORMED), or undefined when they are fine. */
export function meteringProblem(terms: Pick<OfferTerms, "price" | "upto" | "tick">): string | undefined {
  if (terms.tick === undefined) return undefined;
  if (terms.upto !== true) return "a tick price needs upto: a metered session's price is its cap";
  if (terms.tick.currency !== terms.price.currency) return "the tick price is not in the currency of the price";
  if (terms.tick.amount < 1 || terms.tick.amount > terms.price.amount) return "the tick price must be from 1 to the price";
  if (Math.floor(terms.price.amount / terms.tick.amount) > MAX_SESSION_TICKS)
    return `the cap holds more than ${MAX_SESSION_TICKS} ticks`;
  return undefined;
}

/** A fresh settlement key: 256 random bits, base64url. Only the merchant that made the offer holds it. */
export function newSettlementKey(): string {
  return randomBytes(32).toString("base64url");
}

/** The commitment to a settlement key that the offer's nonce carries. */
export function settlementCommitment(key: string): string {
  return sha256(Buffer.from(key, "base64url")).toString("base64url");
}

/** The nonce of an upto offer: commits to the settlement key and to `inner` (a random nonce, or a request binding). */
export function uptoNonce(commitment: string, inner: string): string {
  return framed("peage-upto/1", [commitment, inner]);
}

/** The nonce a metered session's consent signs: the offer's nonce with the PayWord chain's root and length. */
export function sessionNonce(offerNonce: string, root: string, length: number): string {
  return framed("peage-session/1", [offerNonce, root, String(length)]);
}

/** The chain a wallet keeps for a session: `words[i]` pays tick i; `words[0]` is the root. */
export function payWordChain(length: number, seed: Uint8Array = randomBytes(32)): string[] {
  if (!Number.isSafeInteger(length) || length < 1 || length > MAX_SESSION_TICKS)
    throw new RangeError(`a chain has 1 to ${MAX_SESSION_TICKS} ticks`);
  const words = new Array<string>(length + 1);
  let word = Buffer.from(seed);
  words[length] = word.toString("base64url");
  for (let i = length - 1; i >= 0; i--) {
    word = sha256(word);
    words[i] = word.toString("base64url");
  }
  return words;
}

/**
 * Whether `word` is the word `steps` places after `anchor` on the chain (the anchor being the root
 * or the last word verified): SHA-256 applied `steps` times to it gives the anchor.
 */
export function isChainWord(word: string, anchor: string, steps: number): boolean {
  if (!WORD.test(word) || !WORD.test(anchor) || !Number.isSafeInteger(steps) || steps < 1 || steps > MAX_SESSION_TICKS)
    return false;
  let bytes: Buffer = Buffer.from(word, "base64url");
  for (let i = 0; i < steps; i++) bytes = sha256(bytes);
  return bytes.toString("base64url") === anchor;
}
