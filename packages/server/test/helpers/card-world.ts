/**
 * A payment server with a card desk on either engine, and cards issued by its card issuer in
 * memory (no PC/SC): what the card desk's tests (card-sync, card-admin, pcstore-sync) start from.
 */
import {
  createDemoPki,
  FixedClock,
  partyId,
  price,
  rateTable,
  signCatalog,
  type CatalogEntry,
  type DemoPki,
  type PartyId,
  type TrustStore,
} from "@peage/protocol";
import { CardClient, cardIssuerFromDemo, InProcessTransport, issueCard, MemoryMedium, type CardMode } from "@peage/card";
import { ApiScopes, buildApp, createApiKey, staticRates, type App, type Store } from "../../src/index.js";
import { createCardDesk, openCardDb, type CardDesk } from "../../src/cards/desk.js";
import { openTestStore, type Engine, type TestStore } from "./engines.js";
import { demoServerIdentity } from "./identity.js";

export const NOW = new Date("2026-06-15T09:00:00.000Z");
export const PIN = "4321";

export interface World {
  readonly pki: DemoPki;
  readonly trust: TrustStore;
  readonly clock: FixedClock;
  readonly test: TestStore;
  readonly store: Store;
  readonly desk: CardDesk;
  readonly app: App;
  readonly key: string;
  readonly entries: ReadonlyMap<number, CatalogEntry>;
  /** The folder the world's files live in. */
  readonly dir: string;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** The server's fee on payments (default 100, 1%). */
  readonly feeBasisPoints?: number;
  /** The prices, in euro cents, of the publisher's catalog (one launch offer each). */
  readonly amounts?: readonly number[];
  /** The label of the operator's API key. */
  readonly keyLabel?: string;
}

export async function makeWorld(engine: Engine, dir: string, options: WorldOptions = {}): Promise<World> {
  const clock = new FixedClock(NOW);
  const pki = await createDemoPki({ now: NOW, cardIssuer: true });
  const test = await openTestStore(engine, dir);
  const db = await openCardDb(
    engine === "sqlite"
      ? { sqlitePath: test.location }
      : { databaseUrl: process.env["PEAGE_TEST_DATABASE_URL"]!, schema: test.location },
  );
  const desk = createCardDesk({ db, issuer: cardIssuerFromDemo(pki) });
  const trust = pki.trustStore();
  const app = buildApp({
    store: test.store,
    identity: demoServerIdentity(pki),
    trust,
    rates: staticRates(rateTable("EUR", "2026-06-12", { USD: "1.0845" })),
    clock,
    cards: desk,
    feeBasisPoints: options.feeBasisPoints ?? 100,
  });
  await app.ready();
  const key = await createApiKey(test.store, ApiScopes, options.keyLabel ?? "card desk tests");
  const catalog = await signCatalog(
    pki.publisher.identity,
    (options.amounts ?? [10, 40, 50, 60, 80, 100]).map((amount) => ({
      offerId: `play-${amount}`,
      description: `Play for ${amount} cents`,
      price: price(amount, "EUR"),
      grant: { kind: "launch" as const },
    })),
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
  );
  return {
    pki,
    trust,
    clock,
    test,
    store: test.store,
    desk,
    app,
    key,
    dir,
    entries: new Map(catalog.offers.map((entry) => [entry.terms.price.amount as number, entry])),
    async close() {
      await app.close();
      await desk.close();
      await test.close();
    },
  };
}

export interface Card {
  readonly id: PartyId<"card">;
  readonly user: PartyId<"user">;
  readonly client: CardClient;
  readonly chain: readonly string[];
}

export async function makeCard(world: World, name: string, user: string, mode: CardMode, amount: number): Promise<Card> {
  const medium = new MemoryMedium();
  const id = partyId("card", name);
  const issued = await issueCard(medium, {
    issuer: cardIssuerFromDemo(world.pki),
    card: id,
    user: user as PartyId<"user">,
    pin: PIN,
    mode,
    currency: "EUR",
    ...(mode === "prepaid" ? { balance: amount } : { ceiling: amount }),
    roots: [world.pki.root.certificate],
    now: NOW,
  });
  const transport = await InProcessTransport.open(medium, { clock: world.clock });
  return { id, user: user as PartyId<"user">, client: new CardClient(transport), chain: issued.chain };
}
