/**
 * The wallet's data directory and its config file (JSON): who the user is, which payment server
 * they are enrolled at (its URL and the identity its certificate must carry), the home currency,
 * the trusted roots and the payment rules. The key and the history sit next to it.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { isCurrencyCode, isPartyId, isPlainObject, type CurrencyCode, type PartyId } from "@peage/protocol";
import { WalletError } from "./errors.js";
import { writePrivateFile } from "./private-files.js";
import { parseRules, type Rules } from "./rules.js";

export const WalletFiles = {
  config: "config.json",
  key: "key.json",
  history: "history.sqlite",
  roots: "roots.pem",
} as const;

export interface WalletConfig {
  readonly v: 1;
  readonly user: PartyId<"user">;
  readonly server: { readonly url: string; readonly id: PartyId<"server"> };
  readonly homeCurrency: CurrencyCode;
  /** Path of the PEM bundle of trusted root certificates (absolute, or relative to the data dir). */
  readonly trustRootsPem: string;
  /** Paths of PEM CRLs to check chains against. */
  readonly crls?: readonly string[];
  readonly rules: Rules;
  /** Pay with the user's Péage smart card when one is in a reader (offline variant, docs/card.md). */
  readonly card?: CardConfig;
  /** Pay with the PC store in this directory (offline, docs/pc-store.md); excludes `card`. */
  readonly pcStore?: PcStoreConfig;
}

/** The PC store the wallet pays with: its directory, and the TPM it is anchored in. */
export interface PcStoreConfig {
  /** The store's directory, as `peage pcstore init --dir` made it (absolute, or relative to the data dir). */
  readonly dir: string;
  /** The TPM, as tpm2-tools names it (default $TPM2TOOLS_TCTI, else the PC's own); unused by a software store. */
  readonly tcti?: string;
}

/**
 * The smart card: when set, an offer is paid by the card if one is present (in `reader`, or in
 * any reader whose card answers the Péage application's AID), and online otherwise.
 */
export interface CardConfig {
  /** The PC/SC reader's exact name; by default the first reader holding a Péage card. */
  readonly reader?: string;
  /** How long to look for the card before paying online instead, ms (default 1500). */
  readonly waitMs?: number;
  /** The reader carries extended APDUs (one exchange per command instead of chaining). */
  readonly extendedLength?: boolean;
  /**
   * FOR DEMONSTRATIONS ONLY: the PIN automatic prompts (--yes) type. An interactive prompt
   * always asks the user. Kept in the config file in clear: never for a real card.
   */
  readonly pin?: string;
}

/** Paths of the files in a wallet data directory. */
export function walletPaths(dir: string): { config: string; key: string; history: string; roots: string } {
  return {
    config: join(dir, WalletFiles.config),
    key: join(dir, WalletFiles.key),
    history: join(dir, WalletFiles.history),
    roots: join(dir, WalletFiles.roots),
  };
}

export async function readConfig(dir: string): Promise<WalletConfig> {
  const path = walletPaths(dir).config;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new WalletError("ERR_WALLET_UNAVAILABLE", `no wallet config at ${path}: run the wallet's init first`, 503, false);
  }
  try {
    return parseConfig(JSON.parse(text) as unknown);
  } catch (cause) {
    throw new WalletError(
      "ERR_BAD_REQUEST",
      `the wallet config ${path} is invalid: ${(cause as Error).message}; fix it or run init again`,
      500,
      false,
    );
  }
}

export async function writeConfig(dir: string, config: WalletConfig): Promise<void> {
  await writePrivateFile(walletPaths(dir).config, `${JSON.stringify(config, null, 2)}\n`);
}

/** Resolves a path from the config against the data directory. */
export function configPath(dir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dir, path);
}

/** Checks every field; throws a TypeError naming the first bad one. */
export function parseConfig(value: unknown): WalletConfig {
  if (!isPlainObject(value) || value["v"] !== 1) throw new TypeError("not a version 1 wallet config");
  const { user, server, homeCurrency, trustRootsPem, crls, rules, card, pcStore } = value;
  if (!isPartyId(user, "user")) throw new TypeError("user must be urn:peage:user:<name>");
  if (!isPlainObject(server) || !isPartyId(server["id"], "server"))
    throw new TypeError("server.id must be urn:peage:server:<name>");
  const url = server["url"];
  if (typeof url !== "string") throw new TypeError("server.url must be the payment server's https URL");
  const problem = serverUrlProblem(url);
  if (problem !== undefined) throw new TypeError(`server.url: ${problem}`);
  if (!isCurrencyCode(homeCurrency)) throw new TypeError("homeCurrency must be an ISO 4217 code");
  if (typeof trustRootsPem !== "string" || trustRootsPem.length === 0) throw new TypeError("trustRootsPem must be a path");
  if (crls !== undefined && !(Array.isArray(crls) && crls.every((c) => typeof c === "string")))
    throw new TypeError("crls must be a list of paths");
  return {
    v: 1,
    user,
    server: { url: url.replace(/\/+$/, ""), id: server["id"] },
    homeCurrency,
    trustRootsPem,
    ...(crls === undefined ? {} : { crls: crls as string[] }),
    rules: parseRules(rules),
    ...(card === undefined ? {} : { card: parseCardConfig(card) }),
    ...(pcStore === undefined ? {} : { pcStore: parsePcStoreConfig(pcStore, card) }),
  };
}

function parsePcStoreConfig(value: unknown, card: unknown): PcStoreConfig {
  if (card !== undefined) throw new TypeError("card and pcStore exclude each other: the wallet pays with one device");
  if (!isPlainObject(value)) throw new TypeError('pcStore must be an object: {"dir": "<the store\'s directory>"}');
  const unknown = Object.keys(value).filter((key) => key !== "dir" && key !== "tcti");
  if (unknown.length > 0) throw new TypeError(`pcStore has unknown member(s) ${unknown.join(", ")}: use dir, tcti`);
  const { dir, tcti } = value;
  if (typeof dir !== "string" || dir.length === 0) throw new TypeError("pcStore.dir must be the store's directory");
  if (tcti !== undefined && (typeof tcti !== "string" || !/^[a-z-]+(:.*)?$/.test(tcti)))
    throw new TypeError("pcStore.tcti must be a TCTI as tpm2-tools names it (swtpm:host=…,port=… or device:/dev/tpmrm0)");
  return { dir, ...(tcti !== undefined && { tcti: tcti as string }) };
}

function parseCardConfig(value: unknown): CardConfig {
  if (!isPlainObject(value)) throw new TypeError("card must be an object: {} to use any reader holding a Péage card");
  const known = ["reader", "waitMs", "extendedLength", "pin"];
  const unknown = Object.keys(value).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new TypeError(`card has unknown member(s) ${unknown.join(", ")}: use ${known.join(", ")}`);
  const { reader, waitMs, extendedLength, pin } = value;
  if (reader !== undefined && (typeof reader !== "string" || reader.length === 0))
    throw new TypeError("card.reader must be a reader's name");
  if (waitMs !== undefined && !(typeof waitMs === "number" && Number.isInteger(waitMs) && waitMs >= 0 && waitMs <= 120_000))
    throw new TypeError("card.waitMs must be 0 to 120000");
  if (extendedLength !== undefined && typeof extendedLength !== "boolean")
    throw new TypeError("card.extendedLength must be true or false");
  if (pin !== undefined && !(typeof pin === "string" && /^\d{4,12}$/.test(pin)))
    throw new TypeError("card.pin must be 4 to 12 digits");
  return {
    ...(reader !== undefined && { reader: reader as string }),
    ...(waitMs !== undefined && { waitMs: waitMs as number }),
    ...(extendedLength !== undefined && { extendedLength: extendedLength as boolean }),
    ...(pin !== undefined && { pin: pin as string }),
  };
}

/**
 * Why a payment server URL is unusable, or undefined when it is fine: https anywhere, plain http
 * only to this machine (a payment request and its acknowledgment must not cross a network in the
 * clear, where they could be read or withheld).
 */
export function serverUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is not a URL`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `${JSON.stringify(text)} is not an http(s) URL`;
  if (url.username || url.password || url.search || url.hash)
    return `${JSON.stringify(text)} must have no credentials, query or fragment`;
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    return `${JSON.stringify(text)} is plain http to another machine: use https (plain http is accepted only for 127.0.0.1, ::1 or localhost)`;
  }
  return undefined;
}

export function isServerUrl(text: string): boolean {
  return serverUrlProblem(text) === undefined;
}

/** localhost, 127.0.0.0/8 or ::1 (as URL.hostname writes it, in brackets). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
