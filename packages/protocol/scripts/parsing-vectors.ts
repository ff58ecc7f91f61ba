/**
 * The test vectors of what is refused before any key is used: JWS decoding on its own
 * (docs/protocol.md §4.3, the `jws` kind), certificates that are not the one DER spelling of a
 * valid certificate (§6 step 3), and CRL texts that are not PEM CRLs (§5.4, §13). Each case breaks
 * one parsing rule of an input that is otherwise valid, so that skipping the rule changes the
 * outcome. make-vectors.ts adds them to the vector set.
 */
import { generateKeyPair, toX5c, x509, type JwsType, type Role, type VerificationCode } from "../src/index.js";
import { children, readTlv, singleSequence } from "../src/pki/der.js";
import {
  at,
  b64u,
  canonicalJson,
  DAY,
  HOUR,
  JwsTypes,
  leafExtensions,
  offerAt,
  PUBLISHER,
  rawCertificate,
  requestAt,
  signRaw,
  signRawText,
  type World,
} from "./scenario.js";
import type { CaseSink } from "./mandate-vectors.js";
import type { VectorContext, VectorExpectation } from "./vectors.js";

const valid: VectorExpectation = { valid: true };
const fails = (code: VerificationCode): VectorExpectation => ({ valid: false, code });
const MAX_JWS_LENGTH = 24 * 1024;

/** `jws` cases: a token decoded as `typ` by §4.3 alone, signature not checked. */
export async function jwsCases(c: CaseSink, t: Date): Promise<void> {
  const w = c.world;
  const ctx = (typ: JwsType): VectorContext => ({ at: t.toISOString(), typ });
  const offerTyp = ctx(JwsTypes.offerSignature);
  const consentTyp = ctx(JwsTypes.consent);
  const add = (name: string, description: string, input: unknown, context: VectorContext, expected: VectorExpectation) =>
    c.add("jws", name, description, input, context, expected);
  const signature = w.entries["launch"]!.signature;
  const consent = (await requestAt(offerAt(w.entries["launch"]!, t), w.user, t)).consent;
  const claims = JSON.parse(Buffer.from(signature.split(".")[1]!, "base64url").toString("utf8")) as unknown;
  const publisherKey = w.pki.publisher.keys;

  add("valid-offer-signature", "A publisher's signature S_E, decoded as peage-offer+jws.", signature, offerTyp, valid);
  add("valid-consent", "A consent proof, decoded as peage-consent+jws.", consent, consentTyp, valid);
  add("malformed-not-a-string", "A number where a token is expected (step 1).", 42, offerTyp, fails("ERR_MALFORMED"));
  const [atLimit, overLimit] = await paddedTokens(w);
  add(
    "valid-at-the-length-limit",
    `A consent-typed token of exactly ${MAX_JWS_LENGTH} characters (its payload is padded; decoding does not read claims).`,
    atLimit,
    consentTyp,
    valid,
  );
  add(
    "malformed-too-long",
    `The same token one character longer: ${MAX_JWS_LENGTH + 1} characters (step 1).`,
    overLimit,
    consentTyp,
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-payload-not-json-before-algorithm",
    'A payload that is not JSON under a header whose alg is "none": step 3 comes before step 5, so the token is malformed, not of an unsupported algorithm.',
    `${b64u(JSON.stringify({ alg: "none", typ: JwsTypes.offerSignature, x5c: w.publisherChain }))}.${b64u("not json")}.${b64u("x")}`,
    offerTyp,
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-x5c-empty",
    "A publisher's signature whose x5c is an empty array (step 7).",
    await signRaw({ alg: w.alg, typ: JwsTypes.offerSignature, x5c: [] }, canonicalJson(claims), publisherKey),
    offerTyp,
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-kid-for-a-chain-signed-type",
    "A publisher's signature naming its signer by kid: S_E names it by x5c (§4.1, step 7).",
    await signRaw({ alg: w.alg, typ: JwsTypes.offerSignature, kid: w.user.kid }, canonicalJson(claims), publisherKey),
    offerTyp,
    fails("ERR_MALFORMED"),
  );
  add(
    "malformed-x5c-for-a-key-signed-type",
    "A consent naming its signer by x5c: a consent names the user's key by kid (§4.1, step 7).",
    await signRaw({ alg: w.alg, typ: JwsTypes.consent, x5c: w.publisherChain }, canonicalJson(claims), w.user.key),
    consentTyp,
    fails("ERR_MALFORMED"),
  );
}

/**
 * Two consent-typed tokens of exactly MAX_JWS_LENGTH and MAX_JWS_LENGTH + 1 characters. Base64url
 * text has no length 1 modulo 4, so the header is spaced until both payload lengths exist.
 */
async function paddedTokens(w: World): Promise<[string, string]> {
  const header = JSON.stringify({ alg: w.alg, typ: JwsTypes.consent, kid: w.user.kid });
  for (let spaces = 0; spaces < 4; spaces++) {
    const headerText = `{${" ".repeat(spaces)}${header.slice(1)}`;
    const payloadLength = MAX_JWS_LENGTH - b64u(headerText).length - 2 - 86;
    if (payloadLength % 4 === 0 || payloadLength % 4 === 1) continue;
    const tokens = [payloadLength, payloadLength + 1].map(async (length) => {
      // {"pad":"…"} is 10 characters plus the padding; its base64url has ceil(4n/3) characters.
      const bytes = [...Array(4).keys()]
        .map((d) => Math.floor((length * 3) / 4) - 1 + d)
        .find((n) => Math.ceil((n * 4) / 3) === length)!;
      return signRawText(headerText, canonicalJson({ pad: "a".repeat(bytes - 10) }), w.user.key);
    });
    const [exact, over] = await Promise.all(tokens);
    if (exact!.length !== MAX_JWS_LENGTH || over!.length !== MAX_JWS_LENGTH + 1)
      throw new Error("padded tokens of the wrong length");
    return [exact!, over!];
  }
  throw new Error("no header spacing gives both token lengths");
}

/** DER of one TLV with a minimal definite length (X.690 §10.1). */
function tlv(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const length = content.length < 0x80 ? [content.length] : [0x80 | byteLength(content.length), ...bigEndian(content.length)];
  return Uint8Array.from([tag, ...length, ...content]);
}

function byteLength(value: number): number {
  return bigEndian(value).length;
}

function bigEndian(value: number): number[] {
  const out: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) out.unshift(rest % 256);
  return out;
}

/** The three parts of a signed certificate: TBSCertificate, signatureAlgorithm, and the BIT STRING's content. */
function certificateParts(der: Uint8Array): { tbs: Uint8Array; algorithm: Uint8Array; bits: Uint8Array } {
  const [tbs, algorithm, bits] = children(der, singleSequence(der));
  return {
    tbs: der.slice(tbs!.start, tbs!.end),
    algorithm: der.slice(algorithm!.start, algorithm!.end),
    bits: der.slice(bits!.contentStart, bits!.end),
  };
}

function certificateOf(parts: { tbs: Uint8Array; algorithm: Uint8Array; bits: Uint8Array }): Uint8Array {
  return tlv(0x30, Uint8Array.from([...parts.tbs, ...parts.algorithm, ...tlv(0x03, parts.bits)]));
}

/** The ECDSA signature value with its r INTEGER padded by a needless 0x00 octet (X.690 §8.3.2). */
function paddedEcdsa(bits: Uint8Array): Uint8Array {
  const value = bits.subarray(1);
  const [r, s] = children(value, readTlv(value, 0));
  const rContent = value.subarray(r!.contentStart, r!.end);
  const integers = [...tlv(0x02, Uint8Array.from([0, ...rContent])), ...value.subarray(s!.start, s!.end)];
  return Uint8Array.from([0, ...tlv(0x30, Uint8Array.from(integers))]);
}

/** An AlgorithmIdentifier of another signature algorithm than the world's: ecdsa-with-SHA384, or Ed448. */
function otherAlgorithm(w: World): Uint8Array {
  return w.alg === "ES256"
    ? Uint8Array.from([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03])
    : Uint8Array.from([0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71]);
}

/** Standard base64 of `der` spelled non-canonically: unused low bits set, or padding where none belongs. */
function nonCanonicalBase64(der: Uint8Array): string {
  const text = Buffer.from(der).toString("base64");
  if (!text.endsWith("=")) return `${text}==`;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const body = text.replace(/=+$/, "");
  const last = alphabet.indexOf(body.at(-1)!);
  return `${body.slice(0, -1)}${alphabet[last ^ 1]}${text.slice(body.length)}`;
}

/** Publisher leaves under the publishers' association, valid but for the extensions given. */
async function leafWith(w: World, extensions: (base: x509.Extension[]) => x509.Extension[]): Promise<Uint8Array> {
  const issuer = w.pki.publishersCa;
  const keys = await generateKeyPair(w.alg);
  const roles: Role[] = ["offer-signing"];
  const base = await leafExtensions(issuer.certificate, keys.publicKey, roles, PUBLISHER);
  const cert = await rawCertificate({
    subject: "CN=acme-games,O=Péage",
    issuer: issuer.certificate,
    signer: issuer.keys.privateKey,
    publicKey: keys.publicKey,
    notBefore: at(w.now, -HOUR),
    notAfter: at(w.now, 365 * DAY),
    extensions: extensions(base),
  });
  return new Uint8Array(cert.rawData);
}

/** `chain` cases whose leaf breaks one rule of §6 step 3; the same leaf without the fault is valid. */
export async function certificateCases(c: CaseSink, t: Date): Promise<void> {
  const w = c.world;
  const context: VectorContext = { at: t.toISOString(), role: "offer-signing" };
  const issuer = toX5c(w.pki.publishersCa.certificate);
  const leaf = new Uint8Array(w.pki.publisher.certificate.rawData);
  const add = (name: string, description: string, der: Uint8Array | string) =>
    c.add(
      "chain",
      name,
      description,
      [typeof der === "string" ? der : Buffer.from(der).toString("base64"), issuer],
      context,
      fails("ERR_MALFORMED"),
    );
  const parts = certificateParts(leaf);
  const outer = readTlv(leaf, 0);
  const content = leaf.subarray(outer.contentStart);

  add(
    "malformed-trailing-data",
    "The publisher's certificate followed by one zero byte (X.690: one DER value, nothing after).",
    Uint8Array.from([...leaf, 0]),
  );
  add(
    "malformed-non-minimal-length",
    "The publisher's certificate with its outer length written on one octet more than needed (X.690 §10.1).",
    Uint8Array.from([0x30, 0x80 | (byteLength(content.length) + 1), 0, ...bigEndian(content.length), ...content]),
  );
  add(
    "malformed-indefinite-length",
    "The publisher's certificate with the BER indefinite length form on its outer SEQUENCE (X.690 §10.1).",
    Uint8Array.from([0x30, 0x80, ...content, 0, 0]),
  );
  add(
    "malformed-wrong-outer-tag",
    "The publisher's certificate as a SET (tag 0x31) instead of a SEQUENCE.",
    Uint8Array.from([0x31, ...leaf.subarray(1)]),
  );
  add(
    "malformed-bit-string-unused-bits",
    "The publisher's certificate whose signature BIT STRING declares one unused bit (X.690 §11.2.1: a signature is whole octets).",
    certificateOf({ ...parts, bits: Uint8Array.from([1, ...parts.bits.subarray(1)]) }),
  );
  if (w.alg === "ES256") {
    add(
      "malformed-ecdsa-integer-padded",
      "The publisher's certificate whose ECDSA signature writes r with a needless leading zero octet (X.690 §8.3.2).",
      certificateOf({ ...parts, bits: paddedEcdsa(parts.bits) }),
    );
  }
  add(
    "malformed-signature-algorithms-differ",
    "The publisher's certificate whose outer signatureAlgorithm names another algorithm than the signed one (RFC 5280 §4.1.1.2).",
    certificateOf({ ...parts, algorithm: otherAlgorithm(w) }),
  );
  add(
    "malformed-not-canonical-base64",
    "The publisher's certificate in base64 spelled non-canonically (unused bits set, or padding where none belongs).",
    nonCanonicalBase64(leaf),
  );
  const ski = (base: x509.Extension[]) => base.find((e) => e instanceof x509.SubjectKeyIdentifierExtension)!;
  add(
    "malformed-duplicate-extension",
    "A publisher leaf carrying its subjectKeyIdentifier extension twice (RFC 5280 §4.2).",
    await leafWith(w, (base) => [...base, ski(base)]),
  );
  add(
    "malformed-unknown-critical-extension",
    "A publisher leaf with a critical policyConstraints extension, which a Péage verifier does not process (RFC 5280 §4.2).",
    await leafWith(w, (base) => [
      ...base,
      new x509.Extension("2.5.29.36", true, Uint8Array.from([0x30, 0x03, 0x80, 0x01, 0x00])),
    ]),
  );
  add(
    "malformed-extension-value",
    "A publisher leaf whose extKeyUsage is an empty SEQUENCE (RFC 5280 §4.2.1.12: at least one purpose).",
    await leafWith(w, (base) => [
      ...base.filter((e) => !(e instanceof x509.ExtendedKeyUsageExtension)),
      new x509.Extension("2.5.29.37", false, Uint8Array.from([0x30, 0x00])),
    ]),
  );
  add(
    "malformed-oversize",
    "A publisher leaf of more than 16 KiB of DER (a private non-critical extension of 17 000 bytes).",
    await leafWith(w, (base) => [...base, new x509.Extension("1.3.6.1.4.1.99999.1", false, tlv(0x04, new Uint8Array(17_000)))]),
  );
}

/**
 * CRL texts that are not PEM CRLs, each named by a `chain` case that is valid with the publishers'
 * association's empty CRL; the texts are added to `crls`.
 */
export function crlTextCases(c: CaseSink, t: Date, crls: Record<string, string>, emptyCrlName: string): void {
  const w = c.world;
  const tag = w.alg.toLowerCase();
  const pem = crls[emptyCrlName]!;
  const der = Buffer.from(
    pem
      .split("\n")
      .filter((line) => line && !line.startsWith("-----"))
      .join(""),
    "base64",
  );
  const block = (label: string, bytes: Uint8Array | string, end = label) =>
    `-----BEGIN ${label}-----\n${typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("base64")}\n-----END ${end}-----\n`;
  const add = (name: string, description: string, text: string, expected: VectorExpectation) => {
    const crlName = `${tag}-${name}`;
    crls[crlName] = text;
    c.add(
      "chain",
      name,
      description,
      w.publisherChain,
      { at: t.toISOString(), role: "offer-signing", crls: [crlName] },
      expected,
    );
  };
  add(
    "valid-crl-pem-with-explanatory-text",
    "The publishers' association's empty CRL with text before and after its block (RFC 7468 §5.2).",
    `Issued by the publishers' association.\n${pem}End of file.\n`,
    valid,
  );
  add("valid-crl-pem-legacy-label", 'The same CRL under the label "CRL", which is also read.', block("CRL", der), valid);
  const malformed = fails("ERR_MALFORMED");
  add("malformed-crl-pem-end-without-begin", "An END line before the CRL's block.", `-----END X509 CRL-----\n${pem}`, malformed);
  add(
    "malformed-crl-pem-label-mismatch",
    "A block opened as X509 CRL and closed as CERTIFICATE.",
    block("X509 CRL", der, "CERTIFICATE"),
    malformed,
  );
  add(
    "malformed-crl-pem-no-end",
    "The CRL's block, then a block with no END line.",
    `${pem}-----BEGIN X509 CRL-----\n`,
    malformed,
  );
  add("malformed-crl-pem-no-block", "A CRL text without any PEM block.", "This text holds no CRL.\n", malformed);
  add("malformed-crl-pem-other-label", 'The CRL under the label "PKCS7".', block("PKCS7", der), malformed);
  add(
    "malformed-crl-pem-begin-inside",
    "A BEGIN line inside the CRL's block.",
    pem.replace("-----BEGIN X509 CRL-----\n", "-----BEGIN X509 CRL-----\n-----BEGIN X509 CRL-----\n"),
    malformed,
  );
  add(
    "malformed-crl-pem-not-canonical-base64",
    "The CRL's base64 spelled non-canonically.",
    block("X509 CRL", nonCanonicalBase64(der)),
    malformed,
  );
  add(
    "malformed-crl-not-der",
    "A block whose content is three zero bytes, not a DER CRL.",
    block("X509 CRL", new Uint8Array(3)),
    malformed,
  );
  add(
    "malformed-crl-trailing-data",
    "The CRL's DER followed by one zero byte.",
    block("X509 CRL", Uint8Array.from([...der, 0])),
    malformed,
  );
}
