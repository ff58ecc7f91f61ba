/** Nonces and identifiers: fresh random values from the operating system's CSPRNG. */
import { randomFillSync } from "node:crypto";

/** Bytes of entropy in a nonce: 128 bits, so two offers never share one by chance. */
export const NONCE_BYTES = 16;
export const noncePattern = "^[A-Za-z0-9_-]{22,86}$";

/**
 * The one random source for nonces and ids: the operating system's CSPRNG, drawn a block at a time
 * (as node:crypto's randomUUID does) since a payment takes an id and each draw costs a call into
 * OpenSSL. Each nonce's bytes are used once and zeroed as soon as they are written out.
 */
const pool = Buffer.alloc(NONCE_BYTES * 256);
let used = pool.length;

function randomText(): string {
  if (used + NONCE_BYTES > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = pool.subarray(used, used + NONCE_BYTES);
  used += NONCE_BYTES;
  const text = bytes.toString("base64url");
  bytes.fill(0);
  return text;
}

/** A fresh nonce: 128 random bits, base64url. */
export function newNonce(): string {
  return randomText();
}

/** A random identifier with a readable prefix, e.g. "pay_2x9…". */
export function newId(prefix: string): string {
  return `${prefix}_${randomText()}`;
}
