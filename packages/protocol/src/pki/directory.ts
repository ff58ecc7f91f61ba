/**
 * A demo PKI on disk: one PEM file per certificate and per private key, plus the x5c chain of
 * each leaf as a PEM bundle (leaf first). Private keys are created with mode 0600. A PKI whose
 * payment server is also a card issuer (`createDemoPki({ cardIssuer: true })`) has three more
 * files: the server's card-issuer CA certificate and key, and that CA's chain without the root.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isPartyId } from "../identity.js";
import { exportPrivateKeyPem, importPrivateKeyPem } from "../keys.js";
import { assembleDemoPki, type DemoParty, type DemoPki } from "./demo.js";
import { checkIssuerKey, type CertifiedKeyPair } from "./issue.js";
import { certificateToPem, certificatesToPem, fromX5c, parseCertificatesPem } from "./pem.js";
import { subjectAltNameUris } from "./certificate.js";
import type { x509 } from "./x509.js";

export const PkiFiles = {
  root: "root",
  publishersCa: "publishers-ca",
  regulatorCa: "regulator-ca",
  publisher: "publisher",
  server: "server",
  /** Only in a PKI made with `cardIssuer: true`: the server's card-issuer CA (docs/card.md). */
  cardIssuer: "card-issuer",
} as const;

/** The parts every PKI directory has; the card issuer is optional. */
type PartName = Exclude<keyof typeof PkiFiles, "cardIssuer">;
const parts: readonly PartName[] = ["root", "publishersCa", "regulatorCa", "publisher", "server"];

/**
 * Writes `<name>.crt`, `<name>.key` for every part and `<leaf>-chain.pem` for the two leaves, and
 * with a card issuer `card-issuer.crt`, `card-issuer.key` and `card-issuer-chain.pem`; returns the
 * paths written.
 */
export async function writePkiDir(dir: string, pki: DemoPki): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const part of parts) {
    const { certificate, keys } = pki[part];
    written.push(await writeText(join(dir, `${PkiFiles[part]}.crt`), certificateToPem(certificate)));
    written.push(await writeSecret(join(dir, `${PkiFiles[part]}.key`), exportPrivateKeyPem(keys)));
  }
  for (const leaf of ["publisher", "server"] as const) {
    const chain = pki.chainOf(pki[leaf].certificate).map(fromX5c);
    written.push(await writeText(join(dir, `${PkiFiles[leaf]}-chain.pem`), certificatesToPem(chain)));
  }
  if (pki.cardIssuer) {
    const { certificate, keys } = pki.cardIssuer;
    written.push(await writeText(join(dir, `${PkiFiles.cardIssuer}.crt`), certificateToPem(certificate)));
    written.push(await writeSecret(join(dir, `${PkiFiles.cardIssuer}.key`), exportPrivateKeyPem(keys)));
    written.push(
      await writeText(join(dir, `${PkiFiles.cardIssuer}-chain.pem`), certificatesToPem(pki.chainOf(certificate).map(fromX5c))),
    );
  }
  return written;
}

/**
 * Reads a directory written by writePkiDir, checking that every key is the one its certificate
 * certifies. The card issuer is read when `card-issuer.crt` is there (its key must be too).
 */
export async function readPkiDir(dir: string): Promise<DemoPki> {
  const read = async (part: keyof typeof PkiFiles): Promise<CertifiedKeyPair> => {
    const [certificate] = parseCertificatesPem(await readFile(join(dir, `${PkiFiles[part]}.crt`), "utf8"));
    const keys = await importPrivateKeyPem(await readFile(join(dir, `${PkiFiles[part]}.key`), "utf8"));
    const pair = { certificate: certificate!, keys };
    await checkIssuerKey(pair);
    return pair;
  };
  const [root, publishersCa, regulatorCa, publisher, server] = (await Promise.all(parts.map(read))) as [
    CertifiedKeyPair,
    CertifiedKeyPair,
    CertifiedKeyPair,
    CertifiedKeyPair,
    CertifiedKeyPair,
  ];
  const cardIssuer = existsSync(join(dir, `${PkiFiles.cardIssuer}.crt`))
    ? withIdentity(await read("cardIssuer"), "server")
    : undefined;
  const serverParty = withIdentity(server, "server");
  if (cardIssuer && cardIssuer.identity !== serverParty.identity) {
    throw new TypeError(
      `the card issuer names ${cardIssuer.identity}, not the directory's payment server ${serverParty.identity}`,
    );
  }
  return assembleDemoPki({
    alg: root.keys.alg,
    root,
    publishersCa,
    regulatorCa,
    publisher: withIdentity(publisher, "publisher"),
    server: serverParty,
    ...(cardIssuer && { cardIssuer }),
  });
}

function withIdentity<K extends "publisher" | "server">(pair: CertifiedKeyPair, kind: K): DemoParty<K> {
  const identity = identityOf(pair.certificate);
  if (!isPartyId(identity, kind))
    throw new TypeError(`the ${kind} certificate ${JSON.stringify(pair.certificate.subject)} does not name a ${kind} identity`);
  return { ...pair, identity };
}

function identityOf(cert: x509.X509Certificate): string | undefined {
  const uris = subjectAltNameUris(cert);
  return uris.length === 1 ? uris[0] : undefined;
}

async function writeText(path: string, text: string): Promise<string> {
  await writeFile(path, text, "utf8");
  return path;
}

/** Removes any previous file first, so the new one is created 0600 rather than inheriting a wider mode. */
async function writeSecret(path: string, text: string): Promise<string> {
  await rm(path, { force: true });
  await writeFile(path, text, { encoding: "utf8", mode: 0o600, flag: "wx" });
  return path;
}
