/**
 * The PC store named in the wallet's config (config.pcStore, docs/pc-store.md): opened when the
 * wallet opens, it pays as a card in a reader would, offline; its log reaches the payment server
 * later through the card desk (`peage wallet sync`). Only one process may hold a store at a time —
 * two applets on the same files would each write their own next version — so the wallet holds a
 * lock file in the store's directory while it has the store open, and a second opener is refused.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { PcStoreConfig } from "../config.js";
import { configPath } from "../config.js";
import { WalletError } from "../errors.js";
import type { CardAccess } from "./reader.js";

const LOCK_FILE = "wallet.lock";

/** The configured store, open and locked; close() lets it go. */
export interface OpenedStoreAccess extends CardAccess {
  readonly dir: string;
}

/** Opens the store of config.pcStore (its path relative to the wallet's data directory), or says why it cannot. */
export async function openConfiguredStore(dataDir: string, config: PcStoreConfig): Promise<OpenedStoreAccess> {
  const dir = configPath(dataDir, config.dir);
  const pcstore = await import("@peage/pcstore");
  const release = lockStore(dir);
  try {
    const stored = pcstore.readConfig(dir);
    const tpm = stored.tpm
      ? config.tcti !== undefined
        ? new pcstore.Tpm(config.tcti)
        : pcstore.Tpm.fromEnvironment()
      : undefined;
    const opened = await pcstore.openPcStore(dir, tpm ? { tpm } : {});
    const access = new pcstore.PcStoreAccess(opened);
    return {
      dir,
      find: () => access.find(),
      close() {
        access.close();
        release();
      },
    };
  } catch (cause) {
    release();
    if (cause instanceof WalletError) throw cause;
    const refused = ["RollbackDetected", "VaultDestroyed"].includes((cause as Error).name);
    throw new WalletError(
      "ERR_WALLET_UNAVAILABLE",
      `the PC store in ${dir} ${refused ? "refuses to open" : "cannot be opened"}: ${(cause as Error).message}; ` +
        `check it with \`peage pcstore status --dir ${dir}\`, or remove pcStore from the wallet's config to pay online`,
      503,
      false,
    );
  }
}

/** Takes the store's lock (a file holding this process's id); a lock left by a process that died is taken over. */
function lockStore(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx", 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT")
        throw new WalletError(
          "ERR_WALLET_UNAVAILABLE",
          `there is no PC store in ${dir}: make one with \`peage pcstore init\`, or fix pcStore.dir in the wallet's config`,
          503,
          false,
        );
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isSafeInteger(holder) && holder > 0 && alive(holder))
        throw new WalletError(
          "ERR_CONFLICT",
          `the PC store in ${dir} is in use by process ${holder} (a running wallet): stop it first, then try again`,
          409,
          false,
        );
      rmSync(path, { force: true });
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return () => rmSync(path, { force: true });
  }
  throw new WalletError("ERR_CONFLICT", `the PC store in ${dir} was locked again meanwhile: try again`, 409, true);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
