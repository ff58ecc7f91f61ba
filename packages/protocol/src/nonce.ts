import { randomBytes } from "node:crypto";

/** Bytes of entropy in a nonce: 128 bits, so two offers never share one by chance. */
export const NONCE_BYTES = 16;
export const noncePattern = "^[A-Za-z0-9_-]{22,86}$";

/** The one random source for nonces and ids: the operating system's CSPRNG. */
export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString("base64url");
}

/** A random identifier with a readable prefix, e.g. "pay_2x9…". */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(NONCE_BYTES).toString("base64url")}`;
}
