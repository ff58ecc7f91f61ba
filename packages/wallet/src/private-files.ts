/**
 * Files only the user may read: the key store, the wallet config and the endpoint file with the
 * service's bearer token. Each is written to a fresh temporary file created with mode 0600 and
 * renamed over the target, so no reader ever sees a half-written file or a wider mode, and the
 * parent directory is created (or narrowed) to 0700.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { WalletError } from "./errors.js";

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Creates `dir` (and parents) with mode 0700 if needed. An existing directory other users can
 * open is refused rather than narrowed: changing the mode of a directory the wallet did not
 * create (say, /tmp) would break other programs.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const info = await stat(dir);
  const mode = info.mode & 0o777;
  const mine = typeof process.getuid !== "function" || info.uid === process.getuid();
  if ((mode & 0o077) !== 0 || !mine) {
    throw new WalletError(
      "ERR_FORBIDDEN",
      `the directory ${dir} can be opened by other users (mode ${mode.toString(8)}): keep wallet files in a directory only you can open (chmod 700)`,
      500,
      false,
    );
  }
}

/** Atomically writes `text` to `path` with mode 0600 in a 0700 directory. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await ensurePrivateDir(dir);
  const temporary = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(temporary, text, { encoding: "utf8", mode: PRIVATE_FILE_MODE, flag: "wx" });
    // The mode given at creation is masked by the umask; set it explicitly.
    await chmod(temporary, PRIVATE_FILE_MODE);
    await rename(temporary, path);
  } catch (cause) {
    await rm(temporary, { force: true });
    throw cause;
  }
}
