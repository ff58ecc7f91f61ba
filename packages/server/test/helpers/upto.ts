/**
 * Offers charged by use for the server's tests: a catalog of upto offers the fixture's publisher
 * signs, and an offer of it whose nonce commits to a settlement key, with what settles it.
 */
import { randomBytes } from "node:crypto";
import {
  createOffer,
  newSettlementKey,
  settlementCommitment,
  signCatalog,
  uptoNonce,
  type Catalog,
  type CatalogEntry,
  type Offer,
  type Price,
} from "@peage/protocol";
import type { Fixture } from "./fixture.js";

/** Upto offers (offerId, description, maximum), signed by the fixture's publisher. */
export function signUptoCatalog(fx: Fixture, offers: readonly [string, string, Price][]): Promise<Catalog> {
  const { pki } = fx;
  const drafts = offers.map(([offerId, description, price]) => ({
    offerId,
    description,
    price,
    upto: true as const,
    grant: { kind: "launch" as const },
  }));
  return signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
}

/** A fresh offer of `entry` whose nonce commits to a new settlement key; the key and the nonce's inner part settle it. */
export function uptoOffer(fx: Fixture, entry: CatalogEntry): { offer: Offer; key: string; inner: string } {
  const key = newSettlementKey();
  const inner = randomBytes(16).toString("base64url");
  return { offer: { ...createOffer(entry, fx.clock), nonce: uptoNonce(settlementCommitment(key), inner) }, key, inner };
}
