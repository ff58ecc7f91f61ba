/**
 * A whole Péage setting for tests, in a temporary directory: a demonstration PKI, a signed
 * catalog, a stand-in payment server, and an initialised, enrolled wallet with its local
 * service. Everything is real (keys, signatures, HTTP on 127.0.0.1); close() removes it all.
 */
import { webcrypto, type JsonWebKey } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certificateToPem,
  createDemoPki,
  rateTable,
  signCatalog,
  type Catalog,
  type Clock,
  type DemoPki,
  type OfferDraft,
  type RateTable,
  type TrustStore,
} from "@peage/protocol";
import { AutoYesPrompt, type ConsentPrompt } from "../consent-prompt.js";
import { initWallet } from "../init.js";
import { PSD2_LOW_VALUE_RULES, type Rules } from "../rules.js";
import { startWallet, type WalletService } from "../service.js";
import { createWallet, type Wallet } from "../wallet.js";
import { startStandInServer, type StandInServer, type StandInServerOptions } from "./stand-in-server.js";
import type { CardAccess } from "../card/reader.js";

export const TEST_PASSPHRASE = "correct horse battery staple";
export const TEST_USER = "urn:peage:user:alice";

/** Offers used when a test names none: one of each grant kind. */
export const DEFAULT_DRAFTS: readonly OfferDraft[] = [
  {
    offerId: "launch",
    description: "Start the game",
    price: { amount: 50, currency: "EUR" } as OfferDraft["price"],
    grant: { kind: "launch" },
  },
  {
    offerId: "play-time",
    description: "Five minutes of play",
    price: { amount: 20, currency: "EUR" } as OfferDraft["price"],
    grant: { kind: "period", seconds: 300 },
  },
  {
    offerId: "level-2",
    description: "Unlock level 2",
    price: { amount: 100, currency: "EUR" } as OfferDraft["price"],
    grant: { kind: "event", event: "level-2" },
  },
];

export const TEST_RATES: RateTable = rateTable("EUR", "2026-11-24", { USD: "1.0845", JPY: "162.50", GBP: "0.8312" });

export interface TestWorldOptions {
  readonly prompt?: ConsentPrompt;
  readonly homeCurrency?: string;
  /** Prepaid balance in minor units of the home currency (default 100.00). */
  readonly balance?: number;
  /** The user's rules; default the PSD2 low-value preset, as chosen by a user at `peage wallet init`. */
  readonly rules?: Rules;
  readonly drafts?: readonly OfferDraft[];
  readonly clock?: Clock;
  readonly server?: Pick<StandInServerOptions, "failFirst" | "tamper">;
  /** Start the wallet's local service (default true). */
  readonly service?: boolean;
  /** Reuse a PKI (making one costs a few key generations). */
  readonly pki?: DemoPki;
  /** Where the wallet looks for the user's card (default: no card). */
  readonly card?: CardAccess;
}

export interface TestWorld {
  readonly dir: string;
  readonly pki: DemoPki;
  readonly trust: TrustStore;
  readonly rootsPemFile: string;
  readonly rootsPem: string;
  readonly catalog: Catalog;
  readonly catalogFile: string;
  readonly server: StandInServer;
  readonly wallet: Wallet;
  readonly service: WalletService | undefined;
  readonly endpointFile: string;
  readonly user: string;
  close(): Promise<void>;
}

export async function createTestWorld(options: TestWorldOptions = {}): Promise<TestWorld> {
  const dir = await mkdtemp(join(tmpdir(), "peage-world-"));
  const cleanup: Array<() => Promise<void> | void> = [() => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  try {
    const pki = options.pki ?? (await createDemoPki());
    const trust = pki.trustStore();
    const rootsPem = certificateToPem(pki.root.certificate);
    const rootsPemFile = join(dir, "root.pem");
    await writeFile(rootsPemFile, rootsPem);
    const catalog = await signCatalog(
      pki.publisher.identity,
      options.drafts ?? DEFAULT_DRAFTS,
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
      {
        servers: [pki.server.identity],
      },
    );
    const catalogFile = join(dir, "catalog.json");
    await writeFile(catalogFile, JSON.stringify(catalog, null, 2));

    const server = await startStandInServer({
      trust,
      signer: { identity: pki.server.identity, keys: pki.server.keys, x5c: pki.chainOf(pki.server.certificate) },
      rates: TEST_RATES,
      ...(options.clock ? { clock: options.clock } : {}),
      ...options.server,
    });
    cleanup.push(() => server.close());

    const home = options.homeCurrency ?? "EUR";
    const walletDir = join(dir, "wallet");
    const init = await initWallet(walletDir, {
      passphrase: TEST_PASSPHRASE,
      user: TEST_USER,
      serverUrl: server.url,
      serverId: pki.server.identity,
      homeCurrency: home,
      trustRootsPem: rootsPemFile,
      rules: options.rules ?? PSD2_LOW_VALUE_RULES,
    });
    const wallet = await createWallet({
      dir: walletDir,
      passphrase: TEST_PASSPHRASE,
      prompt: options.prompt ?? new AutoYesPrompt(),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.card ? { card: options.card } : {}),
      server: { backoffMs: 10 },
    });
    cleanup.push(() => wallet.close());
    const { publicKey } = await importPublicJwk(init.publicJwk);
    await server.enrol(TEST_USER, publicKey, home, options.balance ?? 10_000);

    const endpointFile = join(dir, "run", "wallet.json");
    let service: WalletService | undefined;
    if (options.service ?? true) {
      service = await startWallet({ wallet, endpointFile });
      cleanup.push(() => service!.close());
    }
    return {
      dir,
      pki,
      trust,
      rootsPemFile,
      rootsPem,
      catalog,
      catalogFile,
      server,
      wallet,
      service,
      endpointFile,
      user: TEST_USER,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The enrolment step a payment server's operator does: the public JWK back to a key. */
export async function importPublicJwk(jwk: JsonWebKey): Promise<{ publicKey: CryptoKey }> {
  const params = jwk.kty === "OKP" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" };
  return { publicKey: await webcrypto.subtle.importKey("jwk", jwk, params, true, ["verify"]) };
}
