/**
 * The server's data directory: its database, its identity (signing key, certificate chain, the
 * roots it trusts and optional CRLs), its rates and an optional config file. One place names the
 * files; initDataDir fills a new directory from a PKI directory written by protocol's writePkiDir.
 */
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  parseCertificatesPem,
  PeageError,
  PkiFiles,
  systemClock,
  toX5c,
  TrustStore,
  type Clock,
  type PartyId,
  type RevocationPolicy,
  type SigningKey,
} from "@peage/protocol";
import { installCardIssuer } from "./cards/files.js";
import { createWebhookKeys } from "./webhooks/secret-box.js";
import { keyFromPem, openTokenKey, SigningKeyError, spkiOf, type KeySource } from "./signing-key.js";

/** The files of a data directory, by role (the server's key and chain, trusted roots, CRLs, rates, database). */
export const DataDirFiles = {
  database: "peage.db",
  /** The server's PKCS#8 PEM private key (mode 0600). */
  key: "server.key",
  /** The server's certificate chain, leaf first, PEM. */
  chain: "server-chain.pem",
  /** The root certificates every chain must lead to, PEM bundle. */
  trustRoots: "trust-roots.pem",
  /** Optional directory of CRLs (PEM, *.pem or *.crl), added to the trust store. */
  crls: "crls",
  rates: "rates.xml",
  /** Optional JSON settings (see config.ts). */
  config: "server.json",
} as const;

/** The sample ECB rates file shipped with the server (sample values, labelled as such inside). */
export const SAMPLE_RATES_FILE = fileURLToPath(new URL("../../data/eurofxref-sample.xml", import.meta.url));

export const DataDirErrorCodes = ["ERR_DATA_DIR", "ERR_SERVER_IDENTITY"] as const;
export type DataDirErrorCode = (typeof DataDirErrorCodes)[number];

/** A data directory that cannot be prepared or read, or a server identity that does not validate. */
export class DataDirError extends PeageError<DataDirErrorCode> {
  override readonly name = "DataDirError";
  constructor(
    code: DataDirErrorCode,
    message: string,
    /** For an identity that does not validate: the protocol verification code (e.g. ERR_WRONG_ROLE). */
    readonly reason?: string,
  ) {
    super(code, message);
  }
}

/** What the server signs with and what it trusts. */
export interface ServerIdentity {
  readonly id: PartyId<"server">;
  readonly key: SigningKey;
  /** The server's chain as x5c (leaf first), put in every acknowledgment's header. */
  readonly x5c: readonly string[];
  readonly notAfter: Date;
}

export interface LoadedIdentity {
  readonly identity: ServerIdentity;
  readonly trust: TrustStore;
  /** Releases the key (closes a PKCS#11 session); nothing for a key in memory. */
  release(): void;
}

export interface IdentityOptions {
  readonly revocation?: RevocationPolicy;
  readonly clock?: Clock;
  /** The key file in the data directory (unencrypted) unless said. */
  readonly key?: KeySource;
}

/**
 * Reads the server's key, chain, trust roots and CRLs from a data directory, and checks that the
 * chain validates for acknowledgment-signing today and certifies exactly this key: a server must
 * not start with an identity merchants would refuse.
 */
export async function loadServerIdentity(dataDir: string, opts: IdentityOptions = {}): Promise<LoadedIdentity> {
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(join(dataDir, name), "utf8");
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code ?? "error";
      throw new DataDirError(
        "ERR_DATA_DIR",
        `cannot read ${join(dataDir, name)} (${code}): initialise it first with \`peage server init --data ${dataDir} --pki PKIDIR\``,
      );
    }
  };
  const inToken = opts.key?.kind === "pkcs11";
  const [keyPem, chainPem, rootsPem] = await Promise.all([
    inToken ? undefined : read(DataDirFiles.key),
    read(DataDirFiles.chain),
    read(DataDirFiles.trustRoots),
  ]);
  const crlsPem = await readCrls(join(dataDir, DataDirFiles.crls));
  return identityFromPem({ ...(keyPem === undefined ? {} : { keyPem }), chainPem, rootsPem, crlsPem }, opts);
}

/** The CRLs of a data directory, as PEM texts (read again on SIGHUP). */
export function readDataDirCrls(dataDir: string): Promise<string[]> {
  return readCrls(join(dataDir, DataDirFiles.crls));
}

/** The same checks as loadServerIdentity, on PEM texts (keyPem is not needed for a key in a token). */
export async function identityFromPem(
  pem: { keyPem?: string; chainPem: string; rootsPem: string; crlsPem?: readonly string[] },
  opts: IdentityOptions = {},
): Promise<LoadedIdentity> {
  let trust: TrustStore;
  let x5c: string[];
  try {
    x5c = parseCertificatesPem(pem.chainPem).map(toX5c);
    trust = TrustStore.fromPem(
      pem.rootsPem,
      pem.crlsPem ?? [],
      opts.revocation === undefined ? {} : { revocation: opts.revocation },
    );
  } catch (cause) {
    throw new DataDirError(
      "ERR_SERVER_IDENTITY",
      `the server's key, chain, roots or CRLs cannot be read: ${(cause as Error).message}`,
    );
  }
  if (x5c.length === 0) throw new DataDirError("ERR_SERVER_IDENTITY", `${DataDirFiles.chain} holds no certificate`);
  if (trust.roots.length === 0) throw new DataDirError("ERR_SERVER_IDENTITY", `${DataDirFiles.trustRoots} holds no certificate`);
  const validated = await trust.validate(x5c, "acknowledgment-signing", (opts.clock ?? systemClock).now());
  if (!validated.ok) {
    throw new DataDirError(
      "ERR_SERVER_IDENTITY",
      `the server's certificate chain is not valid for signing acknowledgments: ${validated.error.message}`,
      validated.error.code,
    );
  }
  const leaf = validated.value.leaf;
  const spki = new Uint8Array(leaf.publicKey.rawData);
  let key: SigningKey;
  let release = () => {};
  try {
    if (opts.key?.kind === "pkcs11") {
      const publicKey = await leaf.publicKey.export();
      const alg = publicKey.algorithm.name === "Ed25519" ? "EdDSA" : "ES256";
      const token = openTokenKey({ source: opts.key, spki, publicKey, alg });
      key = token;
      release = () => token.close();
    } else {
      if (pem.keyPem === undefined) throw new SigningKeyError(`no ${DataDirFiles.key}: the server's private key is missing`);
      key = await keyFromPem(pem.keyPem, opts.key?.passphrase, DataDirFiles.key);
      if (!spkiOf(key.publicKey).equals(Buffer.from(spki))) {
        throw new DataDirError(
          "ERR_SERVER_IDENTITY",
          `${DataDirFiles.key} is not the key certified by the first certificate of ${DataDirFiles.chain}`,
        );
      }
    }
  } catch (cause) {
    if (cause instanceof SigningKeyError) throw new DataDirError("ERR_SERVER_IDENTITY", cause.message);
    throw cause;
  }
  return {
    identity: { id: validated.value.identity as PartyId<"server">, key, x5c, notAfter: validated.value.notAfter },
    trust,
    release,
  };
}

async function readCrls(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const names = (await readdir(dir)).filter((name) => name.endsWith(".pem") || name.endsWith(".crl")).sort();
  return Promise.all(names.map((name) => readFile(join(dir, name), "utf8")));
}

/** Where a new data directory's identity comes from: a whole PKI directory, or a key and chain issued by any CA. */
export type IdentitySource =
  /** A directory written by protocol's writePkiDir (server.key, server-chain.pem, root.crt). */
  | { readonly pkiDir: string }
  /** The server's PKCS#8 PEM key, its chain (leaf first, PEM) and the root(s) that chain leads to (PEM bundle). */
  | { readonly keyFile: string; readonly chainFile: string; readonly rootsFile: string };

export type InitDataDirOptions = IdentitySource & {
  readonly dataDir: string;
  /** ECB rates XML to install as rates.xml; the shipped sample when absent. */
  readonly ratesFile?: string;
  /** CRL files (PEM) to install. */
  readonly crlFiles?: readonly string[];
  /** Replace an identity already in the directory. */
  readonly force?: boolean;
  readonly clock?: Clock;
};

/**
 * Makes a server data directory from a PKI directory, or from a key and chain of any CA: copies the server's key (mode 0600), its
 * chain, the root as the trust anchor and the rates, then loads the result to prove it works.
 */
export async function initDataDir(opts: InitDataDirOptions): Promise<LoadedIdentity & { readonly files: readonly string[] }> {
  const { dataDir } = opts;
  if (existsSync(join(dataDir, DataDirFiles.key)) && !opts.force) {
    throw new DataDirError(
      "ERR_DATA_DIR",
      `${dataDir} already holds a server identity: pass force (\`peage server init --force\`) to replace it`,
    );
  }
  const pkiDir = "pkiDir" in opts ? opts.pkiDir : undefined;
  const source = (name: string) => join(pkiDir ?? "", name);
  const inputs =
    "pkiDir" in opts
      ? [source(`${PkiFiles.server}.key`), source(`${PkiFiles.server}-chain.pem`), source(`${PkiFiles.root}.crt`)]
      : [opts.keyFile, opts.chainFile, opts.rootsFile];
  for (const path of inputs) {
    if (!existsSync(path)) {
      throw new DataDirError(
        "ERR_DATA_DIR",
        pkiDir === undefined
          ? `${path} is missing`
          : `${path} is missing: is ${pkiDir} a directory written by \`peage pki init\`?`,
      );
    }
  }
  // Prove the identity before anything is written, so a wrong key or chain leaves the directory as it was.
  const [keyPem, chainPem, rootsPem] = await Promise.all(inputs.map((path) => readFile(path!, "utf8")));
  await identityFromPem({ keyPem: keyPem!, chainPem: chainPem!, rootsPem: rootsPem! }, opts.clock ? { clock: opts.clock } : {});
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const files: string[] = [];
  const keyPath = join(dataDir, DataDirFiles.key);
  await rm(keyPath, { force: true });
  await writeFile(keyPath, keyPem!, { mode: 0o600, flag: "wx" });
  files.push(keyPath);
  files.push(await copy(inputs[1]!, join(dataDir, DataDirFiles.chain)));
  files.push(await copy(inputs[2]!, join(dataDir, DataDirFiles.trustRoots)));
  if (opts.crlFiles && opts.crlFiles.length > 0) {
    const crlDir = join(dataDir, DataDirFiles.crls);
    await mkdir(crlDir, { recursive: true, mode: 0o700 });
    for (const [index, file] of opts.crlFiles.entries()) files.push(await copy(file, join(crlDir, `crl-${index + 1}.pem`)));
  }
  const ratesPath = join(dataDir, DataDirFiles.rates);
  // An existing rates file is kept (it may be the operator's real one) unless a file is given.
  if (opts.ratesFile || !existsSync(ratesPath)) files.push(await copy(opts.ratesFile ?? SAMPLE_RATES_FILE, ratesPath));
  // A PKI made with a card issuer (`peage pki init --card-issuer`) also makes this server a card
  // issuer: its card desk opens at start.
  if (pkiDir !== undefined && existsSync(source(`${PkiFiles.cardIssuer}.key`)))
    files.push(...(await installCardIssuer({ dataDir, pkiDir })));
  const webhookKeys = await createWebhookKeys(dataDir);
  if (webhookKeys !== undefined) files.push(webhookKeys);
  const loaded = await loadServerIdentity(dataDir, opts.clock ? { clock: opts.clock } : {});
  return { ...loaded, files };
}

/** Copies a file readable by its owner only, as every file of the data directory is. */
async function copy(from: string, to: string): Promise<string> {
  await mkdir(dirname(to), { recursive: true, mode: 0o700 });
  await copyFile(from, to);
  await chmod(to, 0o600);
  return to;
}
