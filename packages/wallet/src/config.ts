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
    throw new WalletError("ERR_BAD_REQUEST", `the wallet config ${path} is invalid: ${(cause as Error).message}; fix it or run init again`, 500, false);
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
  const { user, server, homeCurrency, trustRootsPem, crls, rules } = value;
  if (!isPartyId(user, "user")) throw new TypeError("user must be urn:peage:user:<name>");
  if (!isPlainObject(server) || !isPartyId(server["id"], "server")) throw new TypeError("server.id must be urn:peage:server:<name>");
  const url = server["url"];
  if (typeof url !== "string" || !isServerUrl(url)) throw new TypeError("server.url must be an http(s) URL without credentials, query or fragment");
  if (!isCurrencyCode(homeCurrency)) throw new TypeError("homeCurrency must be an ISO 4217 code");
  if (typeof trustRootsPem !== "string" || trustRootsPem.length === 0) throw new TypeError("trustRootsPem must be a path");
  if (crls !== undefined && !(Array.isArray(crls) && crls.every((c) => typeof c === "string"))) throw new TypeError("crls must be a list of paths");
  return {
    v: 1,
    user,
    server: { url: url.replace(/\/+$/, ""), id: server["id"] },
    homeCurrency,
    trustRootsPem,
    ...(crls === undefined ? {} : { crls: crls as string[] }),
    rules: parseRules(rules),
  };
}

export function isServerUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && !url.username && !url.password && !url.search && !url.hash;
  } catch {
    return false;
  }
}
