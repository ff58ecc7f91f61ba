/**
 * Binding a payment to one HTTP request. The offer's nonce is not random here: it is derived from
 * a random salt and a digest of the request (method, target, and the body's RFC 9530 Content-Digest),
 *
 *   nonce = BASE64URL(SHA-256("peage-http/1" ‖ 0x00 ‖ salt ‖ 0x00 ‖ METHOD ‖ 0x00 ‖ target ‖ 0x00 ‖ content-digest))
 *
 * The consent and the acknowledgment both sign the nonce (docs/protocol.md §3.7, §3.9), so an
 * acknowledgment proves which request was paid: presented with another method, path, query or
 * body, the nonce the server recomputes differs and the acknowledgment is refused. The salt keeps
 * the nonce unpredictable (256 bits of SHA-256 output over 128 random bits), as §2 requires.
 */
import { createHash, randomBytes } from "node:crypto";

export interface RequestFacts {
  /** The HTTP method, any case. */
  readonly method: string;
  /** The request target as sent: path and query, e.g. `/v1/forecast?city=Lyon`. */
  readonly target: string;
  /** The body's bytes (empty for none). */
  readonly body: Uint8Array;
}

/** RFC 9530 §2: the Content-Digest field value for `body` with SHA-256, e.g. `sha-256=:47DEQpj8…=:`. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash("sha256").update(body).digest("base64")}:`;
}

/** A fresh salt: 128 random bits, base64url. */
export function newSalt(): string {
  return randomBytes(16).toString("base64url");
}

/** The nonce of an offer made for this request with this salt. */
export function boundNonce(salt: string, request: RequestFacts): string {
  const hash = createHash("sha256");
  for (const part of ["peage-http/1", salt, request.method.toUpperCase(), request.target, contentDigest(request.body)]) {
    hash.update(part, "utf8").update(Buffer.of(0));
  }
  return hash.digest("base64url");
}
