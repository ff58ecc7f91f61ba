/**
 * The endpoint file tells programs on this machine where the running wallet listens and the
 * bearer token it wants: {"url", "token", "pid"}, readable only by the user (0600 in a 0700
 * directory), so only the user's own programs can ask for payments. The merchant SDK reads it.
 */
import { readFile, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { writePrivateFile } from "./private-files.js";

export const WALLET_FILE_ENV = "PEAGE_WALLET_FILE";

export interface WalletEndpoint {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
}

/** $PEAGE_WALLET_FILE, or ~/.peage/wallet.json. */
export function defaultEndpointFile(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[WALLET_FILE_ENV];
  return fromEnv && fromEnv.length > 0 ? fromEnv : join(homedir(), ".peage", "wallet.json");
}

export async function writeEndpointFile(path: string, endpoint: WalletEndpoint): Promise<void> {
  await writePrivateFile(path, `${JSON.stringify(endpoint)}\n`);
}

/** Removes the endpoint file if it still describes `endpoint` (another wallet may have replaced it). */
export async function removeEndpointFile(path: string, endpoint: WalletEndpoint): Promise<void> {
  try {
    const current = JSON.parse(await readFile(path, "utf8")) as Partial<WalletEndpoint>;
    if (current.token !== endpoint.token) return;
  } catch {
    return;
  }
  await rm(path, { force: true });
}
