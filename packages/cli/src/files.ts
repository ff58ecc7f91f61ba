/**
 * Reading the files named on the command line and writing the ones a command produces.
 * An input that cannot be read is a usage error naming the option; an output that exists is
 * refused unless the command was given --force; private keys are created with mode 0600.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, basename } from "node:path";
import { CommandError, UsageError } from "./errors.js";

/** Largest input read: every Péage file is far smaller, and garbage should not fill memory. */
export const MAX_INPUT_BYTES = 8 * 1024 * 1024;

/** Reads a text file named by `what` (e.g. "--ca-key"); "-" reads standard input when `stdin` is allowed. */
export async function readInput(path: string, what: string, opts: { stdin?: boolean } = {}): Promise<string> {
  if (path === "-" && opts.stdin) return readStdin(what);
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw new UsageError(`${what} ${path}: is a directory, expected a file`);
    if (info.size > MAX_INPUT_BYTES) throw new UsageError(`${what} ${path}: larger than ${MAX_INPUT_BYTES} bytes`);
    return await readFile(path, "utf8");
  } catch (cause) {
    if (cause instanceof UsageError) throw cause;
    throw new UsageError(`${what} ${path}: ${ioReason(cause)}`);
  }
}

/** Reads a file that may be absent (a state file): undefined when it does not exist. */
export async function readOptional(path: string, what: string): Promise<string | undefined> {
  try {
    return await readInput(path, what);
  } catch (cause) {
    if (cause instanceof UsageError && (await missing(path))) return undefined;
    throw cause;
  }
}

async function readStdin(what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_INPUT_BYTES) throw new UsageError(`${what} (standard input): larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** True when nothing exists at `path`. */
export async function missing(path: string): Promise<boolean> {
  try {
    await stat(path);
    return false;
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === "ENOENT";
  }
}

export interface WriteOptions {
  /** Replace an existing file instead of refusing. */
  readonly force?: boolean;
  /** A private key: created 0600, never with a wider mode inherited from an earlier file. */
  readonly secret?: boolean;
}

/** Writes an output file, refusing to replace an existing one unless `force`. */
export async function writeOutput(path: string, text: string, what: string, opts: WriteOptions = {}): Promise<void> {
  if (!opts.force) {
    try {
      await writeFile(path, text, { encoding: "utf8", flag: "wx", ...(opts.secret && { mode: 0o600 }) });
      return;
    } catch (cause) {
      throw writeError(cause, path, what);
    }
  }
  // Written beside the target and renamed over it, so a crash never leaves half a file, and a
  // key's new file is created 0600 rather than keeping the old file's mode.
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(temporary, text, { encoding: "utf8", flag: "wx", mode: opts.secret ? 0o600 : 0o644 });
    await rename(temporary, path);
  } catch (cause) {
    await rm(temporary, { force: true });
    throw writeError(cause, path, what);
  }
}

/** Replaces a state file atomically (write beside it, then rename). */
export function replaceFile(path: string, text: string, what: string): Promise<void> {
  return writeOutput(path, text, what, { force: true });
}

function writeError(cause: unknown, path: string, what: string): Error {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === "EEXIST")
    return new CommandError("ERR_EXISTS", `${what} ${path} already exists: pass --force to replace it, or choose another path`);
  return new CommandError("ERR_WRITE", `${what} ${path} could not be written: ${ioReason(cause)}`);
}

function ioReason(cause: unknown): string {
  switch ((cause as NodeJS.ErrnoException).code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a component of the path is not a directory";
    default:
      return (cause as Error).message;
  }
}
