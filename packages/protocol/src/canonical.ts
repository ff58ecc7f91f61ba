import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/**
 * RFC 8785 (JSON Canonicalization Scheme) bytes of a JSON value: the exact bytes every
 * implementation hashes and signs, whatever order or spacing its JSON encoder prefers.
 */
export function canonicalBytes(value: unknown): Buffer {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return Buffer.from(text, "utf8");
}

/** SHA-256 of the bytes, base64url without padding (RFC 4648 §5), as every Péage hash is written. */
export function sha256Base64url(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64url");
}

/** Hash of a JSON value: SHA-256 over its RFC 8785 canonical form. */
export function canonicalHash(value: unknown): string {
  return sha256Base64url(canonicalBytes(value));
}
