/**
 * `peage pki …`: the certificate tree of a deployment. `init` writes a demonstration tree;
 * `issue` certifies a key for a role (from a PKCS#10 request or a key made on the spot);
 * `revoke` and `crl` keep a CA's revocation list and publish it (RFC 5280 §5); `csr` makes the
 * request a publisher or payment server sends its CA.
 */
import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import {
  PkiFiles,
  SignatureAlgorithms,
  createCsr,
  createDemoPki,
  certificateToPem,
  certificatesToPem,
  generateKeyPair,
  exportPrivateKeyPem,
  issueCertificate,
  issueFromCsr,
  partyId,
  roleHolder,
  writePkiDir,
  x509,
  type CertifiedKeyPair,
  type KeyPair,
  type PartyId,
  type Role,
  type SignatureAlgorithm,
} from "@peage/protocol";
import { Options } from "../args.js";
import { defaultStatePath } from "../ca-state.js";
import type { Command, CommandGroup } from "../command.js";
import { certificateInfo, certificateLines, rolesOf } from "../describe.js";
import { CommandError } from "../errors.js";
import { missing, readInput, writeOutput } from "../files.js";
import { KEY_PASSPHRASE_ENV, loadCa, loadPrivateKey, parseSubject } from "../load.js";
import { print, printJson, warn } from "../output.js";
import { parseIdentity, parseRoles } from "../values.js";
import { caCertOption, caKeyOption, jsonOption } from "./pki-options.js";
import { crl, revoke } from "./pki-revocation.js";

/** id-ce-extKeyUsage (RFC 5280 §4.2.1.12): a CA that has it may certify only the roles it lists. */
const EXTENDED_KEY_USAGE_OID = "2.5.29.37";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Certificates start an hour in the past so that a relying party whose clock lags still accepts them. */
const BACKDATE_MS = HOUR;

const forceOption = { type: "boolean", description: "replace output files that already exist" } as const;
const algOption = {
  type: "string",
  value: "ES256|EdDSA",
  description: "algorithm of the new key (ES256: ECDSA P-256; EdDSA: Ed25519)",
} as const;
const init: Command = {
  spec: {
    name: "pki init",
    title: "write a demonstration certificate tree (root, two intermediates, a publisher, a payment server)",
    summary:
      "Write a demonstration certificate tree: a root CA, the publishers' association and payment regulator intermediates, " +
      "one publisher (offer-signing) and one payment server (acknowledgment-signing), as PEM certificates and keys (mode 0600).",
    synopsis: "--dir DIR [--alg ES256|EdDSA] [--publisher-name NAME] [--server-name NAME] [--card-issuer] [--force] [--json]",
    options: {
      dir: { type: "string", value: "DIR", description: "directory to write the tree to (created if needed)" },
      alg: { ...algOption, description: "algorithm of every key of the tree (default ES256)" },
      "publisher-name": {
        type: "string",
        value: "NAME",
        description: "the publisher is urn:peage:publisher:NAME (default acme-games)",
      },
      "server-name": {
        type: "string",
        value: "NAME",
        description: "the payment server is urn:peage:server:NAME (default pay-eu)",
      },
      "card-issuer": {
        type: "boolean",
        description:
          "also make the payment server a card issuer: card-issuer.crt/.key (its CA for the users' smart cards) and card-issuer-chain.pem",
      },
      force: {
        type: "boolean",
        description: "replace an existing tree in DIR (and the revocation state files beside its CA keys)",
      },
      json: { type: "boolean", description: 'print {"files": {name: absolute path}} on stdout and nothing else' },
    },
  },
  async run(o) {
    const dir = resolve(o.required("dir", "DIR"));
    const alg = o.choice("alg", SignatureAlgorithms, "ES256");
    const publisherName = partyName(o, "publisher-name", "publisher");
    const serverName = partyName(o, "server-name", "server");
    const names = [
      ...Object.values(PkiFiles).flatMap((part) => [`${part}.crt`, `${part}.key`]),
      `${PkiFiles.publisher}-chain.pem`,
      `${PkiFiles.server}-chain.pem`,
      `${PkiFiles.cardIssuer}-chain.pem`,
    ];
    if (!o.flag("force")) {
      for (const name of names) {
        if (!(await missing(resolve(dir, name)))) {
          throw new CommandError(
            "ERR_EXISTS",
            `${dir} already holds a certificate tree (${name} exists): pass --force to replace it, or choose another --dir`,
          );
        }
      }
    }
    const cardIssuer = o.flag("card-issuer");
    const pki = await createDemoPki({
      alg,
      ...(publisherName && { publisherName }),
      ...(serverName && { serverName }),
      ...(cardIssuer && { cardIssuer }),
    });
    let written: string[];
    try {
      written = await writePkiDir(dir, pki);
    } catch (cause) {
      throw new CommandError("ERR_WRITE", `the tree could not be written to ${dir}: ${(cause as Error).message}`);
    }
    // A replaced CA starts with an empty revocation list: the old list named another key's certificates.
    for (const part of o.flag("force") ? [PkiFiles.root, PkiFiles.publishersCa, PkiFiles.regulatorCa, PkiFiles.cardIssuer] : []) {
      await removeIfPresent(defaultStatePath(resolve(dir, `${part}.key`)));
    }
    // A tree replaced without a card issuer must not keep the previous tree's card issuer.
    if (o.flag("force") && !cardIssuer) {
      for (const name of [".crt", ".key", "-chain.pem"]) await removeIfPresent(resolve(dir, `${PkiFiles.cardIssuer}${name}`));
    }
    const files = Object.fromEntries(written.map((path) => [path.slice(dir.length + 1), path]));
    if (o.flag("json")) return printJson({ files });
    print(
      `wrote a demonstration certificate tree (${alg}) to ${dir}:`,
      `  root.crt            ${pki.root.certificate.subject}`,
      `  publishers-ca.crt   ${pki.publishersCa.certificate.subject}   may certify: offer-signing`,
      `  regulator-ca.crt    ${pki.regulatorCa.certificate.subject}   may certify: acknowledgment-signing, card-issuing${cardIssuer ? ", card-acknowledgment" : ""}`,
      `  publisher.crt       ${pki.publisher.identity}   offer-signing`,
      `  server.crt          ${pki.server.identity}   acknowledgment-signing`,
      ...(pki.cardIssuer
        ? [
            `  card-issuer.crt     ${pki.cardIssuer.certificate.subject}   may certify: card-acknowledgment (the cards of ${pki.cardIssuer.identity})`,
          ]
        : []),
      "each with its private key (<name>.key, mode 0600); publisher-chain.pem and server-chain.pem are the leaves with their intermediates.",
    );
  },
};

const issue: Command = {
  spec: {
    name: "pki issue",
    title: "issue a certificate with a role, from a CSR or for a new key",
    summary:
      "Issue a certificate in the Péage profile: an end-entity certificate with role(s) and the holder's identity, or " +
      "(with --ca) an intermediate CA that may certify the given roles. The key comes from a PKCS#10 request (--csr) or is made now (--new-key).",
    synopsis:
      "--ca-cert FILE --ca-key FILE (--csr FILE | --new-key OUT.key [--alg ES256|EdDSA]) --subject DN --role ROLE[,ROLE] " +
      "[--identity URN] [--ca [--path-length N]] [--days N] --out CERT.pem [--chain-out FILE] [--force] [--json]",
    options: {
      "ca-cert": caCertOption,
      "ca-key": caKeyOption,
      csr: {
        type: "string",
        value: "FILE",
        description: "certify the key of this PKCS#10 request (PEM); its signature is checked",
      },
      "new-key": {
        type: "string",
        value: "OUT.key",
        description: "make a new key pair and write its private key here (mode 0600)",
      },
      alg: { ...algOption, description: "algorithm of the --new-key key (default: the CA's)" },
      subject: {
        type: "string",
        value: "DN",
        description: 'subject name, e.g. "CN=acme-games,O=Acme"; with --csr, optional and must equal the request\'s',
      },
      role: {
        type: "string",
        value: "ROLE[,ROLE]",
        description:
          "offer-signing, acknowledgment-signing, card-issuing, card-acknowledgment; with --ca, the roles the CA may certify",
      },
      identity: {
        type: "string",
        value: "URN",
        description: "the holder, urn:peage:{publisher|server|card}:NAME (required for an end-entity certificate)",
      },
      ca: { type: "boolean", description: "issue a CA certificate" },
      "path-length": {
        type: "string",
        value: "N",
        description: "with --ca: how many CA levels may follow below it (RFC 5280 §4.2.1.9)",
      },
      days: { type: "string", value: "N", description: "validity in days (default 365, or 1825 with --ca)" },
      out: { type: "string", value: "CERT.pem", description: "where to write the certificate" },
      "chain-out": {
        type: "string",
        value: "FILE",
        description: "also write the certificate followed by its CA chain (without the root): the x5c a signer sends",
      },
      force: forceOption,
      json: jsonOption,
    },
  },
  async run(o) {
    const caCert = o.required("ca-cert", "FILE");
    const caKey = o.required("ca-key", "FILE");
    const source = o.exactlyOne("csr", "new-key");
    o.onlyWith("alg", "new-key");
    const isCa = o.flag("ca");
    o.onlyWith("path-length", "ca");
    o.notWith("identity", "ca");
    const out = o.required("out", "CERT.pem");
    const chainOut = o.string("chain-out");
    const alg = o.choice("alg", SignatureAlgorithms);
    const subjectText = o.string("subject");
    if (source === "new-key" && subjectText === undefined) throw o.usage("--subject DN is required with --new-key");
    const subject = subjectText === undefined ? undefined : parseSubject(subjectText, "--subject");
    const roleText = o.string("role");
    const roles = roleText === undefined ? undefined : parseRoles(o, "role", roleText);
    if (!isCa && roles === undefined) throw o.usage("--role ROLE is required for an end-entity certificate");
    const pathLength = o.integer("path-length", 0, 8);
    const days = o.integer("days", 1, 36_500, isCa ? 5 * 365 : 365);
    const identity = isCa ? undefined : leafIdentity(o, roles!);
    const force = o.flag("force");
    const outputs = [out, ...(chainOut ? [chainOut] : []), ...(source === "new-key" ? [o.required("new-key", "OUT.key")] : [])];
    if (new Set(outputs.map((path) => resolve(path))).size !== outputs.length)
      throw o.usage("--out, --chain-out and --new-key must be different files");

    const { issuer, chain } = await loadCa(caCert, caKey);
    checkCaMayCertify(issuer.certificate, roles ?? [], isCa);
    if (!force) await refuseExisting(outputs);

    const notBefore = new Date(Date.now() - BACKDATE_MS);
    const notAfter = new Date(notBefore.getTime() + days * DAY);
    if (notAfter.getTime() > issuer.certificate.notAfter.getTime()) {
      warn(
        `the certificate outlives its CA (${issuer.certificate.notAfter.toISOString()}): chains through it stop validating when the CA expires`,
      );
    }
    const constraints = isCa
      ? { ca: { ...(pathLength !== undefined && { pathLength }), ...(roles && { roles }) } }
      : { roles: roles!, identity: identity! };

    let certificate: x509.X509Certificate;
    let newKey: KeyPair | undefined;
    if (source === "csr") {
      const csrPath = o.required("csr", "FILE");
      const csrPem = await readInput(csrPath, "--csr");
      await checkCsr(csrPem, csrPath, subject);
      certificate = await issueFromCsr({ issuer, csrPem, notBefore, notAfter, ...constraints });
    } else {
      newKey = await generateKeyPair(alg ?? issuer.keys.alg);
      certificate = await issueCertificate({
        issuer,
        subject: subject!,
        publicKey: newKey.publicKey,
        notBefore,
        notAfter,
        ...constraints,
      });
    }

    const keyPath = o.string("new-key");
    if (newKey && keyPath) await writeOutput(keyPath, exportPrivateKeyPem(newKey), "--new-key", { force, secret: true });
    await writeOutput(out, certificateToPem(certificate), "--out", { force });
    if (chainOut) await writeOutput(chainOut, certificatesToPem(chainOf(certificate, issuer, chain)), "--chain-out", { force });

    const info = certificateInfo(certificate);
    if (o.flag("json")) {
      return printJson({
        certificate: resolve(out),
        ...(keyPath && { key: resolve(keyPath) }),
        ...(chainOut && { chain: resolve(chainOut) }),
        ...info,
      });
    }
    print(`issued ${isCa ? "a CA" : "an end-entity"} certificate to ${out}:`, ...certificateLines(info));
  },
};

const csr: Command = {
  spec: {
    name: "pki csr",
    title: "make a certificate request for a key",
    summary: "Make a PKCS#10 certificate request (RFC 2986) for a key, to send to a CA for `peage pki issue --csr`.",
    synopsis: "(--key FILE | --new-key OUT.key [--alg ES256|EdDSA]) --subject DN --out CSR.pem [--force] [--json]",
    options: {
      key: { type: "string", value: "FILE", description: "the private key to certify (PKCS#8 PEM, P-256 or Ed25519)" },
      "new-key": {
        type: "string",
        value: "OUT.key",
        description: "make a new key pair and write its private key here (mode 0600)",
      },
      alg: { ...algOption, description: "algorithm of the --new-key key (default ES256)" },
      subject: { type: "string", value: "DN", description: 'the subject name to ask for, e.g. "CN=acme-games,O=Acme"' },
      out: { type: "string", value: "CSR.pem", description: "where to write the request" },
      force: forceOption,
      json: jsonOption,
    },
  },
  async run(o) {
    const source = o.exactlyOne("key", "new-key");
    o.onlyWith("alg", "new-key");
    const alg: SignatureAlgorithm = o.choice("alg", SignatureAlgorithms, "ES256");
    const subjectText = o.required("subject", "DN");
    parseSubject(subjectText, "--subject");
    const out = o.required("out", "CSR.pem");
    const force = o.flag("force");
    const keyPath = source === "key" ? o.required("key", "FILE") : o.required("new-key", "OUT.key");
    if (resolve(keyPath) === resolve(out)) throw o.usage("--out must not be the key file");
    if (source === "new-key" && !force) await refuseExisting([keyPath, out]);
    const keys = source === "key" ? await loadPrivateKey(keyPath, "--key") : await generateKeyPair(alg);
    const pem = await createCsr({ subject: subjectText, keys });
    if (source === "new-key") await writeOutput(keyPath, exportPrivateKeyPem(keys), "--new-key", { force, secret: true });
    await writeOutput(out, pem.endsWith("\n") ? pem : `${pem}\n`, "--out", { force });
    if (o.flag("json"))
      return printJson({
        csr: resolve(out),
        key: resolve(keyPath),
        subject: parseSubject(subjectText, "--subject").toString(),
        keyAlgorithm: keys.alg,
      });
    print(`wrote a certificate request for ${subjectText} (${keys.alg}) to ${out}`);
  },
};

const protectKey: Command = {
  spec: {
    name: "pki protect-key",
    title: "encrypt a private key at rest with a passphrase",
    summary:
      "Rewrite a PKCS#8 private key (a CA's, a publisher's or the payment server's) as an encrypted one (PBES2, AES-256-CBC), mode 0600, " +
      `so that a copy of the disk or of a backup does not give the key away. Commands then need its passphrase in ${KEY_PASSPHRASE_ENV}; ` +
      "the payment server takes it from --key-passphrase-file or the same variable.",
    synopsis: "--key FILE --passphrase-file FILE [--json]",
    options: {
      key: { type: "string", value: "FILE", description: "the unencrypted PEM private key, replaced in place" },
      "passphrase-file": {
        type: "string",
        value: "FILE",
        description: "a file whose first line is the passphrase (at least 12 characters)",
      },
      json: { type: "boolean", description: "print the result as JSON" },
    },
  },
  async run(o) {
    const keyPath = o.required("key", "FILE");
    const passphrase = (await readInput(o.required("passphrase-file", "FILE"), "--passphrase-file")).split(/\r?\n/)[0] ?? "";
    if (passphrase.length < 12) throw o.usage("--passphrase-file: the passphrase must be at least 12 characters");
    if ((await readInput(keyPath, "--key")).includes("ENCRYPTED PRIVATE KEY"))
      throw o.usage(`--key ${keyPath} is already encrypted`);
    const keys = await loadPrivateKey(keyPath, "--key");
    await writeOutput(keyPath, exportPrivateKeyPem(keys, passphrase), "--key", { force: true, secret: true });
    if (o.flag("json")) return printJson({ key: resolve(keyPath), encrypted: true });
    print(`encrypted ${keyPath} (mode 0600): commands that use it need ${KEY_PASSPHRASE_ENV}`);
  },
};

export const pki: CommandGroup = {
  name: "pki",
  summary: "certificates, keys and revocation lists",
  commands: [init, issue, revoke, crl, csr, protectKey],
};

// --- helpers ---------------------------------------------------------------------------------

function partyName(o: Options, option: string, kind: "publisher" | "server"): string | undefined {
  const name = o.string(option);
  if (name === undefined) return undefined;
  try {
    partyId(kind, name);
  } catch (cause) {
    throw o.usage(`--${option}: ${(cause as Error).message}`);
  }
  return name;
}

/** An end-entity certificate names its holder, who must be the kind of party that holds every role it gets. */
function leafIdentity(o: Options, roles: readonly Role[]): PartyId {
  const text = o.string("identity");
  if (text === undefined)
    throw o.usage("--identity URN is required for an end-entity certificate (e.g. urn:peage:publisher:acme-games)");
  const identity = parseIdentity(o, "identity", text);
  const kind = identity.split(":")[2];
  for (const role of roles) {
    if (roleHolder[role] !== kind) {
      throw o.usage(
        `--identity ${identity} is a ${kind}, but the role ${role} is held by a ${roleHolder[role]} (urn:peage:${roleHolder[role]}:NAME)`,
      );
    }
  }
  return identity;
}

/**
 * Refuses to issue what could never validate: a role the CA may not certify (EKU chaining,
 * profile.ts) or a CA under a CA whose pathLenConstraint is 0 (RFC 5280 §4.2.1.9).
 */
function checkCaMayCertify(ca: x509.X509Certificate, roles: readonly Role[], isCa: boolean): void {
  const allowed = rolesOf(ca);
  const eku = ca.extensions.some((extension) => extension.type === EXTENDED_KEY_USAGE_OID);
  for (const role of roles) {
    if (eku && !allowed.includes(role)) {
      throw new CommandError(
        "ERR_WRONG_ROLE",
        `the CA ${JSON.stringify(ca.subject)} may only certify ${allowed.join(", ")}, not ${role}: use the CA of that role`,
      );
    }
  }
  const pathLength = ca.getExtension(x509.BasicConstraintsExtension)?.pathLength;
  if (isCa && pathLength === 0) {
    throw new CommandError(
      "ERR_PATH_LENGTH",
      `the CA ${JSON.stringify(ca.subject)} has pathLength 0 and may not certify another CA: issue from a CA higher in the tree`,
    );
  }
}

/** A request must carry a valid self-signature (proof of possession, RFC 2986 §3) and, if --subject is given, that subject. */
async function checkCsr(pem: string, path: string, subject: x509.Name | undefined): Promise<void> {
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(x509.PemConverter.decodeFirst(pem));
  } catch (cause) {
    throw new CommandError("ERR_MALFORMED", `--csr ${path} is not a PEM certificate request: ${(cause as Error).message}`);
  }
  let valid = false;
  try {
    valid = await request.verify();
  } catch {
    valid = false;
  }
  if (!valid)
    throw new CommandError(
      "ERR_BAD_SIGNATURE",
      `--csr ${path}: the request's signature does not verify, so it does not prove possession of its key: ask for a new request`,
    );
  if (subject && JSON.stringify(subject.toJSON()) !== JSON.stringify(request.subjectName.toJSON())) {
    throw new CommandError(
      "ERR_SUBJECT_MISMATCH",
      `--subject ${subject.toString()} is not the request's subject ${request.subject}: leave --subject out to use the request's`,
    );
  }
}

async function refuseExisting(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    if (!(await missing(path)))
      throw new CommandError("ERR_EXISTS", `${path} already exists: pass --force to replace it, or choose another path`);
  }
}

async function removeIfPresent(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** The x5c a signer sends: the certificate, its CA and the CA's chain, without self-signed roots. */
function chainOf(
  cert: x509.X509Certificate,
  issuer: CertifiedKeyPair,
  caChain: readonly x509.X509Certificate[],
): x509.X509Certificate[] {
  const selfIssued = (c: x509.X509Certificate) =>
    Buffer.from(c.subjectName.toArrayBuffer()).equals(Buffer.from(c.issuerName.toArrayBuffer()));
  return [cert, ...[issuer.certificate, ...caChain].filter((c) => !selfIssued(c))];
}
