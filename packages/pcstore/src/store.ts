/**
 * The PC store: the card application itself (CardApplet of @peage/card, the same PAY, RELOAD,
 * SYNC, log and purse, the same APDUs) running in the wallet's process on a {@link VaultMedium},
 * its key in the PC's TPM when there is one. The wallet talks to it through the card's own
 * client (CardClient over an InProcessTransport), so everything that works with a card — paying,
 * `syncCard`, the issuing server's desk — works with it unchanged.
 *
 * On disk, in the store's directory: `pcstore.json` (not secret: the places, the coding, the
 * TPM's handles and the sealed fragment key, or for a software store the fragment key itself, the
 * file being 0600) and the fragments, spread over the places.
 */
import { createPublicKey, randomBytes, webcrypto } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  CardApplet,
  CardClient,
  InProcessTransport,
  issueCard,
  type CardAppletOptions,
  type IssueCardOptions,
  type IssuedCard,
} from "@peage/card";
import type { ExternalSigner } from "@peage/protocol";
import { PcStoreError } from "./errors.js";
import { assuranceOids, defaultLimits, type AssuranceLevel, type AssuranceLimits } from "./assurance.js";
import { Vault, type Disk } from "./fragments.js";
import type { Coding } from "./reed-solomon.js";
import { Tpm, type TpmObjects } from "./tpm.js";
import { noAnchor, VaultMedium, type Anchor, type OpenReport } from "./vault-medium.js";

export const CONFIG_FILE = "pcstore.json";
const CONFIG_FORMAT = "peage-pcstore/1";
export const DEFAULT_CODING: Coding = { k: 3, n: 5 };

export interface PcStoreConfig {
  readonly format: typeof CONFIG_FORMAT;
  readonly card: string;
  readonly tag: string;
  readonly places: readonly string[];
  readonly coding: Coding;
  readonly assurance: AssuranceLevel;
  readonly tpm?: TpmObjects;
  /** Software store only: the fragment key, base64. */
  readonly fragmentKey?: string;
}

export interface CreatePcStoreOptions extends Omit<IssueCardOptions, "externalKey" | "policies" | "maxBalance"> {
  readonly dir: string;
  /** The PC's TPM; without it the store is a software one (lower limits). */
  readonly tpm?: Tpm;
  /** Directories for the fragments; by default three under `dir`. */
  readonly places?: readonly string[];
  readonly coding?: Coding;
  readonly limits?: Readonly<Record<AssuranceLevel, AssuranceLimits>>;
  readonly disk?: Disk;
}

/** Makes a store: TPM objects (or a software key), personalisation by the issuer, first version written. */
export async function createPcStore(options: CreatePcStoreOptions): Promise<IssuedCard & { config: PcStoreConfig }> {
  const dir = resolve(options.dir);
  if (existsSync(join(dir, CONFIG_FILE)))
    throw new PcStoreError("ERR_PCSTORE_EXISTS", `${dir} already holds a PC store: use \`peage pcstore status\` to read it`);
  const assurance: AssuranceLevel = options.tpm ? "pc-tpm" : "pc-software";
  const limits = (options.limits ?? defaultLimits)[assurance];
  if (options.mode === "postpaid" && (options.ceiling ?? 0) > limits.maxCeiling) {
    throw new RangeError(`a ${assurance} store's ceiling is at most ${limits.maxCeiling} minor units`);
  }
  if ((options.balance ?? 0) > limits.maxBalance)
    throw new RangeError(`a ${assurance} store holds at most ${limits.maxBalance} minor units`);
  const tag = randomBytes(8).toString("hex");
  const places = (options.places ?? ["a", "b", "c"].map((name) => join(dir, "fragments", name))).map((place) =>
    resolve(dir, place),
  );
  const coding = options.coding ?? DEFAULT_CODING;
  let config: PcStoreConfig;
  let key: Uint8Array;
  let externalKey: IssueCardOptions["externalKey"];
  if (options.tpm) {
    const created = options.tpm.createStoreObjects();
    key = created.secret;
    config = { format: CONFIG_FORMAT, card: options.card, tag, places, coding, assurance, tpm: created.objects };
    const spki = options.tpm.publicKey(created.objects.keyHandle).export({ type: "spki", format: "der" });
    const publicKey = await webcrypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
    externalKey = { publicKey, reference: `tpm:${created.objects.keyHandle.toString(16)}` };
  } else {
    key = new Uint8Array(randomBytes(32));
    config = {
      format: CONFIG_FORMAT,
      card: options.card,
      tag,
      places,
      coding,
      assurance,
      fragmentKey: Buffer.from(key).toString("base64"),
    };
  }
  const vault = new Vault({ places, coding, key, tag, ...(options.disk && { disk: options.disk }) });
  const medium = VaultMedium.create(vault, anchorOf(config, options.tpm));
  const { dir: _dir, tpm: _tpm, places: _places, coding: _coding, limits: _limits, disk: _disk, ...issue } = options;
  const issued = await issueCard(medium, {
    ...issue,
    maxBalance: limits.maxBalance,
    policies: [assuranceOids[assurance]],
    ...(externalKey && { externalKey }),
  });
  writeConfig(dir, config);
  return { ...issued, config };
}

function writeConfig(dir: string, config: PcStoreConfig): void {
  const path = join(dir, CONFIG_FILE);
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function readConfig(dir: string): PcStoreConfig {
  const path = join(resolve(dir), CONFIG_FILE);
  if (!existsSync(path))
    throw new PcStoreError("ERR_PCSTORE_CONFIG", `${dir} holds no PC store: make one with \`peage pcstore init\``);
  const value = JSON.parse(readFileSync(path, "utf8")) as PcStoreConfig;
  if (
    value.format !== CONFIG_FORMAT ||
    !Array.isArray(value.places) ||
    value.places.length === 0 ||
    typeof value.tag !== "string"
  ) {
    throw new PcStoreError("ERR_PCSTORE_CONFIG", `${path} is not a PC store's configuration`);
  }
  if (value.assurance !== (value.tpm ? "pc-tpm" : "pc-software"))
    throw new PcStoreError("ERR_PCSTORE_CONFIG", `${path}: the assurance level does not match the key's place`);
  return value;
}

function anchorOf(config: PcStoreConfig, tpm: Tpm | undefined): Anchor {
  if (!config.tpm) return noAnchor;
  if (!tpm)
    throw new PcStoreError("ERR_PCSTORE_NEEDS_TPM", "this store's key is in a TPM: give its TCTI (TPM2TOOLS_TCTI) to open it");
  const index = config.tpm.nvIndex;
  return { kind: "tpm", read: () => tpm.readCounter(index), increment: () => tpm.incrementCounter(index) };
}

function tpmSigner(tpm: Tpm, keyHandle: number): ExternalSigner {
  const publicKey = tpm.publicKey(keyHandle);
  return { alg: "ES256", sign: async (data) => tpm.sign(keyHandle, data, publicKey) };
}

export interface OpenedPcStore {
  readonly config: PcStoreConfig;
  readonly medium: VaultMedium;
  readonly report: OpenReport;
  readonly transport: InProcessTransport;
  /** The card's client over the store: what the wallet and `syncCard` use. */
  readonly client: CardClient;
}

/** Opens a store: rollback check against the TPM, fragment repair, the card application started. */
export interface OpenPcStoreOptions extends Omit<CardAppletOptions, "signer"> {
  readonly tpm?: Tpm;
  readonly disk?: Disk;
  /** Wraps the TPM counter (tests cut the power around its increment). */
  readonly anchorHook?: (anchor: Anchor) => Anchor;
}

export async function openPcStore(dir: string, options: OpenPcStoreOptions = {}): Promise<OpenedPcStore> {
  const config = readConfig(dir);
  const { tpm, disk, anchorHook, ...appletOptions } = options;
  const key = config.tpm ? tpmOrFail(tpm).unseal(config.tpm.sealed) : Buffer.from(config.fragmentKey ?? "", "base64");
  const vault = new Vault({ places: config.places, coding: config.coding, key, tag: config.tag, ...(disk && { disk }) });
  const anchor = anchorOf(config, tpm);
  const medium = VaultMedium.open(vault, anchorHook ? anchorHook(anchor) : anchor);
  const signer = config.tpm ? tpmSigner(tpmOrFail(tpm), config.tpm.keyHandle) : undefined;
  const applet = await CardApplet.open(medium, { ...appletOptions, ...(signer && { signer }) });
  const transport = new InProcessTransport(applet);
  return { config, medium, report: medium.report, transport, client: new CardClient(transport) };
}

function tpmOrFail(tpm: Tpm | undefined): Tpm {
  if (!tpm) throw new PcStoreError("ERR_PCSTORE_NEEDS_TPM", "this store's key is in a TPM: set TPM2TOOLS_TCTI to reach it");
  return tpm;
}

/** The key certified for a TPM store is the TPM's: for checks and tests. */
export function tpmPublicKeyPem(tpm: Tpm, config: PcStoreConfig): string {
  if (!config.tpm)
    throw new PcStoreError("ERR_PCSTORE_NEEDS_TPM", "a software store has no TPM key: only a pc-tpm store has one");
  return createPublicKey(tpm.publicKey(config.tpm.keyHandle)).export({ type: "spki", format: "pem" }).toString();
}
