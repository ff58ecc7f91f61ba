/**
 * What the paid-route tests share: the reference payment server, a user enrolled with a prepaid
 * balance, the user's real wallet service (it verifies each offer and pays with the user's key),
 * and the publisher's signed catalog with a gate that accepts the server's acknowledgments.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certificateToPem, createDemoPki, price, signCatalog, type DemoPki, type Grant, type Price } from "@peage/protocol";
import { startRealServer, type RealServer } from "@peage/server/testing";
import { AutoYesPrompt, createWallet, initWallet, startWallet, type Wallet } from "@peage/wallet";
import { TEST_RATES } from "@peage/wallet/testing";
import { PaymentGate } from "../src/index.js";

export const USER = "urn:peage:user:api-client";
const PASSPHRASE = "the api client's passphrase";

export interface PaidWorld {
  readonly pki: DemoPki;
  readonly server: RealServer;
  readonly endpointFile: string;
  readonly gate: PaymentGate;
  readonly catalog: unknown;
  /** The wallet's prompt: it says yes to every offer and keeps what it was shown. */
  readonly prompt: AutoYesPrompt;
  /** The user's wallet itself, for what its pages show. */
  readonly wallet: Wallet;
  close(): Promise<void>;
}

export interface ExtraOffer {
  readonly offerId: string;
  readonly description: string;
  readonly price: Price;
  readonly upto?: true;
  readonly tick?: Price;
  readonly grant?: Grant;
}

/** Starts the world; `balance` in EUR minor units. */
export async function startPaidWorld(balance = 1000, extra: readonly ExtraOffer[] = []): Promise<PaidWorld> {
  const cleanup: Array<() => unknown> = [];
  const close = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  try {
    const pki = await createDemoPki();
    const dir = await mkdtemp(join(tmpdir(), "peage-http-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const server = await startRealServer(pki, TEST_RATES);
    cleanup.push(() => server.close());
    const roots = join(dir, "root.pem");
    await writeFile(roots, certificateToPem(pki.root.certificate));
    const init = await initWallet(join(dir, "wallet"), {
      passphrase: PASSPHRASE,
      user: USER,
      serverUrl: server.url,
      serverId: pki.server.identity,
      homeCurrency: "EUR",
      trustRootsPem: roots,
    });
    await server.enrol(USER, init.publicJwk, "EUR", balance);
    const prompt = new AutoYesPrompt();
    const wallet = await createWallet({ dir: join(dir, "wallet"), passphrase: PASSPHRASE, prompt });
    cleanup.push(() => wallet.close());
    const service = await startWallet({ wallet, endpointFile: join(dir, "run", "wallet.json") });
    cleanup.push(() => service.close());
    const offers = [
      { offerId: "forecast", description: "One weather forecast", price: price(2, "EUR") },
      { offerId: "translate", description: "One translation", price: price(5, "EUR") },
      ...extra,
    ].map((offer) => ({ grant: { kind: "event" as const, event: offer.offerId } as Grant, ...offer }));
    const catalog = await signCatalog(pki.publisher.identity, offers, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
    const gate = await PaymentGate.create({
      catalog,
      trustRoots: certificateToPem(pki.root.certificate),
      servers: [pki.server.identity],
      settleAt: server.url,
    });
    return { pki, server, endpointFile: service.endpointFile, gate, catalog, prompt, wallet, close };
  } catch (error) {
    await close();
    throw error;
  }
}
