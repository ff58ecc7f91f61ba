/**
 * Setting up a wallet: a fresh signing key sealed with the passphrase, the config, and the trusted
 * roots. Returns the public key as a JWK, which the payment server's operator enrols for the user
 * (the server then knows the key by its RFC 7638 thumbprint, the `kid` of every consent).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { JsonWebKey } from "node:crypto";
import {
  generateKeyPair,
  isCurrencyCode,
  isPartyId,
  parseCertificatesPem,
  type CurrencyCode,
  type PartyId,
  type SignatureAlgorithm,
} from "@peage/protocol";
import { parseConfig, serverUrlProblem, walletPaths, writeConfig, type PcStoreConfig, type WalletConfig } from "./config.js";
import { WalletError } from "./errors.js";
import { saveKey, type ScryptParameters } from "./key-store.js";
import { ensurePrivateDir, writePrivateFile } from "./private-files.js";
import { ASK_EVERY_TIME_RULES, parseRules, type Rules } from "./rules.js";

export interface InitWalletOptions {
  readonly passphrase: string;
  /** urn:peage:user:<name> */
  readonly user: string;
  readonly serverUrl: string;
  /** urn:peage:server:<name>: the identity the server's certificate must carry. */
  readonly serverId: string;
  readonly homeCurrency: string;
  /** A path to a PEM bundle of trusted roots, or the PEM text itself (then copied into the data dir). */
  readonly trustRootsPem: string;
  readonly crls?: readonly string[];
  readonly rules?: Rules;
  readonly alg?: SignatureAlgorithm;
  /** Pay with the PC store in this directory (made by `peage pcstore init`), offline, as with a card. */
  readonly pcStore?: PcStoreConfig;
  /** Replace an existing wallet in `dir` (its key is lost). */
  readonly force?: boolean;
  /** Only for tests that need a cheaper key derivation; the default is the documented one. */
  readonly scrypt?: ScryptParameters;
}

export interface InitializedWallet {
  readonly dir: string;
  readonly user: PartyId<"user">;
  readonly alg: SignatureAlgorithm;
  /** The public key to enrol at the payment server. */
  readonly publicJwk: JsonWebKey;
  /** Its RFC 7638 thumbprint. */
  readonly kid: string;
  readonly config: WalletConfig;
}

/** Generates and stores the user's key and writes the config in `dir`; returns the public JWK to enrol. */
export async function initWallet(dir: string, options: InitWalletOptions): Promise<InitializedWallet> {
  const { user, serverId, homeCurrency, serverUrl } = options;
  const bad = (what: string) => new WalletError("ERR_BAD_REQUEST", what, 400, false);
  if (!isPartyId(user, "user")) throw bad(`the user id must be urn:peage:user:<name>, got ${JSON.stringify(user)}`);
  if (!isPartyId(serverId, "server")) throw bad(`the server id must be urn:peage:server:<name>, got ${JSON.stringify(serverId)}`);
  if (!isCurrencyCode(homeCurrency)) throw bad(`the home currency must be an ISO 4217 code, got ${JSON.stringify(homeCurrency)}`);
  const urlProblem = serverUrlProblem(serverUrl);
  if (urlProblem !== undefined) throw bad(`the payment server URL: ${urlProblem}`);
  if (typeof options.passphrase !== "string" || options.passphrase.length < 8)
    throw bad("choose a passphrase of at least 8 characters");
  const rules = options.rules ? parseRules(options.rules) : ASK_EVERY_TIME_RULES;
  if (options.pcStore && !existsSync(resolve(options.pcStore.dir, "pcstore.json")))
    throw bad(`there is no PC store in ${resolve(options.pcStore.dir)}: make one with \`peage pcstore init\` first`);

  const root = resolve(dir);
  const paths = walletPaths(root);
  if (existsSync(paths.key) && !options.force) {
    throw new WalletError(
      "ERR_CONFLICT",
      `a wallet already exists in ${root}: use it, or pass force to replace it (its key is then lost)`,
      409,
      false,
    );
  }
  await ensurePrivateDir(root);
  const trustRootsPem = await storeRoots(options.trustRootsPem, paths.roots);

  const config: WalletConfig = {
    v: 1,
    user: user as PartyId<"user">,
    server: { url: serverUrl.replace(/\/+$/, ""), id: serverId as PartyId<"server"> },
    homeCurrency: homeCurrency as CurrencyCode,
    trustRootsPem,
    ...(options.crls ? { crls: options.crls.map((p) => resolve(p)) } : {}),
    rules,
    ...(options.pcStore ? { pcStore: { ...options.pcStore, dir: resolve(options.pcStore.dir) } } : {}),
  };
  try {
    parseConfig(config);
  } catch (cause) {
    throw bad((cause as Error).message);
  }
  const pair = await generateKeyPair(options.alg ?? "ES256");
  const file = await saveKey(paths.key, pair, options.passphrase, options.scrypt);
  await writeConfig(root, config);
  return { dir: root, user: config.user, alg: pair.alg, publicJwk: file.publicJwk, kid: file.kid, config };
}

/** Checks the roots parse; PEM text is copied into the data dir, a path is kept (absolute). */
async function storeRoots(rootsPem: string, copyTo: string): Promise<string> {
  const isText = rootsPem.includes("-----BEGIN");
  let text: string;
  try {
    text = isText ? rootsPem : await readFile(rootsPem, "utf8");
  } catch (cause) {
    throw new WalletError(
      "ERR_BAD_REQUEST",
      `cannot read the trusted roots ${rootsPem}: ${(cause as Error).message}`,
      400,
      false,
    );
  }
  try {
    parseCertificatesPem(text);
  } catch (cause) {
    throw new WalletError(
      "ERR_BAD_REQUEST",
      `the trusted roots are not PEM certificates: ${(cause as Error).message}`,
      400,
      false,
    );
  }
  if (!isText) return resolve(rootsPem);
  await writePrivateFile(copyTo, text);
  return copyTo;
}
