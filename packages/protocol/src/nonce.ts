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
/** Bytes of milliseconds at the start of a time-ordered id: enough until the year 10889. */
const ORDERED_TIME_BYTES = 6;
let used = pool.length;

/** 128 bits from the pool, base64url; `orderedAt` (ms since 1970) overwrites the first 6 bytes. */
function randomText(orderedAt?: number): string {
  if (used + NONCE_BYTES > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = pool.subarray(used, used + NONCE_BYTES);
  used += NONCE_BYTES;
  if (orderedAt !== undefined) bytes.writeUIntBE(Math.trunc(orderedAt), 0, ORDERED_TIME_BYTES);
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

/**
 * An identifier that begins with the time it was made, in the form of newId's (a prefix and 22
 * base64url characters): 6 bytes of milliseconds since 1970, then 80 random bits, which nobody can
 * guess and two ids of one millisecond never share by chance. Rows keyed by ids made together then
 * share index pages (a payment's id keys three unique indexes written in its commit), where random
 * keys would send each insert to a leaf page of its own.
 */
export function newOrderedId(prefix: string, at: number = Date.now()): string {
  return `${prefix}_${randomText(at)}`;
}
