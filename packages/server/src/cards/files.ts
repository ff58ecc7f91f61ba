/**
 * The card desk's files in a server's data directory, and how they get there from a PKI made with a
 * card issuer. Apart from the desk itself (cards/desk.ts), so that setting up a data directory
 * (data-dir.ts) does not depend on the desk, which builds on the data directory.
 */
import { existsSync } from "node:fs";
import { chmod, copyFile, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PkiFiles } from "@peage/protocol";

/** The card issuer's files in the server's data directory (copied from a PKI directory by installCardIssuer). */
export const CardDeskFiles = {
  /** The card-issuer CA's private key, PKCS#8 PEM, mode 0600: it signs the SYNC and RELOAD commands. */
  key: "card-issuer.key",
  /** The card-issuer CA's certificate and the intermediates above it, PEM. */
  chain: "card-issuer-chain.pem",
} as const;

/** Copies a PKI directory's card issuer (written by `peage pki init --card-issuer`) into a server's data directory. */
export async function installCardIssuer(opts: { dataDir: string; pkiDir: string }): Promise<string[]> {
  const key = join(opts.pkiDir, `${PkiFiles.cardIssuer}.key`);
  const chain = join(opts.pkiDir, `${PkiFiles.cardIssuer}-chain.pem`);
  for (const path of [key, chain]) {
    if (!existsSync(path))
      throw new TypeError(`${path} is missing: make the PKI with a card issuer (peage pki init --card-issuer)`);
  }
  const keyOut = join(opts.dataDir, CardDeskFiles.key);
  await rm(keyOut, { force: true });
  await writeFile(keyOut, await readFile(key, "utf8"), { mode: 0o600, flag: "wx" });
  const chainOut = join(opts.dataDir, CardDeskFiles.chain);
  await copyFile(chain, chainOut);
  await chmod(chainOut, 0o600);
  return [keyOut, chainOut];
}
