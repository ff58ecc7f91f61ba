/**
 * The card application's memory (a Medium of @peage/card) kept in a {@link Vault} instead of a
 * card's EEPROM. The applet's JournalStore writes its records here in memory; when it reaches
 * the end of a transaction (the journal gone, the directory flushed) the whole record set becomes
 * the vault's next version, and only then does the TPM's monotonic counter move to it. The applet
 * signs an acknowledgment only after its commit returns, so after all of this.
 *
 * The counter anchors the files: a version is current only if base + version = the counter
 * (base: the counter's value when the store was made, inside the encrypted state). One behind is
 * a power cut between the fragments and the increment, completed at the next opening; anything
 * else is a rollback (an older copy of the files) or a forgery, and the store refuses to open.
 * Without a TPM there is no anchor: a rollback is then caught only by the issuing server.
 */
import type { Medium } from "@peage/card";
import { canonicalBytes } from "@peage/protocol";
import { PcStoreError } from "./errors.js";
import { Vault, type VaultRead } from "./fragments.js";

/** The hardware counter the files are anchored to; none for a software store. */
export interface Anchor {
  readonly kind: "tpm" | "none";
  read(): bigint;
  increment(): bigint;
}

export const noAnchor: Anchor = { kind: "none", read: () => 0n, increment: () => 0n };

/** The files are not the ones the TPM's counter vouches for. */
export class RollbackDetected extends PcStoreError {
  override readonly name = "RollbackDetected";
  constructor(message: string) {
    super("ERR_ROLLBACK", message);
  }
}

export interface OpenReport {
  readonly version: number;
  /** Fragments rewritten because they were missing or altered. */
  readonly repaired: number;
  /** Files removed: older versions, torn writes, files that do not authenticate. */
  readonly removed: number;
  /** A commit interrupted between its fragments and the counter's increment was completed. */
  readonly completed: boolean;
}

const STATE_FORMAT = "peage-pcstore-state/1";
const journalNames = new Set(["journal", "journal.tmp"]);

interface State {
  readonly base: bigint;
  readonly version: number;
  readonly files: Map<string, Uint8Array>;
}

export class VaultMedium implements Medium {
  #state: State;
  #dirty = false;
  #stale = false;

  private constructor(
    readonly vault: Vault,
    readonly anchor: Anchor,
    state: State,
    readonly report: OpenReport,
  ) {
    this.#state = state;
  }

  /** A new, empty store: its first commit writes version 1. */
  static create(vault: Vault, anchor: Anchor): VaultMedium {
    if (vault.files().length > 0) throw new Error("a store already has fragments here: open it instead, or choose other places");
    return new VaultMedium(
      vault,
      anchor,
      { base: anchor.read(), version: 0, files: new Map() },
      { version: 0, repaired: 0, removed: 0, completed: false },
    );
  }

  /** Reads the newest version, checks it against the anchor, repairs damaged fragments. */
  static open(vault: Vault, anchor: Anchor): VaultMedium {
    const { state, report } = load(vault, anchor);
    return new VaultMedium(vault, anchor, state, report);
  }

  get version(): number {
    return this.#state.version;
  }

  #files(): Map<string, Uint8Array> {
    if (this.#stale) {
      // A write failed half-way: what is in memory may be ahead of the disk; the disk decides.
      this.#state = load(this.vault, this.anchor).state;
      this.#stale = false;
      this.#dirty = false;
    }
    return this.#state.files;
  }

  read(name: string): Uint8Array | undefined {
    return this.#files().get(name)?.slice();
  }

  list(): string[] {
    return [...this.#files().keys()];
  }

  write(name: string, data: Uint8Array): void {
    this.#files().set(name, data.slice());
    this.#dirty = true;
  }

  sync(): void {
    // Durability comes at the end of the transaction, in syncDir.
  }

  rename(from: string, to: string): void {
    const files = this.#files();
    const data = files.get(from);
    if (!data) throw new Error(`no record ${from} to rename`);
    files.delete(from);
    files.set(to, data);
    this.#dirty = true;
  }

  remove(name: string): void {
    if (this.#files().delete(name)) this.#dirty = true;
  }

  /** The end of a JournalStore transaction once no journal is left: the state becomes the next version. */
  syncDir(): void {
    const files = this.#files();
    if (!this.#dirty || [...files.keys()].some((name) => journalNames.has(name))) return;
    try {
      const version = this.#state.version + 1;
      this.vault.write(version, encodeState(this.#state.base, files));
      if (this.anchor.kind === "tpm") {
        const counter = this.anchor.increment();
        if (counter !== this.#state.base + BigInt(version)) {
          throw new RollbackDetected(
            `the TPM counter is at ${counter}, the store expected ${this.#state.base + BigInt(version)}: another program moved it`,
          );
        }
      }
      this.vault.clean(version);
      this.#state = { ...this.#state, version };
      this.#dirty = false;
    } catch (cause) {
      this.#stale = true;
      throw cause;
    }
  }
}

function encodeState(base: bigint, files: Map<string, Uint8Array>): Uint8Array {
  const entries = Object.fromEntries([...files].map(([name, data]) => [name, Buffer.from(data).toString("base64")]));
  return new Uint8Array(canonicalBytes({ format: STATE_FORMAT, base: base.toString(), files: entries }));
}

function decodeState(found: VaultRead): State {
  const value = JSON.parse(Buffer.from(found.plaintext).toString("utf8")) as {
    format?: unknown;
    base?: unknown;
    files?: unknown;
  };
  if (
    value.format !== STATE_FORMAT ||
    typeof value.base !== "string" ||
    !/^\d{1,20}$/.test(value.base) ||
    typeof value.files !== "object" ||
    value.files === null
  ) {
    throw new Error("the store's state has an unknown format");
  }
  const files = new Map<string, Uint8Array>();
  for (const [name, data] of Object.entries(value.files as Record<string, unknown>)) {
    if (typeof data !== "string") throw new Error(`the store's record ${name} is not base64`);
    files.set(name, new Uint8Array(Buffer.from(data, "base64")));
  }
  return { base: BigInt(value.base), version: found.version, files };
}

function load(vault: Vault, anchor: Anchor): { state: State; report: OpenReport } {
  const found = vault.read();
  const state = decodeState(found);
  let completed = false;
  if (anchor.kind === "tpm") {
    const counter = anchor.read();
    const expected = state.base + BigInt(state.version);
    if (counter === expected - 1n) {
      anchor.increment();
      completed = true;
    } else if (counter > expected) {
      throw new RollbackDetected(
        `the store's files are at version ${state.version} but its TPM counter says ${counter - state.base}: ` +
          "they were restored from an older copy (or more fragments were destroyed than can be repaired); " +
          "the store pays nothing more (`peage pcstore status` says why) and its issuer must replace it",
      );
    } else if (counter !== expected) {
      throw new RollbackDetected(
        `the TPM counter (${counter}) is behind the store's files (${expected}): these files belong to another TPM or were forged`,
      );
    }
  }
  vault.repair(found);
  const removed = found.others.length + found.rejected;
  if (removed > 0) vault.clean(found.version);
  return { state, report: { version: found.version, repaired: found.damaged.length, removed, completed } };
}
