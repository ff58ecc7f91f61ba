/**
 * Certificate and CRL encodings: PEM bundles (RFC 7468) for files, and the base64 DER strings of
 * a JWS `x5c` header (RFC 7515 §4.1.6) for messages. Parsing is strict about the data (one DER
 * value per block, canonical base64) and throws VerificationError ERR_MALFORMED on anything else.
 */
import { VerificationError, fail, ok, type Result } from "../errors.js";
import { singleSequence } from "./der.js";
import { x509 } from "./x509.js";

/** Largest certificate accepted; Péage certificates are well under 2 KiB. */
export const MAX_CERTIFICATE_SIZE = 16 * 1024;

export const PemLabels = { certificate: "CERTIFICATE", crl: "X509 CRL" } as const;
/** Also read: the label @peculiar/x509 writes for CRLs. */
const legacyCrlLabel = "CRL";

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

const BEGIN = /^-----BEGIN ([\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*)?-----$/;
const END = /^-----END ([\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*)?-----$/;

/**
 * Splits a PEM text into its blocks. Text outside blocks is ignored (RFC 7468 §5.2 allows
 * explanatory text); inside a block only base64 and whitespace are allowed, and every BEGIN
 * needs the END with the same label.
 */
export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  let open: { label: string; line: number; body: string[] } | undefined;
  const lines = text.split(/\r\n|\r|\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    const begin = BEGIN.exec(line);
    const end = END.exec(line);
    if (!open) {
      if (begin) open = { label: begin[1] ?? "", line: index + 1, body: [] };
      else if (end) throw malformed(`PEM line ${index + 1}: END without BEGIN`);
      return;
    }
    // A BEGIN line inside a block is not base64, so the block is refused when decoded.
    if (!end) {
      open.body.push(line);
      return;
    }
    if ((end[1] ?? "") !== open.label) throw malformed(`PEM line ${index + 1}: END ${end[1] ?? ""} closes BEGIN ${open.label}`);
    blocks.push({
      label: open.label,
      der: decodeBase64(open.body.join("").replace(/\s+/g, ""), `the ${open.label} block on line ${open.line}`),
    });
    open = undefined;
  });
  if (open) throw malformed(`PEM: the ${open.label} block opened on line ${open.line} has no END line`);
  return blocks;
}

/** Every certificate of a PEM bundle (at least one; other block types are refused). */
export function parseCertificatesPem(text: string): x509.X509Certificate[] {
  return blocksOf(text, PemLabels.certificate).map((der, i) =>
    parseCertificateDer(der, `certificate #${i + 1} of the PEM bundle`),
  );
}

/** Every CRL of a PEM text (at least one; other block types are refused). */
export function parseCrlsPem(text: string): x509.X509Crl[] {
  return blocksOf(text, PemLabels.crl, legacyCrlLabel).map((der, i) => parseCrlDer(der, `CRL #${i + 1} of the PEM text`));
}

export function parseCertificateDer(der: Uint8Array, what = "certificate"): x509.X509Certificate {
  const result = decodeCertificate(der, what);
  if (!result.ok) throw result.error;
  return result.value;
}

export function parseCrlDer(der: Uint8Array, what = "CRL"): x509.X509Crl {
  try {
    singleSequence(der);
    const crl = new x509.X509Crl(copy(der));
    void crl.thisUpdate; // force decoding of the fields parsed lazily
    return crl;
  } catch (cause) {
    throw malformed(`${what} is not a DER X.509 CRL: ${(cause as Error).message}`);
  }
}

export function certificateToPem(cert: x509.X509Certificate): string {
  return `${cert.toString("pem")}\n`;
}

export function certificatesToPem(certs: readonly x509.X509Certificate[]): string {
  return certs.map(certificateToPem).join("");
}

/** RFC 7468 §9 labels CRLs "X509 CRL" (the library's own PEM says "CRL", which OpenSSL refuses). */
export function crlToPem(crl: x509.X509Crl): string {
  return `${x509.PemConverter.encode(crl.rawData, PemLabels.crl)}\n`;
}

/** The x5c form of a certificate: base64 (not base64url) of its DER (RFC 7515 §4.1.6). */
export function toX5c(cert: x509.X509Certificate): string {
  return Buffer.from(cert.rawData).toString("base64");
}

/** Parses one x5c entry; throws VerificationError ERR_MALFORMED. */
export function fromX5c(value: string): x509.X509Certificate {
  const result = decodeX5c(value, "x5c certificate");
  if (!result.ok) throw result.error;
  return result.value.cert;
}

/** Parses one x5c entry into the certificate and its DER, as a Result (the validation path never throws). */
export function decodeX5c(value: unknown, what: string): Result<{ cert: x509.X509Certificate; der: Uint8Array }> {
  if (typeof value !== "string") return fail("ERR_MALFORMED", `${what} is not a string`);
  let der: Uint8Array;
  try {
    der = decodeBase64(value, what);
  } catch (error) {
    return { ok: false, error: error as VerificationError };
  }
  const cert = decodeCertificate(der, what);
  return cert.ok ? ok({ cert: cert.value, der }) : cert;
}

function decodeCertificate(der: Uint8Array, what: string): Result<x509.X509Certificate> {
  if (der.length > MAX_CERTIFICATE_SIZE) return fail("ERR_MALFORMED", `${what} is larger than ${MAX_CERTIFICATE_SIZE} bytes`);
  try {
    // @peculiar/x509 accepts trailing bytes after the certificate; a DER certificate has none.
    singleSequence(der);
    const cert = new x509.X509Certificate(copy(der));
    // Fields are decoded lazily; touch the ones every later step needs so errors surface here.
    void [cert.subject, cert.issuer, cert.notBefore, cert.notAfter, cert.serialNumber, cert.publicKey.rawData];
    return ok(cert);
  } catch (cause) {
    return fail("ERR_MALFORMED", `${what} is not a DER X.509 certificate: ${(cause as Error).message}`);
  }
}

function blocksOf(text: string, label: string, ...aliases: string[]): Uint8Array[] {
  const blocks = parsePem(text);
  if (blocks.length === 0) throw malformed(`no ${label} PEM block found`);
  const other = blocks.find((block) => block.label !== label && !aliases.includes(block.label));
  if (other) throw malformed(`expected only ${label} PEM blocks, found ${other.label}`);
  return blocks.map((block) => block.der);
}

/**
 * Strict base64: standard alphabet, padded, canonical. Re-encoding the bytes gives the same text
 * only then: the decoder skips what is not base64 (whitespace, other characters, base64url's
 * `-_`) and ignores missing padding and unused low bits, which re-encoding writes back differently.
 */
function decodeBase64(text: string, what: string): Uint8Array {
  const bytes = Buffer.from(text, "base64");
  if (bytes.toString("base64") !== text) throw malformed(`${what} is not canonical padded base64 (RFC 4648 §4)`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An ArrayBuffer holding exactly these bytes (the library reads whole ArrayBuffers). */
function copy(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}

function malformed(message: string): VerificationError {
  return new VerificationError("ERR_MALFORMED", message);
}
