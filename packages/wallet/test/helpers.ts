/** Shared helpers of the wallet tests. */
import assert from "node:assert/strict";
import { createOffer, systemClock, type Catalog, type Clock, type Offer } from "@peage/protocol";
import { WalletError } from "../src/index.js";

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
