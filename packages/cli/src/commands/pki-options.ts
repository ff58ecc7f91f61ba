/**
 * The options several `peage pki` commands take alike: the CA that signs (its certificate and key),
 * its revocation state file, and --json. Kept apart so that the revocation commands
 * (pki-revocation.ts) and the others (pki.ts) describe them in the same words.
 */
export const jsonOption = { type: "boolean", description: "print the result as JSON on stdout" } as const;
export const caCertOption = {
  type: "string",
  value: "FILE",
  description: "the CA's certificate (PEM; may be followed by its own chain)",
} as const;
export const caKeyOption = { type: "string", value: "FILE", description: "the CA's private key (PKCS#8 PEM)" } as const;
export const stateOption = {
  type: "string",
  value: "FILE",
  description: "the CA's revocation state (JSON; default: <ca-key>.revoked.json)",
} as const;
