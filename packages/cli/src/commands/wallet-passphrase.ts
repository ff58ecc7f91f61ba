/** The wallet's passphrase, for every `peage wallet …` command that opens the wallet: from a file, or the environment. */
import type { Options } from "../args.js";
import { readInput } from "../files.js";

/** Where the passphrase comes from when no --passphrase-file is given. */
export const PASSPHRASE_ENV = "PEAGE_PASSPHRASE";

/** The wallet's passphrase: from --passphrase-file (one line) or $PEAGE_PASSPHRASE. */
export async function readPassphrase(o: Options): Promise<string> {
  const passphraseFile = o.string("passphrase-file");
  if (passphraseFile !== undefined) {
    // One line: a trailing newline written by an editor or `echo` is not part of the passphrase.
    return (await readInput(passphraseFile, "--passphrase-file")).replace(/\r?\n$/, "");
  }
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv === undefined || fromEnv === "")
    throw o.usage(`the wallet's passphrase is needed: give --passphrase-file FILE or set ${PASSPHRASE_ENV}`);
  return fromEnv;
}
