/**
 * The PC store tests' world: a demo PKI whose payment server is a card issuer, a publisher's
 * catalog, and stores made in temporary directories, with or without a TPM (swtpm). Dated from
 * NOW on a FixedClock.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cardIssuerFromDemo, payWithCard, type CardIssuer, type CardMode } from "@peage/card";
import {
  createDemoPki,
  createOffer,
  FixedClock,
  partyId,
  price,
  signCatalog,
  verifyAcknowledgment,
  type Acknowledgment,
  type CatalogEntry,
  type DemoPki,
  type Offer,
  type PartyId,
} from "@peage/protocol";
import { createPcStore, openPcStore, type Disk, type OpenedPcStore, type OpenPcStoreOptions, type Tpm } from "../src/index.js";

export const NOW = new Date("2026-09-14T10:00:00.000Z");
export const PIN = "2468";

export interface StoreWorld {
  readonly pki: DemoPki;
  readonly issuer: CardIssuer;
  readonly clock: FixedClock;
  readonly user: PartyId<"user">;
  readonly entries: ReadonlyMap<number, CatalogEntry>;
  offer(amount?: number): Offer;
  create(
    dir: string,
    options?: {
      tpm?: Tpm;
      mode?: CardMode;
      balance?: number;
      ceiling?: number;
      card?: string;
      disk?: Disk;
      logCapacity?: number;
    },
  ): ReturnType<typeof createPcStore>;
  open(dir: string, options?: OpenPcStoreOptions): Promise<OpenedPcStore>;
  pay(store: OpenedPcStore, amount: number, offer?: Offer): Promise<Acknowledgment>;
  merchantAccepts(ack: Acknowledgment, offer: Offer): Promise<boolean>;
}

export async function makeStoreWorld(): Promise<StoreWorld> {
  const pki = await createDemoPki({ now: NOW, cardIssuer: true });
  const issuer = cardIssuerFromDemo(pki);
  const clock = new FixedClock(NOW);
  const user = partyId("user", "alice");
  const amounts = [1, 50, 199, 500, 1000, 2500];
  const catalog = await signCatalog(
    pki.publisher.identity,
    amounts.map((amount) => ({
      offerId: `play-${amount}`,
      description: `Play for ${amount} cents`,
      price: price(amount, "EUR"),
      grant: { kind: "launch" as const },
    })),
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
  );
  const entries = new Map(catalog.offers.map((entry) => [entry.terms.price.amount as number, entry]));
  const trust = pki.trustStore();
  const world: StoreWorld = {
    pki,
    issuer,
    clock,
    user,
    entries,
    offer(amount = 50) {
      const entry = entries.get(amount);
      assert.ok(entry, `no offer at ${amount}`);
      return createOffer(entry, clock);
    },
    create(dir, options = {}) {
      const mode = options.mode ?? "prepaid";
      return createPcStore({
        dir,
        issuer,
        card: partyId("card", options.card ?? "alice-pc"),
        user,
        pin: PIN,
        mode,
        currency: "EUR",
        ...(mode === "prepaid" ? { balance: options.balance ?? 1000 } : { ceiling: options.ceiling ?? 1000 }),
        roots: [pki.root.certificate],
        now: NOW,
        ...(options.tpm && { tpm: options.tpm }),
        ...(options.disk && { disk: options.disk }),
        ...(options.logCapacity !== undefined && { logCapacity: options.logCapacity }),
      });
    },
    open(dir, options = {}) {
      return openPcStore(dir, { clock, ...options });
    },
    async pay(store, amount, offer = world.offer(amount)) {
      return payWithCard(store.client, { offer, pin: PIN, clock });
    },
    async merchantAccepts(ack, offer) {
      return (await verifyAcknowledgment(ack, offer, { trust, clock, server: pki.server.identity })).ok;
    },
  };
  return world;
}

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
