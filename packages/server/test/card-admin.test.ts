/**
 * The operator's card routes over real HTTP, on both engines: the cards listed with their state
 * and money, page by page; a card's log as synced; a card blocked (its sync refused with the
 * reason and nothing recorded, its reload refused), blocked twice (a conflict), unblocked; a
 * postpaid card's ceiling changed and sent in its next SYNC. Wrong scopes and unknown cards are
 * refused and change nothing.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createOffer, type PartyId } from "@peage/protocol";
import { decodeToken, payWithCard, readLogForSync, type CardMode } from "@peage/card";
import { createApiKey } from "../src/index.js";
import { ENGINES } from "./helpers/engines.js";
import { makeCard, makeWorld, PIN, type Card, type World } from "./helpers/card-world.js";

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

for (const engine of ENGINES) {
  describe(`the operator's cards over HTTP (${engine})`, () => {
    let work: string;
    let world: World;
    let url: string;
    let prepaid: Card;
    let postpaid: Card;

    const call = async (method: string, path: string, body?: unknown, key = world.key): Promise<Answer> => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const pay = (card: Card, amount: number) =>
      payWithCard(card.client, { offer: createOffer(world.entries.get(amount)!, world.clock), pin: PIN, clock: world.clock });
    const upload = async (card: Card) => {
      const challenge = (await call("POST", `/v1/cards/${card.id}/challenges`)).body["challenge"] as string;
      const read = await readLogForSync(card.client, new Uint8Array(Buffer.from(challenge, "base64url")));
      return call("POST", `/v1/cards/${card.id}/sync`, { challenge, entries: [...read.entries], head: read.head });
    };
    const payments = async (card: Card) => (await world.store.listPayments({ user: card.user, limit: 1000 })).payments.length;
    const register = async (card: Card, mode: CardMode, extra: Record<string, number>) => {
      const answer = await call("POST", "/v1/cards", { chain: card.chain, user: card.user, mode, currency: "EUR", ...extra });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
    };

    before(async () => {
      work = mkdtempSync(join(tmpdir(), "peage-card-admin-"));
      world = await makeWorld(engine, work);
      await world.app.listen({ host: "127.0.0.1", port: 0 });
      url = `http://127.0.0.1:${(world.app.server.address() as { port: number }).port}`;
      prepaid = await makeCard(world, "admin-pre", "urn:peage:user:admin-pre", "prepaid", 500);
      postpaid = await makeCard(world, "admin-post", "urn:peage:user:admin-post", "postpaid", 200);
      await register(prepaid, "prepaid", { balance: 500 });
      await register(postpaid, "postpaid", { ceiling: 200, deposit: 300 });
      await pay(prepaid, 40);
      await pay(prepaid, 60);
      assert.equal((await upload(prepaid)).status, 200);
    });
    after(async () => {
      await world.close();
      rmSync(work, { recursive: true, force: true });
    });

    it("lists the cards with their state, balance or ceiling and last sync, a page at a time", async () => {
      const all = await call("GET", "/v1/cards");
      assert.equal(all.status, 200);
      const cards = all.body["cards"] as Record<string, unknown>[];
      assert.deepEqual(
        cards.map((c) => [c["card"], c["mode"], c["status"], c["balance"] ?? c["ceiling"], c["entries"]]),
        [
          [postpaid.id, "postpaid", "active", { amount: 200, currency: "EUR" }, 0],
          [prepaid.id, "prepaid", "active", { amount: 400, currency: "EUR" }, 2],
        ],
      );
      assert.equal(cards[1]!["lastSyncAt"], world.clock.now().toISOString());
      assert.equal(cards[0]!["lastSyncAt"], undefined, "never synced");
      const first = await call("GET", "/v1/cards?limit=1");
      assert.deepEqual(
        (first.body["cards"] as { card: string }[]).map((c) => c.card),
        [postpaid.id],
      );
      const next = await call("GET", `/v1/cards?limit=1&cursor=${encodeURIComponent(first.body["nextCursor"] as string)}`);
      assert.deepEqual(
        (next.body["cards"] as { card: string }[]).map((c) => c.card),
        [prepaid.id],
      );
      assert.equal(next.body["nextCursor"], undefined);
      assert.deepEqual((await call("GET", "/v1/cards?status=blocked")).body["cards"], []);
      assert.equal((await call("GET", "/v1/cards?status=lost")).status, 400);
    });

    it("shows a card's log as synced, page by page; an unknown card is a 404 naming how to register one", async () => {
      const log = await call("GET", `/v1/cards/${prepaid.id}/entries`);
      const entries = log.body["entries"] as { counter: number; price: { amount: number }; booking: string }[];
      assert.deepEqual(
        entries.map((e) => [e.counter, e.price.amount, e.booking]),
        [
          [1, 40, "recorded"],
          [2, 60, "recorded"],
        ],
      );
      const page = await call("GET", `/v1/cards/${prepaid.id}/entries?after=1&limit=1`);
      assert.deepEqual(
        (page.body["entries"] as { counter: number }[]).map((e) => e.counter),
        [2],
      );
      const unknown = await call("GET", "/v1/cards/urn:peage:card:nobody/entries");
      assert.equal(unknown.status, 404);
      assert.match(unknown.body["detail"] as string, /register it/);
    });

    it("blocks a card: its sync is refused with the reason and records nothing, its reload too; twice is a conflict", async () => {
      const reader = await createApiKey(world.store, ["users:read"], "reader");
      assert.equal((await call("POST", `/v1/cards/${prepaid.id}/block`, { reason: "lost" }, reader)).status, 403);
      assert.equal((await call("POST", "/v1/cards/urn:peage:card:nobody/block", { reason: "lost" })).status, 404);
      assert.equal((await call("POST", `/v1/cards/${prepaid.id}/block`, {})).status, 400);
      assert.equal((await call("POST", `/v1/cards/${prepaid.id}/unblock`, { reason: "not blocked" })).status, 409);
      const blocked = await call("POST", `/v1/cards/${prepaid.id}/block`, { reason: "reported stolen by its user" });
      assert.equal(blocked.status, 200);
      assert.equal(blocked.body["status"], "blocked");
      const twice = await call("POST", `/v1/cards/${prepaid.id}/block`, { reason: "again" });
      assert.equal(twice.status, 409);
      assert.match(twice.body["detail"] as string, /already blocked .*reported stolen.*peage admin card-unblock/);

      // The thief pays offline (the card cannot know); the sync is refused and nothing is recorded.
      const before = await payments(prepaid);
      await pay(prepaid, 50);
      const refused = await upload(prepaid);
      assert.equal(refused.status, 403);
      assert.equal(refused.body["code"], "ERR_ACCOUNT_SUSPENDED");
      assert.match(refused.body["detail"] as string, /reported stolen by its user.*nothing was recorded/);
      assert.equal(await payments(prepaid), before);
      assert.equal(((await call("GET", `/v1/cards/${prepaid.id}/entries`)).body["entries"] as unknown[]).length, 2);
      const reload = await call("POST", `/v1/cards/${prepaid.id}/reloads`, { amount: 100, idempotencyKey: "blocked-reload" });
      assert.equal(reload.status, 403);
      assert.deepEqual(
        ((await call("GET", "/v1/cards?status=blocked")).body["cards"] as { card: string }[]).map((c) => c.card),
        [prepaid.id],
      );

      const cleared = await call("POST", `/v1/cards/${prepaid.id}/unblock`, { reason: "found by its user" });
      assert.equal(cleared.status, 200);
      assert.deepEqual(
        (cleared.body["incidents"] as { kind: string }[]).map((i) => i.kind),
        ["blocked", "unblocked"],
      );
      assert.equal((await upload(prepaid)).status, 200);
      assert.equal(await payments(prepaid), before + 1);
    });

    it("sets a postpaid card's ceiling, sent in its next SYNC; a prepaid card has none; funds:write is needed", async () => {
      const users = await createApiKey(world.store, ["users:write", "users:read"], "users");
      assert.equal((await call("PUT", `/v1/cards/${postpaid.id}/ceiling`, { ceiling: 350 }, users)).status, 403);
      assert.equal((await call("PUT", `/v1/cards/${postpaid.id}/ceiling`, { ceiling: -1 })).status, 400);
      const prepaidCeiling = await call("PUT", `/v1/cards/${prepaid.id}/ceiling`, { ceiling: 350 });
      assert.equal(prepaidCeiling.status, 409);
      assert.match(prepaidCeiling.body["detail"] as string, /peage admin card-reload/);
      const set = await call("PUT", `/v1/cards/${postpaid.id}/ceiling`, { ceiling: 350 });
      assert.equal(set.status, 200);
      assert.deepEqual(set.body["ceiling"], { amount: 350, currency: "EUR" });
      await pay(postpaid, 10);
      const synced = await upload(postpaid);
      assert.equal(synced.status, 200);
      const ceilings = (synced.body["commands"] as string[]).map(
        (token) => (decodeToken(token)?.body as { ceiling?: number }).ceiling,
      );
      assert.ok(ceilings.includes(350), `SYNC carries the new ceiling: ${JSON.stringify(ceilings)}`);
      const user = postpaid.user as PartyId<"user">;
      assert.equal((await world.store.listPayments({ user, limit: 10 })).payments.length, 1);
    });
  });
}
