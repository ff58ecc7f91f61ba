/**
 * Fragmentation and dissemination (the seed's words for the PC variant): each version of the
 * store's state is encrypted and authenticated as a whole (AES-256-GCM), cut into n shares of
 * which any k rebuild it (reed-solomon.ts), and each share is written, with its own MAC, as a
 * file in one of several directories ("places") on the disk. Deleting or altering up to n − k
 * fragments is repaired from the others; more is detected, never silently read as something else.
 *
 * A fragment file `peage-<tag>-<version>-<index>.frag` is:
 *
 *   "PGF1" | version u32 | index u8 | k u8 | n u8 | ciphertext length u32 | share | HMAC-SHA-256
 *
 * the MAC (under a key derived from the store's fragment key) covering everything before it, so a
 * fragment torn by a power cut or edited by hand is simply not counted. The ciphertext is
 * IV (12) | AES-GCM output | tag (16), the additional data binding it to the store's tag and the
 * version. Versions are never rewritten: a new state is a new version, written in full before the
 * older ones are removed, so a power cut at any write leaves one version that decodes.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
  constants as fsConstants,
} from "node:fs";
import { join } from "node:path";
import { PcStoreError } from "./errors.js";
import { checkCoding, decodeShares, encodeShares, type Coding } from "./reed-solomon.js";

/** The file operations the vault makes, so that tests can cut the power after any of them. */
export interface Disk {
  list(dir: string): string[];
  read(path: string): Uint8Array | undefined;
  /** Creates the file, writes it and flushes it (fsync). */
  writeDurable(path: string, data: Uint8Array): void;
  remove(path: string): void;
  syncDir(dir: string): void;
}

export const nodeDisk: Disk = {
  list(dir) {
    try {
      return readdirSync(dir);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw cause;
    }
  },
  read(path) {
    try {
      return new Uint8Array(readFileSync(path));
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw cause;
    }
  },
  writeDurable(path, data) {
    const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600);
    try {
      let at = 0;
      while (at < data.length) at += writeSync(fd, data, at, data.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
  remove(path) {
    rmSync(path, { force: true });
  },
  syncDir(dir) {
    const fd = openSync(dir, fsConstants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
};

export interface VaultOptions {
  /** Directories the fragments are spread over; fragment i goes to places[i mod places.length]. */
  readonly places: readonly string[];
  readonly coding: Coding;
  /** 32 bytes: the key fragments are encrypted and authenticated under. */
  readonly key: Uint8Array;
  /** Names this store's fragments (several stores may share places). */
  readonly tag: string;
  readonly disk?: Disk;
}

/** What reading the vault found. */
export interface VaultRead {
  /** The newest version that decodes, and its plaintext. */
  readonly version: number;
  readonly plaintext: Uint8Array;
  /** The version's ciphertext, as its fragments encode it (for repairs). */
  readonly ciphertext: Uint8Array;
  /** Indices of that version's fragments missing or failing their MAC (repairable). */
  readonly damaged: readonly number[];
  /** Fragments of other versions, or of no version, that authenticate; removed by {@link Vault.clean}. */
  readonly others: readonly string[];
  /** Files named as this store's fragments that do not authenticate (altered, torn or foreign). */
  readonly rejected: number;
}

/** No version of the state can be rebuilt: more than n − k fragments of each were lost. */
export class VaultDestroyed extends PcStoreError {
  override readonly name = "VaultDestroyed";
  constructor(message: string) {
    super("ERR_VAULT_DESTROYED", message);
  }
}

const MAGIC = Buffer.from("PGF1", "ascii");
const HEADER = 4 + 4 + 1 + 1 + 1 + 4;
const MAC_LENGTH = 32;
const tagPattern = /^[a-z0-9]{8,32}$/;

interface Fragment {
  readonly path: string;
  readonly version: number;
  readonly index: number;
  readonly length: number;
  readonly share: Uint8Array;
}

export class Vault {
  readonly #places: readonly string[];
  readonly #coding: Coding;
  readonly #encKey: Buffer;
  readonly #macKey: Buffer;
  readonly #tag: string;
  readonly #disk: Disk;

  constructor(options: VaultOptions) {
    checkCoding(options.coding);
    if (options.places.length === 0) throw new RangeError("the vault needs at least one place");
    if (options.key.length !== 32) throw new RangeError("the fragment key is 32 bytes");
    if (!tagPattern.test(options.tag)) throw new RangeError("a store tag is 8 to 32 lowercase letters and digits");
    this.#places = options.places;
    this.#coding = options.coding;
    this.#encKey = Buffer.from(hkdfSync("sha256", options.key, Buffer.alloc(0), "peage pc store state", 32));
    this.#macKey = Buffer.from(hkdfSync("sha256", options.key, Buffer.alloc(0), "peage pc store fragment", 32));
    this.#tag = options.tag;
    this.#disk = options.disk ?? nodeDisk;
    if (!options.disk) for (const place of options.places) mkdirSync(place, { recursive: true, mode: 0o700 });
  }

  get coding(): Coding {
    return this.#coding;
  }

  #path(version: number, index: number): string {
    return join(this.#places[index % this.#places.length]!, `peage-${this.#tag}-${version}-${index}.frag`);
  }

  #aad(version: number): Buffer {
    return Buffer.from(`${this.#tag}#${version}`, "utf8");
  }

  /** Writes a new version in full: every fragment flushed, then every place's directory. */
  write(version: number, plaintext: Uint8Array): void {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#encKey, iv);
    cipher.setAAD(this.#aad(version));
    const ciphertext = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    this.#writeShares(version, ciphertext, [...Array(this.#coding.n).keys()]);
  }

  #writeShares(version: number, ciphertext: Uint8Array, indices: readonly number[]): void {
    const shares = encodeShares(ciphertext, this.#coding);
    for (const index of indices)
      this.#disk.writeDurable(this.#path(version, index), this.#fragment(version, index, ciphertext.length, shares[index]!));
    for (const place of new Set(indices.map((index) => this.#places[index % this.#places.length]!))) this.#disk.syncDir(place);
  }

  #fragment(version: number, index: number, length: number, share: Uint8Array): Uint8Array {
    const header = Buffer.alloc(HEADER);
    MAGIC.copy(header, 0);
    header.writeUInt32BE(version, 4);
    header.writeUInt8(index, 8);
    header.writeUInt8(this.#coding.k, 9);
    header.writeUInt8(this.#coding.n, 10);
    header.writeUInt32BE(length, 11);
    const body = Buffer.concat([header, share]);
    return Buffer.concat([body, createHmac("sha256", this.#macKey).update(body).digest()]);
  }

  /** Parses and authenticates one file; undefined if it is not an intact fragment of this store. */
  #parse(path: string, version: number, index: number): Fragment | undefined {
    const bytes = this.#disk.read(path);
    if (!bytes || bytes.length < HEADER + MAC_LENGTH) return undefined;
    const data = Buffer.from(bytes);
    const body = data.subarray(0, data.length - MAC_LENGTH);
    const mac = createHmac("sha256", this.#macKey).update(body).digest();
    if (!timingSafeEqual(mac, data.subarray(data.length - MAC_LENGTH))) return undefined;
    if (!body.subarray(0, 4).equals(MAGIC) || body.readUInt32BE(4) !== version || body.readUInt8(8) !== index) return undefined;
    if (body.readUInt8(9) !== this.#coding.k || body.readUInt8(10) !== this.#coding.n) return undefined;
    return { path, version, index, length: body.readUInt32BE(11), share: new Uint8Array(body.subarray(HEADER)) };
  }

  /** Every file of this store in every place, authenticated, by version. */
  #scan(): { byVersion: Map<number, Fragment[]>; rejected: number } {
    const byVersion = new Map<number, Fragment[]>();
    let rejected = 0;
    const name = new RegExp(`^peage-${this.#tag}-(\\d{1,10})-(\\d{1,3})\\.frag$`);
    for (const place of new Set(this.#places)) {
      for (const file of this.#disk.list(place)) {
        const match = name.exec(file);
        if (!match) continue;
        const version = Number(match[1]);
        const index = Number(match[2]);
        const path = join(place, file);
        const fragment =
          index < this.#coding.n && path === this.#path(version, index) ? this.#parse(path, version, index) : undefined;
        if (!fragment) {
          rejected++;
          continue;
        }
        byVersion.set(version, [...(byVersion.get(version) ?? []), fragment]);
      }
    }
    return { byVersion, rejected };
  }

  /** The newest version that decodes (and authenticates as a whole). */
  read(): VaultRead {
    const { byVersion, rejected } = this.#scan();
    const versions = [...byVersion.keys()].sort((a, b) => b - a);
    for (const version of versions) {
      const fragments = byVersion.get(version)!;
      const lengths = new Set(fragments.map((fragment) => fragment.length));
      if (fragments.length < this.#coding.k || lengths.size !== 1) continue;
      const ciphertext = decodeShares(
        new Map(fragments.map((fragment) => [fragment.index, fragment.share])),
        this.#coding,
        fragments[0]!.length,
      );
      const plaintext = this.#decrypt(version, ciphertext);
      if (!plaintext) continue;
      const present = new Set(fragments.map((fragment) => fragment.index));
      const others = versions.filter((v) => v !== version).flatMap((v) => byVersion.get(v)!.map((fragment) => fragment.path));
      return {
        version,
        plaintext,
        ciphertext,
        damaged: [...Array(this.#coding.n).keys()].filter((i) => !present.has(i)),
        others,
        rejected,
      };
    }
    throw new VaultDestroyed(
      versions.length === 0 && rejected === 0
        ? "the store has no fragments at all: it was deleted"
        : `no version of the store has ${this.#coding.k} intact fragments of ${this.#coding.n}: ` +
            "more were deleted or altered than can be repaired",
    );
  }

  /** Rewrites the damaged fragments of the version read (the same bytes as before: the coding is deterministic). */
  repair(found: VaultRead): void {
    if (found.damaged.length === 0) return;
    for (const index of found.damaged) this.#disk.remove(this.#path(found.version, index));
    this.#writeShares(found.version, found.ciphertext, found.damaged);
  }

  /** Removes every fragment of this store but those of `keep` (older versions, torn newer ones, rejected files). */
  clean(keep: number): void {
    const name = new RegExp(`^peage-${this.#tag}-(\\d{1,10})-(\\d{1,3})\\.frag$`);
    for (const place of new Set(this.#places)) {
      let removed = false;
      for (const file of this.#disk.list(place)) {
        const match = name.exec(file);
        if (!match || Number(match[1]) === keep) continue;
        this.#disk.remove(join(place, file));
        removed = true;
      }
      if (removed) this.#disk.syncDir(place);
    }
  }

  /** Every fragment file of this store (tests, `peage pcstore status`). */
  files(): string[] {
    const name = new RegExp(`^peage-${this.#tag}-\\d{1,10}-\\d{1,3}\\.frag$`);
    return [...new Set(this.#places)].flatMap((place) =>
      this.#disk
        .list(place)
        .filter((file) => name.test(file))
        .map((file) => join(place, file)),
    );
  }

  #decrypt(version: number, ciphertext: Uint8Array): Uint8Array | undefined {
    if (ciphertext.length < 28) return undefined;
    const data = Buffer.from(ciphertext);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#encKey, data.subarray(0, 12));
      decipher.setAAD(this.#aad(version));
      decipher.setAuthTag(data.subarray(data.length - 16));
      return new Uint8Array(Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]));
    } catch {
      return undefined;
    }
  }
}
