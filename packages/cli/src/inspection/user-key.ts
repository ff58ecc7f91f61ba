/**
 * A user's public key as a wallet exports it: SPKI PEM, or a JWK (RFC 7517) as JSON. Only the
 * Péage algorithms are accepted: P-256 (ES256) and Ed25519 (EdDSA).
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { importPublicKeyPem, type UserKey } from "@peage/protocol";
import { UsageError } from "../errors.js";
import { readInput } from "../files.js";

/** Reads the --user-key file (SPKI PEM, or a JWK as JSON) as a verification key. */
export async function loadUserKey(path: string): Promise<UserKey> {
  const text = (await readInput(path, "--user-key")).trim();
  let object: KeyObject;
  try {
    object = text.startsWith("{")
      ? createPublicKey({ key: JSON.parse(text) as import("node:crypto").JsonWebKey, format: "jwk" })
      : createPublicKey({ key: text, format: "pem" });
  } catch (cause) {
    throw new UsageError(`peage inspect: --user-key ${path} is neither a PEM public key nor a JWK: ${(cause as Error).message}`);
  }
  try {
    // Only the public half is kept, whatever the file held.
    return await importPublicKeyPem(object.export({ type: "spki", format: "pem" }).toString());
  } catch (cause) {
    throw new UsageError(`peage inspect: --user-key ${path}: ${(cause as Error).message}`);
  }
}
