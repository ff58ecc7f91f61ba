/**
 * PC stores at the card desk, on both storage engines: registered under the same card-issuer
 * CA with their assurance level bounding their load; their logs synced exactly as a card's; a
 * store copied to a second PC caught as a fork at sync, and one restored from an older copy
 * caught as a rollback — the account blocked and nothing doubtful booked. Property: whatever the
 * order of payments, syncs and repeated uploads, the purse never goes below zero and the server
 * never books an entry twice.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { createOffer, partyId, type PartyId } from "@peage/protocol";
import { cardIssuerFromDemo, decodeToken, payWithCard, readLogForSync, SW } from "@peage/card";
import { createPcStore, openPcStore, type OpenedPcStore } from "@peage/pcstore";
import { makeWorld, NOW, PIN, type World } from "./helpers/card-world.js";
import { ENGINES } from "./helpers/engines.js";

interface PcStore {
  readonly id: PartyId<"card">;
  readonly user: PartyId<"user">;
  readonly dir: string;
  readonly chain: readonly string[];
  opened: OpenedPcStore;
}

async function makeStore(world: World, name: string, balance: number): Promise<PcStore> {
  const dir = join(world.dir, name);
  const id = partyId("card", name);
  const user = partyId("user", name);
  const issued = await createPcStore({
    dir,
    issuer: cardIssuerFromDemo(world.pki),
    card: id,
    user,
    pin: PIN,
    mode: "prepaid",
    currency: "EUR",
    balance,
    roots: [world.pki.root.certificate],
    now: NOW,
  });
  return { id, user, dir, chain: issued.chain, opened: await openPcStore(dir, { clock: world.clock }) };
}

async function call(
  world: World,
  method: "GET" | "POST",
  url: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await world.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${world.key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

async function pay(world: World, store: PcStore, amount: number): Promise<boolean> {
  const offer = createOffer(world.entries.get(amount)!, world.clock);
  try {
    await payWithCard(store.opened.client, { offer, pin: PIN, clock: world.clock });
    return true;
  } catch (cause) {
    if ((cause as { sw?: number }).sw === SW.CONDITIONS_NOT_SATISFIED) return false;
    throw cause;
  }
}

/** Upload over a fresh challenge; on success apply the commands and post the receipts. */
async function sync(world: World, store: PcStore): Promise<{ status: number; body: Record<string, unknown> }> {
  const challenge = (await call(world, "POST", `/v1/cards/${store.id}/challenges`)).body["challenge"] as string;
  const read = await readLogForSync(store.opened.client, new Uint8Array(Buffer.from(challenge, "base64url")));
  const answer = await call(world, "POST", `/v1/cards/${store.id}/sync`, { challenge, entries: read.entries, head: read.head });
  if (answer.status !== 200) return answer;
  const receipts: string[] = [];
  for (const command of answer.body["commands"] as string[]) {
    const type = (decodeToken(command)?.body as { type?: string }).type;
    receipts.push(
      type === "peage.card-reload" ? await store.opened.client.reload(command) : await store.opened.client.sync(command),
    );
  }
  if (receipts.length > 0) assert.equal((await call(world, "POST", `/v1/cards/${store.id}/receipts`, { receipts })).status, 200);
  return answer;
}

async function register(
  world: World,
  store: PcStore,
  balance: number,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return call(world, "POST", "/v1/cards", { chain: store.chain, user: store.user, mode: "prepaid", currency: "EUR", balance });
}

async function paymentsOf(world: World, user: string): Promise<number> {
  return (await world.store.listPayments({ user: user as PartyId<"user">, limit: 1000 })).payments.length;
}

for (const engine of ENGINES) {
  describe(`PC stores at the card desk (${engine})`, () => {
    let world: World;
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "peage-pcstore-desk-"));
      world = await makeWorld(engine, dir, { feeBasisPoints: 0, amounts: [10, 50, 100, 300], keyLabel: "pc store tests" });
    });
    after(async () => {
      await world?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("registers a software store within its assurance level's limit, syncs its log once and credits the publisher", async () => {
      const store = await makeStore(world, "pc-a", 1000);
      const over = await register(world, store, 5000);
      assert.equal(over.status, 422);
      assert.equal(over.body["code"], "ERR_LIMIT_EXCEEDED");
      assert.match(String(over.body["detail"]), /pc-software store holds at most 2000/);
      assert.equal((await register(world, store, 1000)).status, 201);
      for (const amount of [100, 50, 10]) assert.equal(await pay(world, store, amount), true);
      const first = await sync(world, store);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body["recorded"], 3);
      assert.deepEqual(first.body["credited"], [
        { publisher: world.pki.publisher.identity, amount: { amount: 160, currency: "EUR" } },
      ]);
      const second = await sync(world, store);
      assert.equal(second.body["recorded"], 0);
      assert.equal(await paymentsOf(world, store.user), 3);
      await store.opened.client.select();
      assert.equal((await store.opened.client.status()).logLength, 0, "the SYNC cleared the store's log");
    });

    it("a store copied to a second PC is caught as a fork: blocked, and the copy's payment is not booked", async () => {
      const store = await makeStore(world, "pc-fork", 1000);
      assert.equal((await register(world, store, 1000)).status, 201);
      assert.equal(await pay(world, store, 50), true);
      assert.equal((await sync(world, store)).status, 200);
      // The files copied to another PC: a software store has nothing tying them to this one.
      const cloneDir = join(world.dir, "pc-fork-clone");
      cpSync(store.dir, cloneDir, { recursive: true });
      const config = JSON.parse((await import("node:fs")).readFileSync(join(cloneDir, "pcstore.json"), "utf8"));
      const moved = { ...config, places: config.places.map((place: string) => place.replace(store.dir, cloneDir)) };
      (await import("node:fs")).writeFileSync(join(cloneDir, "pcstore.json"), JSON.stringify(moved));
      const clone: PcStore = { ...store, dir: cloneDir, opened: await openPcStore(cloneDir, { clock: world.clock }) };
      assert.equal(await pay(world, store, 100), true);
      assert.equal(await pay(world, clone, 300), true, "offline, the copy pays from the same purse");
      assert.equal((await sync(world, store)).status, 200);
      const before = await paymentsOf(world, store.user);
      const caught = await sync(world, clone);
      assert.equal(caught.status, 422, JSON.stringify(caught.body));
      assert.ok((caught.body["problems"] as { kind: string }[]).some((problem) => problem.kind === "fork"));
      assert.equal(await paymentsOf(world, store.user), before, "nothing of the fork is booked");
      const account = await call(world, "GET", `/v1/cards/${store.id}`);
      assert.equal(account.body["status"], "blocked");
      const blocked = await sync(world, store);
      assert.equal(blocked.status, 403, "the original is blocked too until the operator decides");
    });

    it("a software store restored from an older copy is caught as a rollback at sync", async () => {
      const store = await makeStore(world, "pc-rollback", 1000);
      assert.equal((await register(world, store, 1000)).status, 201);
      const copy = join(world.dir, "pc-rollback-copy");
      cpSync(join(store.dir, "fragments"), copy, { recursive: true });
      for (const amount of [300, 300]) assert.equal(await pay(world, store, amount), true);
      assert.equal((await sync(world, store)).status, 200);
      rmSync(join(store.dir, "fragments"), { recursive: true });
      cpSync(copy, join(store.dir, "fragments"), { recursive: true });
      store.opened = await openPcStore(store.dir, { clock: world.clock });
      const caught = await sync(world, store);
      assert.equal(caught.status, 422, JSON.stringify(caught.body));
      assert.ok((caught.body["problems"] as { kind: string }[]).some((problem) => problem.kind === "rollback"));
      assert.equal(await paymentsOf(world, store.user), 2);
    });

    it("property: any order of payments, syncs and repeated uploads: the purse never below zero, no entry booked twice", async () => {
      let run = 0;
      const step = fc.oneof(
        fc.constantFrom(10, 50, 100, 300).map((amount) => ({ kind: "pay" as const, amount })),
        fc.constant({ kind: "sync" as const }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
          const store = await makeStore(world, `pc-prop-${run++}`, 500);
          assert.equal((await register(world, store, 500)).status, 201);
          let spent = 0;
          let paid = 0;
          for (const s of steps) {
            if (s.kind === "pay") {
              const ok = await pay(world, store, s.amount);
              assert.equal(ok, spent + s.amount <= 500, `pay ${s.amount} after ${spent}`);
              if (ok) {
                spent += s.amount;
                paid++;
              }
            } else {
              assert.equal((await sync(world, store)).status, 200);
            }
            await store.opened.client.select();
            const status = await store.opened.client.status();
            assert.equal(status.balance, 500 - spent);
            assert.ok((status.balance ?? -1) >= 0);
          }
          await sync(world, store);
          await sync(world, store);
          assert.equal(await paymentsOf(world, store.user), paid, "every payment booked exactly once");
        }),
        { numRuns: 8 },
      );
    });
  });
}
