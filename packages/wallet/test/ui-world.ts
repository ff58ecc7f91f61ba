/**
 * The setting of the wallet's browser tests and screenshots: the real payment server, a wallet
 * enrolled there with no auto-accept rule, served with its consent window. close() removes it all.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certificateToPem,
  createDemoPki,
  price,
  signCatalog,
  type Catalog,
  type DemoPki,
  type OfferDraft,
} from "@peage/protocol";
import { startRealServer, type RealServer } from "@peage/server/testing";
import {
  ConsentWindow,
  createWallet,
  initWallet,
  startWallet,
  type ConsentWindowOptions,
  type Wallet,
  type WalletService,
} from "../src/index.js";
import { TEST_RATES } from "../src/testing/index.js";

export const UI_USER = "urn:peage:user:ui-alice";
const PASSPHRASE = "a passphrase for the browser tests";
export const UI_DRAFTS: OfferDraft[] = [
  { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" } },
  { offerId: "play-time", description: "Five minutes of play", price: price(20, "EUR"), grant: { kind: "period", seconds: 300 } },
  { offerId: "level-2", description: "Unlock level 2", price: price(1000, "USD"), grant: { kind: "event", event: "level-2" } },
];

export interface UiWorld {
  readonly pki: DemoPki;
  readonly server: RealServer;
  readonly catalog: Catalog;
  readonly wallet: Wallet;
  readonly service: WalletService;
  readonly consent: ConsentWindow;
  close(): Promise<void>;
}

/** `balance` in minor units of EUR. */
export async function createUiWorld(window: ConsentWindowOptions, balance = 5000): Promise<UiWorld> {
  const pki = await createDemoPki();
  const dir = await mkdtemp(join(tmpdir(), "peage-ui-"));
  const server = await startRealServer(pki, TEST_RATES);
  const roots = join(dir, "root.pem");
  await writeFile(roots, certificateToPem(pki.root.certificate));
  const walletDir = join(dir, "wallet");
  const init = await initWallet(walletDir, {
    passphrase: PASSPHRASE,
    user: UI_USER,
    serverUrl: server.url,
    serverId: pki.server.identity,
    homeCurrency: "EUR",
    trustRootsPem: roots,
  });
  await server.enrol(UI_USER, init.publicJwk, "EUR", balance);
  const catalog = await signCatalog(
    pki.publisher.identity,
    UI_DRAFTS,
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
  );
  const consent = new ConsentWindow(window);
  const wallet = await createWallet({ dir: walletDir, passphrase: PASSPHRASE, prompt: consent, server: { backoffMs: 10 } });
  const service = await startWallet({ wallet, endpointFile: join(dir, "run", "wallet.json"), consentWindow: consent });
  return {
    pki,
    server,
    catalog,
    wallet,
    service,
    consent,
    async close() {
      await service.close();
      wallet.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
