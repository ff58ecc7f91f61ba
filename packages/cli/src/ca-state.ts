/**
 * What a CA keeps between `peage pki revoke` and `peage pki crl` runs: the certificates it has
 * revoked and the last cRLNumber it issued, as JSON beside its private key by default
 * (<ca-key>.revoked.json). RFC 5280 §5.2.3 wants cRLNumber to increase with every CRL a CA
 * issues, so the number lives with the list rather than being derived from the last CRL file.
 */
import { normalizeSerialNumber, revokedFromJson, revokedToJson, x509, type RevokedCertificate } from "@peage/protocol";
import { CommandError } from "./errors.js";
import { readOptional, replaceFile } from "./files.js";

export const CA_STATE_TYPE = "peage.ca-state";

export interface CaState {
  readonly revoked: readonly RevokedCertificate[];
  /** The cRLNumber of the last CRL issued; undefined before the first. */
  readonly crlNumber?: bigint;
}

/** The default state file of a CA: beside its key. */
export function defaultStatePath(caKeyPath: string): string {
  return `${caKeyPath}.revoked.json`;
}

/** Reads the state of `ca`, or an empty one if the file does not exist yet; refuses another CA's state. */
export async function readCaState(path: string, ca: x509.X509Certificate): Promise<CaState> {
  const text = await readOptional(path, "--state");
  if (text === undefined) return { revoked: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw corrupt(path, `it is not JSON (${(cause as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw corrupt(path, "it is not a JSON object");
  const record = value as Record<string, unknown>;
  if (record["type"] !== CA_STATE_TYPE || record["v"] !== 1) throw corrupt(path, `its type is not ${CA_STATE_TYPE} version 1`);
  if (record["issuer"] !== ca.subject || record["subjectKeyId"] !== subjectKeyIdOf(ca)) {
    throw new CommandError(
      "ERR_STATE_MISMATCH",
      `--state ${path} belongs to the CA ${JSON.stringify(record["issuer"])}, not to ${JSON.stringify(ca.subject)}: give that CA's own state file`,
    );
  }
  let revoked: RevokedCertificate[];
  try {
    revoked = revokedFromJson(record["revoked"]);
  } catch (cause) {
    throw corrupt(path, (cause as Error).message);
  }
  const number = record["crlNumber"];
  if (number === undefined) return { revoked };
  if (typeof number !== "string" || !/^\d{1,48}$/.test(number)) throw corrupt(path, "crlNumber is not a decimal string");
  return { revoked, crlNumber: BigInt(number) };
}

/** Writes the state of `ca` atomically, with its issuer and key identifier so it cannot be mixed up with another CA's. */
export async function writeCaState(path: string, ca: x509.X509Certificate, state: CaState): Promise<void> {
  const json = {
    type: CA_STATE_TYPE,
    v: 1,
    issuer: ca.subject,
    subjectKeyId: subjectKeyIdOf(ca),
    // A decimal string: cRLNumber may reach 20 octets (RFC 5280 §5.2.3), beyond JSON's exact integers.
    ...(state.crlNumber !== undefined && { crlNumber: state.crlNumber.toString() }),
    revoked: revokedToJson(state.revoked),
  };
  await replaceFile(path, `${JSON.stringify(json, null, 2)}\n`, "--state");
}

/** The entry for `serialNumber`, if the state lists it. */
export function findRevoked(state: CaState, serialNumber: string): RevokedCertificate | undefined {
  const serial = normalizeSerialNumber(serialNumber);
  return state.revoked.find((entry) => normalizeSerialNumber(entry.serialNumber) === serial);
}

function subjectKeyIdOf(ca: x509.X509Certificate): string | null {
  return ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase() ?? null;
}

function corrupt(path: string, why: string): CommandError {
  return new CommandError(
    "ERR_BAD_STATE",
    `--state ${path} cannot be read: ${why}; restore it from a backup or give the right file`,
  );
}
