/**
 * Webhook endpoint secrets at rest (docs/operations.md, "Webhook secrets"): the server must keep
 * each secret to sign with it, so it keeps it sealed with AES-256-GCM under a key that lives
 * outside the database — a file of the data directory made by `peage server init`, or given by
 * the environment in production. A copy of the database alone reveals no secret.
 *
 * The key ring is a few lines `KEY-ID BASE64URL-32-BYTES`: the first line is the key new secrets
 * are sealed with, the others are older keys still read. Each sealed secret records the id of its
 * key, so a new key is rotated in by putting it first; the server re-seals every secret under it
 * when it starts (resealSecrets), after which the old line can be removed. The endpoint's id is
 * the cipher's associated data: a sealed secret copied onto another endpoint's row does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { link, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The key ring's file in the data directory. */
export const WEBHOOK_KEYS_FILE = "webhook-keys";
/** The key ring itself, or a file holding it, from the environment (production: not beside the database). */
export const WEBHOOK_KEYS_ENV = "PEAGE_WEBHOOK_KEYS";
export const WEBHOOK_KEYS_FILE_ENV = "PEAGE_WEBHOOK_KEYS_FILE";

export interface SealedSecret {
  readonly keyId: string;
  /** base64url of IV (12 bytes) · ciphertext · tag (16 bytes). */
  readonly value: string;
}

/** A ring that cannot be read or a secret that does not open: the server's configuration is at fault. */
export class WebhookKeyError extends Error {
  override readonly name = "WebhookKeyError";
  /** As config.ts's ConfigError: the server's configuration is at fault. */
  readonly code = "ERR_CONFIG";
}

export class WebhookKeyRing {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly currentId: string;

  private constructor(keys: ReadonlyMap<string, Buffer>, currentId: string) {
    this.#keys = keys;
    this.currentId = currentId;
  }

  /** Parses the ring's text: one `KEY-ID BASE64URL` line per key, the first current; `#` starts a comment. */
  static parse(text: string, where: string): WebhookKeyRing {
    const keys = new Map<string, Buffer>();
    let current: string | undefined;
    for (const [index, raw] of text.split("\n").entries()) {
      const line = raw.replace(/#.*/, "").trim();
      if (line === "") continue;
      const match = /^([A-Za-z0-9._-]{1,40})\s+([A-Za-z0-9_-]{43})$/.exec(line);
      const key = match ? Buffer.from(match[2]!, "base64url") : undefined;
      if (!match || key?.length !== 32)
        throw new WebhookKeyError(
          `${where} line ${index + 1}: expected KEY-ID and 32 bytes in base64url (make one with peage server init)`,
        );
      if (keys.has(match[1]!)) throw new WebhookKeyError(`${where}: key id ${match[1]} appears twice`);
      keys.set(match[1]!, key);
      current ??= match[1]!;
    }
    if (current === undefined) throw new WebhookKeyError(`${where} holds no key (make one with peage server init)`);
    return new WebhookKeyRing(keys, current);
  }

  /** A ring of one new random key (tests, and a data directory's first key). */
  static generate(id = `wk-${randomBytes(4).toString("hex")}`): WebhookKeyRing {
    return new WebhookKeyRing(new Map([[id, randomBytes(32)]]), id);
  }

  /** The ring as its file holds it. */
  text(): string {
    return [...this.#keys].map(([id, key]) => `${id} ${key.toString("base64url")}\n`).join("");
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  seal(secret: string, endpointId: string): SealedSecret {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#keys.get(this.currentId)!, iv);
    cipher.setAAD(Buffer.from(endpointId, "utf8"));
    const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
    return { keyId: this.currentId, value: Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url") };
  }

  open(sealed: SealedSecret, endpointId: string): string {
    const key = this.#keys.get(sealed.keyId);
    if (!key)
      throw new WebhookKeyError(
        `the secret of ${endpointId} is sealed with key ${sealed.keyId}, which this server's webhook key ring does not hold: ` +
          "give every server process the same ring (docs/operations.md)",
      );
    const bytes = Buffer.from(sealed.value, "base64url");
    if (bytes.length < 29) throw new WebhookKeyError(`the sealed secret of ${endpointId} is truncated`);
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(endpointId, "utf8"));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
    } catch {
      throw new WebhookKeyError(`the sealed secret of ${endpointId} does not open with key ${sealed.keyId}: altered or moved`);
    }
  }
}

/** Writes a new ring of one key into a data directory (at `peage server init`); an existing one is kept. */
export async function createWebhookKeys(dataDir: string): Promise<string | undefined> {
  const path = join(dataDir, WEBHOOK_KEYS_FILE);
  if (existsSync(path)) return undefined;
  // Written aside then linked into place: another process of the same server (--workers) never
  // reads a half-written ring, and when it made the ring first, that one is kept and used.
  const aside = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(aside, WebhookKeyRing.generate().text(), { mode: 0o600, flag: "wx" });
  try {
    await link(aside, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return undefined;
    throw error;
  } finally {
    await unlink(aside);
  }
  return path;
}

/**
 * The server's ring: $PEAGE_WEBHOOK_KEYS, else the file in $PEAGE_WEBHOOK_KEYS_FILE, else the data
 * directory's file — made there now if the directory has none (a directory made before secrets
 * were sealed).
 */
export async function loadWebhookKeys(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ring: WebhookKeyRing; created?: string }> {
  const inline = env[WEBHOOK_KEYS_ENV];
  if (inline !== undefined && inline.trim() !== "") return { ring: WebhookKeyRing.parse(inline, `$${WEBHOOK_KEYS_ENV}`) };
  const file = env[WEBHOOK_KEYS_FILE_ENV];
  if (file !== undefined && file !== "") {
    const text = await readFile(file, "utf8").catch((cause: NodeJS.ErrnoException) => {
      throw new WebhookKeyError(`cannot read $${WEBHOOK_KEYS_FILE_ENV} ${file} (${cause.code ?? cause.message})`);
    });
    return { ring: WebhookKeyRing.parse(text, file) };
  }
  const created = await createWebhookKeys(dataDir);
  const path = join(dataDir, WEBHOOK_KEYS_FILE);
  return { ring: WebhookKeyRing.parse(await readFile(path, "utf8"), path), ...(created ? { created } : {}) };
}

/** A secret as the database holds it: opened with the ring, or as it is when still in clear (from before migration 12). */
export function openStored(
  ring: WebhookKeyRing,
  stored: { readonly keyId: string | undefined; readonly value: string },
  endpointId: string,
): string {
  return stored.keyId === undefined ? stored.value : ring.open({ keyId: stored.keyId, value: stored.value }, endpointId);
}
