/** Shared helpers of the wallet tests. */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { certificateToPem, createOffer, systemClock, type Catalog, type Clock, type DemoPki, type Offer } from "@peage/protocol";
import { PcscCardClient, type CardStatus } from "@peage/card";
import type { RealServer } from "@peage/server/testing";
import { initWallet, WalletError, type InitializedWallet, type Rules } from "../src/index.js";

/** A fresh offer (message 1) for a catalog entry, as the merchant SDK would make it. */
export function offerFor(catalog: Catalog, offerId: string, clock: Clock = systemClock): Offer {
  const entry = catalog.offers.find((e) => e.terms.offerId === offerId);
  assert.ok(entry, `no offer ${offerId} in the catalog`);
  return createOffer(entry, clock);
}

/** For assert.rejects: the error is a WalletError with this code. */
export function walletCode(code: string): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof WalletError, `expected a WalletError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

export interface ServedWalletOptions {
  readonly user: string;
  readonly passphrase: string;
  /** Enrol the user at the server as prepaid in euros with this balance (cents); left to the test when absent. */
  readonly balance?: number;
  readonly rules?: Rules;
}

/**
 * A euro wallet in `dir`/wallet served by the real payment server and trusting the demo PKI's
 * root (written to `dir`/root.pem): what the wallet's end-to-end tests start from.
 */
export async function initServedWallet(
  server: RealServer,
  pki: DemoPki,
  dir: string,
  options: ServedWalletOptions,
): Promise<InitializedWallet> {
  const roots = join(dir, "root.pem");
  await writeFile(roots, certificateToPem(pki.root.certificate));
  const init = await initWallet(join(dir, "wallet"), {
    passphrase: options.passphrase,
    user: options.user,
    serverUrl: server.url,
    serverId: pki.server.identity,
    homeCurrency: "EUR",
    trustRootsPem: roots,
    ...(options.rules && { rules: options.rules }),
  });
  if (options.balance !== undefined) await server.enrol(options.user, init.publicJwk, "EUR", options.balance);
  return init;
}

/** The card's status as read through pcscd on `reader`, straight from the card (not through the wallet). */
export async function readCardStatus(reader: string | RegExp): Promise<CardStatus> {
  const client = await PcscCardClient.open({ reader, timeoutMs: 15_000 });
  try {
    return await client.session(async (card) => {
      await card.select();
      return card.status();
    });
  } finally {
    client.close();
  }
}
