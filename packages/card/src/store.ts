/**
 * The card's non-volatile memory, safe against power loss at any instant (what a card's EEPROM
 * transaction mechanism gives a Java Card applet). A change of several records is one
 * transaction, made in three phases through a write-ahead journal:
 *
 *   1. the new values of every record go to `journal.tmp`, which is flushed, then renamed to
 *      `journal` and the directory flushed: this rename is the commit point;
 *   2. each record is rewritten (write `<name>.tmp`, flush, rename over `<name>`), deleted records
 *      removed, and the directory flushed;
 *   3. the journal is removed and the directory flushed.
 *
 * Opening the store recovers: a complete `journal` is applied again (phase 2 is idempotent) and
 * removed, and any `.tmp` left by an interrupted write is deleted. A power loss before the commit
 * point leaves the old state, after it the new one; never a mix. The card writes a payment's log
 * entry and its debit in one transaction and signs the acknowledgment only after it returns
 * (patent claims 6-7), so there is never an acknowledgment without its log entry.
 *
 * All I/O goes through a {@link Medium}, so that tests can cut the power after any write
 * ({@link TearingMedium}) and model a disk that loses what was not flushed ({@link MemoryMedium}).
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
  constants as fsConstants,
} from "node:fs";
import { join } from "node:path";
import { canonicalBytes, PeageError } from "@peage/protocol";
import type { CardErrorCode } from "./errors.js";

/** The storage the card writes to. Names are plain file names: [A-Za-z0-9._-]. */
export interface Medium {
  read(name: string): Uint8Array | undefined;
  list(): string[];
  /** Creates or replaces a file's content; not durable before {@link sync}. */
  write(name: string, data: Uint8Array): void;
  /** Makes a file's content durable (fsync). */
  sync(name: string): void;
  /** Atomically replaces `to` by `from` (rename(2)); durable after {@link syncDir}. */
  rename(from: string, to: string): void;
  remove(name: string): void;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  syncDir(): void;
}

/** Thrown by a {@link TearingMedium} when the power is cut: the card stops mid-write. */
export class PowerLoss extends PeageError<CardErrorCode> {
  override readonly name = "PowerLoss";
  constructor(message: string) {
    super("ERR_POWER_LOSS", message);
  }
}

/** The card's memory could not be read back into a consistent state. */
export class CardMemoryError extends PeageError<CardErrorCode> {
  override readonly name = "CardMemoryError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_CARD_MEMORY", message, options);
  }
}

const namePattern = /^[A-Za-z0-9._-]{1,100}$/;

function checkName(name: string): void {
  if (!namePattern.test(name) || name === "." || name === "..") throw new TypeError(`bad record name ${JSON.stringify(name)}`);
}

/** A directory on disk, flushed with fsync(2) on files and on the directory itself. */
export class FileMedium implements Medium {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  read(name: string): Uint8Array | undefined {
    checkName(name);
    try {
      return new Uint8Array(readFileSync(join(this.dir, name)));
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw cause;
    }
  }

  list(): string[] {
    return readdirSync(this.dir).filter((name) => namePattern.test(name));
  }

  write(name: string, data: Uint8Array): void {
    checkName(name);
    // 0600: the file stands for the card's protected memory (private key, PIN check value).
    const fd = openSync(join(this.dir, name), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600);
    try {
      let at = 0;
      while (at < data.length) at += writeSync(fd, data, at, data.length - at);
    } finally {
      closeSync(fd);
    }
  }

  sync(name: string): void {
    checkName(name);
    const fd = openSync(join(this.dir, name), fsConstants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  rename(from: string, to: string): void {
    checkName(from);
    checkName(to);
    renameSync(join(this.dir, from), join(this.dir, to));
  }

  remove(name: string): void {
    checkName(name);
    rmSync(join(this.dir, name), { force: true });
  }

  syncDir(): void {
    const fd = openSync(this.dir, fsConstants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

interface Inode {
  data: Uint8Array;
  /** What a crash leaves of the content: the last flushed version (empty if never flushed). */
  durable: Uint8Array;
}

/**
 * A disk in memory that forgets what was not flushed: {@link crash} returns the disk as a power
 * loss would leave it, with only fsync'ed contents and only directory entries made durable by a
 * directory sync. The harshest reading of POSIX, to test the store against.
 */
export class MemoryMedium implements Medium {
  #dir = new Map<string, Inode>();
  #durableDir = new Map<string, Inode>();

  read(name: string): Uint8Array | undefined {
    const inode = this.#dir.get(name);
    return inode && inode.data.slice();
  }

  list(): string[] {
    return [...this.#dir.keys()];
  }

  write(name: string, data: Uint8Array): void {
    checkName(name);
    const existing = this.#dir.get(name);
    // O_TRUNC then write: until flushed, a crash may leave the file empty.
    if (existing) Object.assign(existing, { data: data.slice(), durable: new Uint8Array(0) });
    else this.#dir.set(name, { data: data.slice(), durable: new Uint8Array(0) });
  }

  sync(name: string): void {
    const inode = this.#dir.get(name);
    if (!inode) throw new Error(`ENOENT: ${name}`);
    inode.durable = inode.data.slice();
  }

  rename(from: string, to: string): void {
    checkName(to);
    const inode = this.#dir.get(from);
    if (!inode) throw new Error(`ENOENT: ${from}`);
    this.#dir.delete(from);
    this.#dir.set(to, inode);
  }

  remove(name: string): void {
    this.#dir.delete(name);
  }

  syncDir(): void {
    this.#durableDir = new Map(this.#dir);
  }

  /** An independent copy, flushed and unflushed state alike (one card image, many experiments). */
  clone(): MemoryMedium {
    const copy = new MemoryMedium();
    const copies = new Map<Inode, Inode>();
    const dup = (inode: Inode): Inode => {
      let twin = copies.get(inode);
      if (!twin) copies.set(inode, (twin = { data: inode.data.slice(), durable: inode.durable.slice() }));
      return twin;
    };
    for (const [name, inode] of this.#dir) copy.#dir.set(name, dup(inode));
    for (const [name, inode] of this.#durableDir) copy.#durableDir.set(name, dup(inode));
    return copy;
  }

  /** The disk after a power loss now. */
  crash(): MemoryMedium {
    const after = new MemoryMedium();
    for (const [name, inode] of this.#durableDir) {
      const survivor = { data: inode.durable.slice(), durable: inode.durable.slice() };
      after.#dir.set(name, survivor);
      after.#durableDir.set(name, survivor);
    }
    return after;
  }
}

export interface TearPlan {
  /** The mutating operation (1-based: write, sync, rename, remove, syncDir) during which power is lost. */
  readonly at: number;
  /** A torn write leaves the first half of the data (default); otherwise the operation does not happen. */
  readonly partial?: boolean;
}

/**
 * Cuts the power during the k-th mutating operation on the medium beneath, counted from
 * {@link arm}: a write leaves half its data, any other operation does not happen, and every later
 * operation fails too (the card is off). `operations` counts them, so a dry run (arm() without a
 * plan) tells how many a command makes.
 */
export class TearingMedium implements Medium {
  operations = 0;
  #plan: TearPlan | undefined;
  #dead = false;

  constructor(readonly inner: Medium) {}

  /** Starts counting operations from zero, and cuts the power as `plan` says (never without one). */
  arm(plan?: TearPlan): void {
    this.operations = 0;
    this.#plan = plan;
  }

  get torn(): boolean {
    return this.#dead;
  }

  read(name: string): Uint8Array | undefined {
    if (this.#dead) throw new PowerLoss("the card has no power");
    return this.inner.read(name);
  }

  list(): string[] {
    if (this.#dead) throw new PowerLoss("the card has no power");
    return this.inner.list();
  }

  #step(partial: () => void): void {
    if (this.#dead) throw new PowerLoss("the card has no power");
    this.operations++;
    if (this.#plan && this.operations === this.#plan.at) {
      this.#dead = true;
      if (this.#plan.partial !== false) partial();
      throw new PowerLoss(`power lost during write operation ${this.operations}`);
    }
  }

  write(name: string, data: Uint8Array): void {
    this.#step(() => this.inner.write(name, data.subarray(0, data.length >> 1)));
    this.inner.write(name, data);
  }

  sync(name: string): void {
    this.#step(() => undefined);
    this.inner.sync(name);
  }

  rename(from: string, to: string): void {
    this.#step(() => undefined);
    this.inner.rename(from, to);
  }

  remove(name: string): void {
    this.#step(() => undefined);
    this.inner.remove(name);
  }

  syncDir(): void {
    this.#step(() => undefined);
    this.inner.syncDir();
  }
}

export type Operation = { readonly put: string; readonly value: unknown } | { readonly remove: string };

const JOURNAL = "journal";
const JOURNAL_TMP = "journal.tmp";
const TMP_SUFFIX = ".tmp";

interface Journal {
  readonly v: 1;
  readonly ops: readonly Operation[];
  /** SHA-256 of the canonical ops: a journal that does not match it was never committed. */
  readonly digest: string;
}

function digestOf(ops: readonly Operation[]): string {
  return createHash("sha256").update(canonicalBytes(ops)).digest("base64url");
}

function encode(value: unknown): Uint8Array {
  return new Uint8Array(Buffer.from(`${JSON.stringify(value)}\n`, "utf8"));
}

function decode(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new CardMemoryError(`${what} is not readable`);
  }
}

function isOperation(value: unknown): value is Operation {
  if (typeof value !== "object" || value === null) return false;
  const keys = Object.keys(value);
  if (keys.length === 2 && keys.includes("put") && keys.includes("value"))
    return typeof (value as { put: unknown }).put === "string";
  return keys.length === 1 && typeof (value as { remove: unknown }).remove === "string";
}

/** Named JSON records with atomic multi-record transactions over a {@link Medium}. */
export class JournalStore {
  readonly #medium: Medium;
  readonly #records = new Map<string, unknown>();

  /** Opens the store, completing or discarding whatever a power loss interrupted. */
  constructor(medium: Medium) {
    this.#medium = medium;
    this.#recover();
    for (const name of medium.list()) {
      if (name === JOURNAL || name.endsWith(TMP_SUFFIX)) continue;
      this.#records.set(name, decode(medium.read(name)!, `record ${name}`));
    }
  }

  get(name: string): unknown {
    return this.#records.get(name);
  }

  names(): string[] {
    return [...this.#records.keys()].sort();
  }

  /** All records, for tests comparing whole states. */
  snapshot(): Record<string, unknown> {
    return Object.fromEntries(this.names().map((name) => [name, this.#records.get(name)]));
  }

  /** Applies all operations or none, even if the power fails during the call. */
  commit(ops: readonly Operation[]): void {
    if (ops.length === 0) return;
    for (const op of ops) checkName("put" in op ? op.put : op.remove);
    const journal: Journal = { v: 1, ops, digest: digestOf(ops) };
    const m = this.#medium;
    m.write(JOURNAL_TMP, encode(journal));
    m.sync(JOURNAL_TMP);
    m.rename(JOURNAL_TMP, JOURNAL);
    m.syncDir();
    // Committed: from here on a restart completes the transaction.
    this.#apply(ops);
    m.remove(JOURNAL);
    m.syncDir();
    for (const op of ops) {
      if ("put" in op) this.#records.set(op.put, structuredClone(op.value));
      else this.#records.delete(op.remove);
    }
  }

  #apply(ops: readonly Operation[]): void {
    const m = this.#medium;
    for (const op of ops) {
      if ("put" in op) {
        const tmp = `${op.put}${TMP_SUFFIX}`;
        m.write(tmp, encode(op.value));
        m.sync(tmp);
        m.rename(tmp, op.put);
      } else {
        m.remove(op.remove);
      }
    }
    m.syncDir();
  }

  #recover(): void {
    const m = this.#medium;
    const bytes = m.read(JOURNAL);
    if (bytes) {
      const journal = readJournal(bytes);
      // A journal is renamed into place only once flushed, so an unreadable one means a disk
      // that lied about the flush; its transaction cannot be trusted and is dropped.
      if (journal) this.#apply(journal.ops);
      m.remove(JOURNAL);
      m.syncDir();
    }
    let removed = false;
    for (const name of m.list()) {
      if (name.endsWith(TMP_SUFFIX)) {
        m.remove(name);
        removed = true;
      }
    }
    if (removed) m.syncDir();
  }
}

function readJournal(bytes: Uint8Array): Journal | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { v, ops, digest } = value as Partial<Journal>;
  if (v !== 1 || !Array.isArray(ops) || !ops.every(isOperation) || typeof digest !== "string") return undefined;
  return digestOf(ops) === digest ? { v, ops, digest } : undefined;
}
