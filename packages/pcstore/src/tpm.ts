/**
 * The PC's TPM 2.0, through the tpm2-tools command line (the TSS2 stack Debian ships), so that
 * the same code drives a real chip (`device:/dev/tpmrm0`) or swtpm (`swtpm:host=…,port=…`): the
 * TCTI string says which. What the store asks of it:
 *
 * - a storage primary key made persistent (the parent of everything else, re-derived from the
 *   TPM's owner seed, so it is the same key whoever asks);
 * - an ECC P-256 signing key created inside the TPM with fixedTPM | fixedParent |
 *   sensitiveDataOrigin: its private half was never outside and can never be exported or
 *   duplicated; the store's acknowledgments and log entries are signed by it;
 * - a sealed 32-byte secret (the key that encrypts and authenticates the fragments);
 * - an NV index of type counter: it only ever increases, survives power loss, and cannot be
 *   reset without deleting the index (which the owner hierarchy protects), so the store's files
 *   cannot be rolled back behind it.
 *
 * The calls are synchronous (spawnSync): the store's memory interface is, and each costs a few
 * milliseconds against swtpm.
 */
import { spawnSync } from "node:child_process";
import { createPublicKey, randomBytes, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PcStoreError } from "./errors.js";

/** A TPM command failed; the message carries the tool's own words. */
export class TpmError extends PcStoreError {
  override readonly name = "TpmError";
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super("ERR_TPM", message, options);
  }
}

/** Persistent handle of the storage primary the store's objects live under (TPM 2.0 Part 2 §7.6: 0x81000000-0x817FFFFF). */
export const PRIMARY_HANDLE = 0x81010001;
const ownerPersistentRange = [0x81010002, 0x8101ffff] as const;
const nvRange = [0x01500100, 0x0150ffff] as const;

export interface TpmObjects {
  /** The signing key's persistent handle. */
  readonly keyHandle: number;
  /** The counter's NV index. */
  readonly nvIndex: number;
  /** The sealed fragment key: TPM2B_PUBLIC and TPM2B_PRIVATE blobs (the private one wrapped by the primary). */
  readonly sealed: { readonly pub: string; readonly priv: string };
}

export class Tpm {
  constructor(readonly tcti: string) {}

  /** The TCTI named by TPM2TOOLS_TCTI, or the kernel's resource manager. */
  static fromEnvironment(env: NodeJS.ProcessEnv = process.env): Tpm {
    return new Tpm(env["TPM2TOOLS_TCTI"] ?? "device:/dev/tpmrm0");
  }

  /** Runs one tpm2-tools command; its stdout. */
  run(tool: string, args: readonly string[], input?: Uint8Array): Buffer {
    const result = spawnSync(tool, args, {
      env: { ...process.env, TPM2TOOLS_TCTI: this.tcti },
      input: input ?? Buffer.alloc(0),
      timeout: 30_000,
      maxBuffer: 1 << 20,
    });
    if (result.error) {
      const missing = (result.error as NodeJS.ErrnoException).code === "ENOENT";
      throw new TpmError(
        missing
          ? `${tool} is not installed: install Debian's tpm2-tools (scripts/setup.sh does)`
          : `${tool}: ${result.error.message}`,
      );
    }
    if (result.status !== 0)
      throw new TpmError(
        `${tool} failed (TCTI ${this.tcti}): ${result.stderr.toString("utf8").trim().split("\n").slice(-2).join(" ")}`,
      );
    return result.stdout;
  }

  /** Whether a TPM answers on this TCTI. */
  available(): boolean {
    try {
      this.run("tpm2_getcap", ["properties-fixed"]);
      return true;
    } catch {
      return false;
    }
  }

  #withFiles<T>(task: (dir: string) => T): T {
    const dir = mkdtempSync(join(tmpdir(), "peage-tpm-"));
    try {
      return task(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  #persistentHandles(): Set<number> {
    const out = this.run("tpm2_getcap", ["handles-persistent"]).toString("utf8");
    return new Set([...out.matchAll(/0x([0-9a-fA-F]+)/g)].map((m) => Number.parseInt(m[1]!, 16)));
  }

  #nvIndices(): Set<number> {
    const out = this.run("tpm2_getcap", ["handles-nv-index"]).toString("utf8");
    return new Set([...out.matchAll(/0x([0-9a-fA-F]+)/g)].map((m) => Number.parseInt(m[1]!, 16)));
  }

  /** Makes the storage primary persistent unless it already is. */
  ensurePrimary(): void {
    if (this.#persistentHandles().has(PRIMARY_HANDLE)) return;
    this.#withFiles((dir) => {
      this.run("tpm2_createprimary", ["-C", "o", "-g", "sha256", "-G", "ecc", "-c", join(dir, "primary.ctx")]);
      this.run("tpm2_evictcontrol", ["-C", "o", "-c", join(dir, "primary.ctx"), hex(PRIMARY_HANDLE)]);
      this.run("tpm2_flushcontext", ["-t"]);
    });
  }

  /** Creates the store's signing key, counter and sealed fragment key; returns their handles and the secret. */
  createStoreObjects(): { objects: TpmObjects; secret: Uint8Array } {
    this.ensurePrimary();
    const keyHandle = freeIn(ownerPersistentRange, this.#persistentHandles());
    const nvIndex = freeIn(nvRange, this.#nvIndices());
    const secret = new Uint8Array(randomBytes(32));
    const sealed = this.#withFiles((dir) => {
      const at = (name: string) => join(dir, name);
      this.run("tpm2_create", [
        "-C",
        hex(PRIMARY_HANDLE),
        "-G",
        "ecc256:ecdsa-sha256",
        "-a",
        "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign",
        "-u",
        at("key.pub"),
        "-r",
        at("key.priv"),
      ]);
      this.run("tpm2_load", ["-C", hex(PRIMARY_HANDLE), "-u", at("key.pub"), "-r", at("key.priv"), "-c", at("key.ctx")]);
      this.run("tpm2_evictcontrol", ["-C", "o", "-c", at("key.ctx"), hex(keyHandle)]);
      this.run("tpm2_flushcontext", ["-t"]);
      this.run(
        "tpm2_create",
        [
          "-C",
          hex(PRIMARY_HANDLE),
          "-i",
          "-",
          "-a",
          "fixedtpm|fixedparent|userwithauth",
          "-u",
          at("seal.pub"),
          "-r",
          at("seal.priv"),
        ],
        secret,
      );
      return { pub: readFileSync(at("seal.pub")).toString("base64"), priv: readFileSync(at("seal.priv")).toString("base64") };
    });
    this.run("tpm2_nvdefine", ["-C", "o", "-s", "8", "-a", "ownerread|ownerwrite|nt=counter", hex(nvIndex)]);
    // A counter reads only once incremented (TPM 2.0 Part 3 §31.8: TPMA_NV_WRITTEN).
    this.run("tpm2_nvincrement", ["-C", "o", hex(nvIndex)]);
    return { objects: { keyHandle, nvIndex, sealed }, secret };
  }

  /** Removes the store's objects (a store deleted for good). */
  removeStoreObjects(objects: TpmObjects): void {
    this.run("tpm2_evictcontrol", ["-C", "o", "-c", hex(objects.keyHandle)]);
    this.run("tpm2_nvundefine", ["-C", "o", hex(objects.nvIndex)]);
  }

  unseal(sealed: TpmObjects["sealed"]): Uint8Array {
    return this.#withFiles((dir) => {
      writeFileSync(join(dir, "seal.pub"), Buffer.from(sealed.pub, "base64"));
      writeFileSync(join(dir, "seal.priv"), Buffer.from(sealed.priv, "base64"));
      this.run("tpm2_load", [
        "-C",
        hex(PRIMARY_HANDLE),
        "-u",
        join(dir, "seal.pub"),
        "-r",
        join(dir, "seal.priv"),
        "-c",
        join(dir, "seal.ctx"),
      ]);
      try {
        const secret = this.run("tpm2_unseal", ["-c", join(dir, "seal.ctx")]);
        if (secret.length !== 32) throw new TpmError("the sealed fragment key is not 32 bytes");
        return new Uint8Array(secret);
      } finally {
        this.run("tpm2_flushcontext", ["-t"]);
      }
    });
  }

  publicKey(keyHandle: number): KeyObject {
    return this.#withFiles((dir) => {
      this.run("tpm2_readpublic", ["-c", hex(keyHandle), "-f", "pem", "-o", join(dir, "key.pem")]);
      return createPublicKey(readFileSync(join(dir, "key.pem")));
    });
  }

  /** ECDSA P-256 over SHA-256(data) inside the TPM; the signature as IEEE P1363 r || s. */
  sign(keyHandle: number, data: Uint8Array, publicKey: KeyObject): Uint8Array {
    const der = this.#withFiles((dir) => {
      writeFileSync(join(dir, "data"), data);
      this.run("tpm2_sign", [
        "-c",
        hex(keyHandle),
        "-g",
        "sha256",
        "-s",
        "ecdsa",
        "-f",
        "plain",
        "-o",
        join(dir, "sig"),
        join(dir, "data"),
      ]);
      return readFileSync(join(dir, "sig"));
    });
    // Checked before use: a TPM answering with another key's signature would make unverifiable records.
    if (!verify("sha256", data, { key: publicKey, dsaEncoding: "der" }, der))
      throw new TpmError("the TPM's signature does not verify under the store's key");
    return derToP1363(der);
  }

  readCounter(nvIndex: number): bigint {
    const bytes = this.run("tpm2_nvread", ["-C", "o", "-s", "8", hex(nvIndex)]);
    if (bytes.length !== 8) throw new TpmError(`the counter ${hex(nvIndex)} read ${bytes.length} bytes, not 8`);
    return bytes.readBigUInt64BE(0);
  }

  incrementCounter(nvIndex: number): bigint {
    this.run("tpm2_nvincrement", ["-C", "o", hex(nvIndex)]);
    return this.readCounter(nvIndex);
  }
}

function hex(handle: number): string {
  return `0x${handle.toString(16).padStart(8, "0")}`;
}

function freeIn([low, high]: readonly [number, number], taken: Set<number>): number {
  for (let tries = 0; tries < 64; tries++) {
    const candidate = low + (randomBytes(4).readUInt32BE(0) % (high - low + 1));
    if (!taken.has(candidate)) return candidate;
  }
  throw new TpmError("no free TPM handle found for the store");
}

/** SEQUENCE { INTEGER r, INTEGER s } (DER, as tpm2_sign -f plain writes) → r || s, 32 bytes each. */
export function derToP1363(der: Uint8Array): Uint8Array {
  const bytes = Buffer.from(der);
  const fail = (): never => {
    throw new TpmError("the TPM's ECDSA signature is not a DER SEQUENCE of two INTEGERs");
  };
  if (bytes[0] !== 0x30 || bytes[1] !== bytes.length - 2) fail();
  const out = new Uint8Array(64);
  let at = 2;
  for (const half of [0, 1]) {
    if (bytes[at] !== 0x02) fail();
    const length = bytes[at + 1]!;
    let value = bytes.subarray(at + 2, at + 2 + length);
    if (value.length !== length || length === 0) fail();
    while (value.length > 32 && value[0] === 0) value = value.subarray(1);
    if (value.length > 32) fail();
    out.set(value, half * 32 + 32 - value.length);
    at += 2 + length;
  }
  if (at !== bytes.length) fail();
  return out;
}
