/**
 * The card desk (cards/desk.ts, cards/routes.ts): cards paying offline, in-process, then their
 * logs uploaded and recorded once as payments in the ledger, on both storage engines. The
 * attacker's uploads — an entry altered, the log cut short, an upload replayed — are refused,
 * flagged and block the card, and nothing is ever recorded twice. A postpaid card at its ceiling
 * pays again only after a sync; a reload reaches the card once.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  canonicalBytes,
  createCrl,
  createDemoPki,
  type DemoPki,
  createOffer,
  FixedClock,
  generateKeyPair,
  minorUnits,
  parseCurrency,
  partyId,
  price,
  rateTable,
  type Offer,
  type PartyId,
} from "@peage/protocol";
import {
  CardError,
  certificateId,
  cardIssuerFromDemo,
  decodeToken,
  issueCard,
  MemoryMedium,
  payWithCard,
  readLogForSync,
  SW,
  type CardMode,
} from "@peage/card";
import { ApiScopes, buildApp, createApiKey, staticRates, type PaymentRecord } from "../src/index.js";
import { parseUserJwk, storedJwk } from "../src/user-keys.js";
import { ENGINES, openTestStore } from "./helpers/engines.js";
import { makeCard, makeWorld, NOW, PIN, type Card, type World } from "./helpers/card-world.js";
import { demoServerIdentity } from "./helpers/identity.js";

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

function offer(world: World, amount: number): Offer {
  return createOffer(world.entries.get(amount)!, world.clock);
}

async function pay(world: World, card: Card, amount: number): Promise<void> {
  await payWithCard(card.client, { offer: offer(world, amount), pin: PIN, clock: world.clock });
}

/** What the wallet uploads: the log read over a fresh challenge of the desk. */
async function upload(world: World, card: Card): Promise<{ challenge: string; entries: string[]; head: string }> {
  const { status, body } = await call(world, "POST", `/v1/cards/${card.id}/challenges`);
  assert.equal(status, 201, JSON.stringify(body));
  const challenge = body["challenge"] as string;
  const read = await readLogForSync(card.client, new Uint8Array(Buffer.from(challenge, "base64url")));
  return { challenge, entries: [...read.entries], head: read.head };
}

/** Applies the desk's commands on the card, in order, and hands the receipts back. */
async function apply(world: World, card: Card, commands: readonly string[]): Promise<void> {
  const receipts: string[] = [];
  await card.client.select();
  for (const command of commands) {
    const type = (decodeToken(command)?.body as { type?: string }).type;
    receipts.push(type === "peage.card-reload" ? await card.client.reload(command) : await card.client.sync(command));
  }
  if (receipts.length > 0) {
    const answer = await call(world, "POST", `/v1/cards/${card.id}/receipts`, { receipts });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  }
}

async function sync(world: World, card: Card, applyCommands = true): Promise<Record<string, unknown>> {
  const { status, body } = await call(world, "POST", `/v1/cards/${card.id}/sync`, await upload(world, card));
  assert.equal(status, 200, JSON.stringify(body));
  if (applyCommands) await apply(world, card, body["commands"] as string[]);
  return body;
}

async function register(
  world: World,
  card: Card,
  mode: CardMode,
  extra: Record<string, number>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return call(world, "POST", "/v1/cards", { chain: card.chain, user: card.user, mode, currency: "EUR", ...extra });
}

async function paymentsOf(world: World, user: string): Promise<number> {
  return (await world.store.listPayments({ user: user as PartyId<"user">, limit: 1000 })).payments.length;
}

async function account(world: World, card: Card): Promise<Record<string, unknown>> {
  const { status, body } = await call(world, "GET", `/v1/cards/${card.id}`);
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

/** A payment made online (as the payment server records one after signing its acknowledgment). */
function onlinePayment(world: World, user: PartyId<"user">, nonce: string, amount: number): PaymentRecord {
  return {
    id: `pay_${nonce}`,
    user,
    publisher: world.pki.publisher.identity,
    offerHash: "A".repeat(43),
    price: price(amount, "EUR"),
    charged: price(amount, "EUR"),
    rate: "1.0000000000",
    rateDate: undefined,
    nonce: `${nonce}-${"n".repeat(20)}`,
    offerDate: NOW.toISOString(),
    serverTime: NOW.toISOString(),
    requestHash: `${nonce}-hash`,
    acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: "online" },
  } as PaymentRecord;
}

/** An entry with its price changed and its signature kept: what a forger would upload. */
function altered(token: string, amount: number): string {
  const body = decodeToken(token)!.body as { price: { amount: number } };
  const changed = { ...body, price: { ...body.price, amount } };
  return `${canonicalBytes(changed).toString("base64url")}.${token.split(".")[1]}`;
}

for (const engine of ENGINES) {
  describe(`card desk (${engine})`, () => {
    let world: World;
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "peage-card-desk-"));
      world = await makeWorld(engine, dir);
    });
    after(async () => {
      await world?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("registers a card of its own card issuer once, with the money received for it, and refuses another issuer's", async () => {
      const card = await makeCard(world, "reg-1", "urn:peage:user:reg", "prepaid", 700);
      const created = await register(world, card, "prepaid", { balance: 700 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body["loaded"], { amount: 700, currency: "EUR" });
      const again = await register(world, card, "prepaid", { balance: 700 });
      assert.equal(again.status, 200);
      const user = await world.store.getUser(card.user);
      assert.deepEqual(
        [user?.balance, await world.store.cardFloat(card.user, parseCurrency("EUR"))],
        [0, 700],
        "the load is credited once, to the card float",
      );
      assert.equal((await register(world, card, "prepaid", { balance: 900 })).status, 409);

      const other = await createDemoPki({ now: NOW, cardIssuer: true });
      const foreign = await issueCard(new MemoryMedium(), {
        issuer: cardIssuerFromDemo(other),
        card: partyId("card", "foreign-1"),
        user: partyId("user", "reg"),
        pin: PIN,
        mode: "prepaid",
        currency: "EUR",
        balance: 100,
        roots: [other.root.certificate],
        now: NOW,
      });
      const refused = await call(world, "POST", "/v1/cards", {
        chain: foreign.chain,
        user: "urn:peage:user:reg",
        mode: "prepaid",
        currency: "EUR",
      });
      assert.equal(refused.status, 422);
      assert.equal(refused.body["code"], "ERR_UNKNOWN_ISSUER");
    });

    it("records an uploaded log once, credits the publisher, and never records a replayed or repeated upload twice", async () => {
      const card = await makeCard(world, "alice-1", "urn:peage:user:alice", "prepaid", 1000);
      assert.equal((await register(world, card, "prepaid", { balance: 1000 })).status, 201);
      for (const amount of [100, 50, 10]) await pay(world, card, amount);

      const body = await upload(world, card);
      const first = await call(world, "POST", `/v1/cards/${card.id}/sync`, body);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body["recorded"], 3);
      assert.equal(first.body["lastCounter"], 3);
      // 1% fee: 100 → 99, 50 → 50 (0.5 rounded down), 10 → 10.
      assert.deepEqual(first.body["credited"], [
        { publisher: world.pki.publisher.identity, amount: { amount: 159, currency: "EUR" } },
      ]);
      assert.equal(await paymentsOf(world, card.user), 3);
      assert.equal(await world.store.cardFloat(card.user, parseCurrency("EUR")), 840);

      // The same upload again: its challenge is used up.
      const replayed = await call(world, "POST", `/v1/cards/${card.id}/sync`, body);
      assert.equal(replayed.status, 409);
      assert.deepEqual(
        (replayed.body["problems"] as { kind: string }[]).map((p) => p.kind),
        ["replayed"],
      );
      assert.equal(replayed.body["blocked"], false);
      assert.equal(await paymentsOf(world, card.user), 3);

      // The SYNC never reached the card: the next upload holds the same entries, recorded already.
      const second = await sync(world, card, false);
      assert.equal(second["recorded"], 0);
      assert.equal(second["alreadyRecorded"], 3);
      const commands = second["commands"] as string[];
      assert.deepEqual(commands, first.body["commands"], "the SYNC not applied is sent again as it was, no new one");
      await apply(world, card, commands);
      assert.equal(await paymentsOf(world, card.user), 3);
      await card.client.select();
      assert.equal((await card.client.status()).logLength, 0, "the card forgot what the server recorded");

      const view = await account(world, card);
      assert.equal(view["syncedCounter"], 3);
      assert.equal(view["status"], "active");
      assert.deepEqual(
        (view["incidents"] as { kind: string }[]).map((i) => i.kind),
        ["replayed"],
      );
      const audit = await world.store.auditLedger();
      assert.deepEqual([audit.unbalanced, audit.balanceMismatches, audit.paymentMismatches], [[], [], []]);
    });

    it("refuses an upload with an altered entry, blocks the card and records nothing until the operator unblocks it", async () => {
      const card = await makeCard(world, "bob-1", "urn:peage:user:bob", "prepaid", 1000);
      assert.equal((await register(world, card, "prepaid", { balance: 1000 })).status, 201);
      await pay(world, card, 100);
      await pay(world, card, 50);
      const body = await upload(world, card);
      const forged = { ...body, entries: [body.entries[0]!, altered(body.entries[1]!, 5)] };
      const refused = await call(world, "POST", `/v1/cards/${card.id}/sync`, forged);
      assert.equal(refused.status, 422);
      assert.equal(refused.body["code"], "ERR_BAD_SIGNATURE");
      assert.equal(refused.body["blocked"], true);
      assert.ok((refused.body["problems"] as { kind: string }[]).some((p) => p.kind === "forged"));
      assert.equal(await paymentsOf(world, card.user), 0, "nothing of a refused upload is recorded");

      // Even an honest upload is refused while the card is blocked.
      const blocked = await call(world, "POST", `/v1/cards/${card.id}/sync`, await upload(world, card));
      assert.equal(blocked.status, 403);
      assert.equal(blocked.body["code"], "ERR_ACCOUNT_SUSPENDED");
      assert.equal(await paymentsOf(world, card.user), 0);

      assert.equal(
        (await call(world, "POST", `/v1/cards/${card.id}/unblock`, { reason: "the altered upload did not come from this card" }))
          .status,
        200,
      );
      const honest = await sync(world, card);
      assert.equal(honest["recorded"], 2);
      assert.equal(await paymentsOf(world, card.user), 2);
    });

    it("refuses a log cut short (truncated) or with a gap, and a head answering another challenge", async () => {
      const card = await makeCard(world, "carol-1", "urn:peage:user:carol", "prepaid", 1000);
      assert.equal((await register(world, card, "prepaid", { balance: 1000 })).status, 201);
      for (const amount of [10, 40, 60]) await pay(world, card, amount);

      const body = await upload(world, card);
      const truncated = await call(world, "POST", `/v1/cards/${card.id}/sync`, { ...body, entries: body.entries.slice(0, 2) });
      assert.equal(truncated.status, 422);
      assert.ok(
        (truncated.body["problems"] as { kind: string; missing?: number[] }[]).some(
          (p) => p.kind === "truncated" && p.missing?.[0] === 3,
        ),
      );
      assert.equal(await paymentsOf(world, card.user), 0);
      assert.equal((await call(world, "POST", `/v1/cards/${card.id}/unblock`, { reason: "test" })).status, 200);

      const gap = await upload(world, card);
      const withGap = await call(world, "POST", `/v1/cards/${card.id}/sync`, {
        ...gap,
        entries: [gap.entries[0]!, gap.entries[2]!],
      });
      assert.equal(withGap.status, 422);
      assert.ok((withGap.body["problems"] as { kind: string }[]).some((p) => p.kind === "gap"));
      assert.equal((await call(world, "POST", `/v1/cards/${card.id}/unblock`, { reason: "test" })).status, 200);

      // A head signed over an earlier challenge, sent with a fresh one.
      const fresh = await call(world, "POST", `/v1/cards/${card.id}/challenges`);
      const stale = await call(world, "POST", `/v1/cards/${card.id}/sync`, { ...body, challenge: fresh.body["challenge"] });
      assert.equal(stale.status, 422);
      assert.equal(stale.body["code"], "ERR_NONCE_MISMATCH");
      assert.equal(await paymentsOf(world, card.user), 0);
      const incidents = (await account(world, card))["incidents"] as { kind: string }[];
      assert.deepEqual(
        incidents.map((i) => i.kind),
        ["upload-refused", "unblocked", "upload-refused", "unblocked", "upload-refused"],
      );
      assert.equal((await call(world, "POST", `/v1/cards/${card.id}/unblock`, { reason: "test" })).status, 200);
      assert.equal((await sync(world, card))["recorded"], 3);
    });

    it("loads a pending top-up onto a prepaid card once, even if the receipt is lost", async () => {
      const card = await makeCard(world, "dave-1", "urn:peage:user:dave", "prepaid", 100);
      assert.equal((await register(world, card, "prepaid", { balance: 100 })).status, 201);
      await pay(world, card, 80);
      const reload = await call(world, "POST", `/v1/cards/${card.id}/reloads`, { amount: 500, idempotencyKey: "dave-1" });
      assert.equal(reload.status, 201, JSON.stringify(reload.body));
      assert.equal(
        (await call(world, "POST", `/v1/cards/${card.id}/reloads`, { amount: 500, idempotencyKey: "dave-1" })).status,
        200,
      );
      assert.equal((await world.store.getUser(card.user))?.balance, 500, "credited once, online until it is loaded");

      const answer = await sync(world, card, false);
      const commands = answer["commands"] as string[];
      assert.deepEqual(
        commands.map((c) => (decodeToken(c)!.body as { type: string }).type),
        ["peage.card-sync", "peage.card-reload"],
      );
      // The card applies both, but the receipts never reach the server.
      await card.client.select();
      await card.client.sync(commands[0]!);
      await card.client.reload(commands[1]!);
      assert.equal((await card.client.status()).balance, 520);
      // Applying the RELOAD again is refused by the card.
      await assert.rejects(
        card.client.reload(commands[1]!),
        (error: unknown) => error instanceof CardError && error.sw === SW.CONDITIONS_NOT_SATISFIED,
      );
      // The next sync learns from the card's head that both were applied: nothing is sent again.
      const next = await sync(world, card);
      assert.deepEqual(next["commands"], []);
      assert.deepEqual((next["account"] as { pendingReloads: unknown[] }).pendingReloads, []);
      await card.client.select();
      assert.equal((await card.client.status()).balance, 520);
      assert.deepEqual(
        [(await world.store.getUser(card.user))?.balance, await world.store.cardFloat(card.user, parseCurrency("EUR"))],
        [0, 520],
        "the books and the card agree",
      );
    });

    it("claim 8: a RELOAD the card can no longer take (it paid after the SYNC before it) is replaced, not sent forever", async () => {
      const card = await makeCard(world, "dave-2", "urn:peage:user:dave2", "prepaid", 100);
      assert.equal((await register(world, card, "prepaid", { balance: 100 })).status, 201);
      await pay(world, card, 80);
      assert.equal(
        (await call(world, "POST", `/v1/cards/${card.id}/reloads`, { amount: 500, idempotencyKey: "dave-2" })).status,
        201,
      );
      const first = (await sync(world, card, false))["commands"] as string[];
      // The wallet applied the SYNC, then the session broke before the RELOAD; the user paid again.
      await card.client.select();
      await card.client.sync(first[0]!);
      await pay(world, card, 10);
      // The card refuses that RELOAD now: its log holds a payment no SYNC acknowledged.
      await card.client.select();
      await assert.rejects(
        card.client.reload(first[1]!),
        (error: unknown) => error instanceof CardError && error.sw === SW.CONDITIONS_NOT_SATISFIED,
      );
      const next = await sync(world, card);
      const kinds = (next["commands"] as string[]).map((c) => decodeToken(c)!.body as { type: string; seq: number });
      assert.deepEqual(
        kinds.map((c) => [c.type, c.seq]),
        [
          ["peage.card-sync", 1],
          ["peage.card-reload", 2],
        ],
      );
      await card.client.select();
      assert.deepEqual([(await card.client.status()).balance, (await card.client.status()).logLength], [510, 0]);
      // The voided RELOAD stays unusable: its seq was taken by the SYNC that replaced it.
      await assert.rejects(
        card.client.reload(first[1]!),
        (error: unknown) => error instanceof CardError && error.sw === SW.CONDITIONS_NOT_SATISFIED,
      );
      const view = await account(world, card);
      assert.deepEqual(view["pendingReloads"], []);
      assert.ok((view["incidents"] as { kind: string }[]).some((i) => i.kind === "commands-voided"));
      assert.deepEqual((await sync(world, card))["commands"], [], "nothing is left to send");
      await card.client.select();
      assert.equal((await card.client.status()).balance, 510, "loaded once");
    });

    it("claim 10: a postpaid card is registered only with a deposit greater than its ceiling", async () => {
      const card = await makeCard(world, "hugo-1", "urn:peage:user:hugo", "postpaid", 400);
      for (const extra of [
        { ceiling: 400 } as Record<string, number>,
        { ceiling: 400, deposit: 0 },
        { ceiling: 400, deposit: 399 },
        { ceiling: 400, deposit: 400 },
      ]) {
        const refused = await register(world, card, "postpaid", extra);
        assert.equal(refused.status, 402, JSON.stringify(refused.body));
        assert.equal(refused.body["code"], "ERR_DEPOSIT_REQUIRED");
        assert.match(refused.body["detail"] as string, /deposit greater than its ceiling.*at least 401/);
      }
      assert.equal((await call(world, "GET", `/v1/cards/${card.id}`)).status, 404, "nothing was registered");
      assert.equal(await world.store.getUser(card.user), undefined, "no account was opened");
      const created = await register(world, card, "postpaid", { ceiling: 400, deposit: 401 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((await world.store.getUser(card.user))?.deposit, 401);
    });

    it("a postpaid card at its ceiling refuses to pay until it is synced", async () => {
      const card = await makeCard(world, "erin-1", "urn:peage:user:erin", "postpaid", 100);
      const registered = await register(world, card, "postpaid", { ceiling: 100, deposit: 300 });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      assert.equal((await world.store.getUser(card.user))?.deposit, 300);
      await pay(world, card, 60);
      await assert.rejects(
        pay(world, card, 50),
        (error: unknown) => error instanceof CardError && error.sw === SW.CONDITIONS_NOT_SATISFIED,
      );
      await pay(world, card, 40);
      await assert.rejects(
        pay(world, card, 10),
        (error: unknown) => error instanceof CardError && error.sw === SW.CONDITIONS_NOT_SATISFIED,
      );
      const answer = await sync(world, card);
      assert.equal(answer["recorded"], 2);
      await card.client.select();
      assert.equal((await card.client.status()).used, 0);
      await pay(world, card, 50);
      assert.equal(await paymentsOf(world, card.user), 2);
      assert.equal(await world.store.monthlyUsage(card.user, NOW), 100);
    });

    it("blocks a postpaid card whose payments its account cannot book, and stops it with a zero ceiling", async () => {
      // An account enrolled online with a 100 limit; its card's ceiling is higher than that.
      const keys = await generateKeyPair("ES256");
      const jwk = await parseUserJwk((await import("node:crypto")).KeyObject.from(keys.publicKey).export({ format: "jwk" }));
      assert.ok(jwk.ok);
      const user = partyId("user", "frank");
      await world.store.createUser({
        id: user,
        publicKeyJwk: storedJwk(jwk.value.jwk),
        alg: jwk.value.alg,
        kid: jwk.value.kid,
        mode: "postpaid",
        homeCurrency: parseCurrency("EUR"),
        monthlyLimit: minorUnits(100),
        createdAt: NOW.toISOString(),
      });
      const card = await makeCard(world, "frank-1", user, "postpaid", 500);
      assert.equal((await register(world, card, "postpaid", { ceiling: 500, deposit: 501 })).status, 201);
      await pay(world, card, 80);
      await pay(world, card, 80);
      const answer = await sync(world, card);
      assert.equal(answer["recorded"], 1);
      assert.deepEqual(answer["unbooked"], [
        { counter: 2, paymentId: (answer["unbooked"] as { paymentId: string }[])[0]!.paymentId, reason: "limit-exceeded" },
      ]);
      const view = answer["account"] as { status: string; incidents: { kind: string }[] };
      assert.equal(view.status, "blocked");
      assert.deepEqual(
        view.incidents.map((i) => i.kind),
        ["unbooked"],
      );
      await card.client.select();
      assert.equal((await card.client.status()).ceiling, 0, "the SYNC stopped the card");
      await assert.rejects(
        pay(world, card, 10),
        (error: unknown) => error instanceof CardError && error.sw === SW.CONDITIONS_NOT_SATISFIED,
      );
      // The unbooked entry is kept as evidence, once.
      const rows = await world.test.raw.query("SELECT counter, booking FROM card_entries WHERE card = ? ORDER BY counter", [
        card.id,
      ]);
      assert.deepEqual(rows, [
        { counter: 1, booking: "recorded" },
        { counter: 2, booking: "limit-exceeded" },
      ]);
    });

    it("refuses the upload of a card registered with another mode than its own", async () => {
      const card = await makeCard(world, "gina-1", "urn:peage:user:gina", "prepaid", 300);
      assert.equal((await register(world, card, "postpaid", { ceiling: 300, deposit: 301 })).status, 201);
      await pay(world, card, 40);
      const refused = await call(world, "POST", `/v1/cards/${card.id}/sync`, await upload(world, card));
      assert.equal(refused.status, 422);
      assert.deepEqual(
        (refused.body["problems"] as { kind: string }[]).map((p) => p.kind),
        ["mode"],
      );
      assert.equal(await paymentsOf(world, card.user), 0);
    });

    it("card float: money loaded on a card leaves the online balance, so spending online and by card cannot overdraw the account", async () => {
      const card = await makeCard(world, "kim-1", "urn:peage:user:kim", "prepaid", 300);
      assert.equal((await register(world, card, "prepaid", { balance: 300 })).status, 201);
      assert.equal((await world.store.getUser(card.user))?.balance, 0, "the card's load is not online money");
      assert.equal(await world.store.cardFloat(card.user, parseCurrency("EUR")), 300);
      const topUp = await world.store.topUp({
        id: "top_kim",
        user: card.user,
        kind: "funds",
        amount: minorUnits(200),
        currency: parseCurrency("EUR"),
        idempotencyKey: "kim-online",
        createdAt: NOW.toISOString(),
      });
      assert.equal(topUp.kind, "credited");
      // Online, only the 200 are spendable: 250 is refused although the user holds 500 in all.
      assert.equal((await world.store.recordPayment(onlinePayment(world, card.user, "kim-a", 250))).kind, "insufficient-funds");
      assert.equal((await world.store.recordPayment(onlinePayment(world, card.user, "kim-b", 150))).kind, "recorded");
      // The card spends its 300 offline; every one of its payments is booked, out of the float.
      for (const amount of [100, 100, 100]) await pay(world, card, amount);
      const answer = await sync(world, card);
      assert.deepEqual([answer["recorded"], answer["unbooked"]], [3, []]);
      assert.equal((await world.store.getUser(card.user))?.balance, 50);
      assert.equal(await world.store.cardFloat(card.user, parseCurrency("EUR")), 0);
      // A reload moves money from the online balance to the float when the RELOAD is signed, never more than is there.
      assert.equal(
        (await call(world, "POST", `/v1/cards/${card.id}/reloads`, { amount: 400, idempotencyKey: "kim-r1" })).status,
        201,
      );
      assert.equal((await world.store.recordPayment(onlinePayment(world, card.user, "kim-c", 300))).kind, "recorded");
      const held = await sync(world, card);
      assert.deepEqual(held["commands"], [], "a reload the online balance no longer covers is held");
      assert.ok((held["account"] as { incidents: { kind: string }[] }).incidents.some((i) => i.kind === "reload-held"));
      // Once the online balance covers it again, the held reload is loaded.
      const more = await world.store.topUp({
        id: "top_kim_2",
        user: card.user,
        kind: "funds",
        amount: minorUnits(300),
        currency: parseCurrency("EUR"),
        idempotencyKey: "kim-online-2",
        createdAt: NOW.toISOString(),
      });
      assert.equal(more.kind, "credited");
      const loaded = await sync(world, card);
      assert.deepEqual(
        (loaded["commands"] as string[]).map((c) => (decodeToken(c)!.body as { type: string }).type),
        ["peage.card-reload"],
      );
      await card.client.select();
      assert.equal((await card.client.status()).balance, 400);
      assert.equal((await world.store.getUser(card.user))?.balance, 50);
      assert.equal(await world.store.cardFloat(card.user, parseCurrency("EUR")), 400);
      const audit = await world.store.auditLedger();
      assert.deepEqual([audit.unbalanced, audit.balanceMismatches, audit.paymentMismatches], [[], [], []]);
    });

    it("revocation: a payment made after the publisher's certificate was revoked is not booked, and the card learns of it", async () => {
      const card = await makeCard(world, "ivy-1", "urn:peage:user:ivy", "prepaid", 1000);
      assert.equal((await register(world, card, "prepaid", { balance: 1000 })).status, 201);
      await pay(world, card, 50);
      // The publisher's certificate is revoked ten minutes later; the card, not told yet, pays it again.
      const revokedAt = new Date(NOW.getTime() + 10 * 60_000);
      world.clock.set(new Date(revokedAt.getTime() + 5 * 60_000));
      try {
        await pay(world, card, 40);
        const crl = (number: number, revoked: { serialNumber: string; revocationDate: Date }[]) =>
          createCrl({
            issuer: world.pki.publishersCa,
            revoked,
            thisUpdate: revokedAt,
            nextUpdate: new Date(NOW.getTime() + 86_400_000),
            crlNumber: number,
          });
        // The desk checks a CRL's signature before using it: its issuer must be known (a trusted
        // chain through it, or its chain installed beside the CRLs).
        const issuer = await world.trust.addCrlIssuer(world.pki.chainOf(world.pki.publishersCa.certificate), world.clock.now());
        assert.ok(issuer.ok);
        world.trust.addCrl(
          await crl(1, [{ serialNumber: world.pki.publisher.certificate.serialNumber, revocationDate: revokedAt }]),
        );
        const answer = await sync(world, card);
        assert.equal(answer["recorded"], 1, "the payment made before the revocation is booked");
        const unbooked = answer["unbooked"] as { counter: number; reason: string }[];
        assert.deepEqual(
          unbooked.map((u) => [u.counter, u.reason]),
          [[2, "publisher-revoked"]],
        );
        assert.deepEqual(answer["credited"], [
          { publisher: world.pki.publisher.identity, amount: { amount: 50, currency: "EUR" } },
        ]);
        assert.equal(await paymentsOf(world, card.user), 1);
        const view = answer["account"] as {
          status: string;
          incidents: { kind: string; detail: { entries: { counter: number }[] } }[];
        };
        assert.equal(view.status, "active", "the card did nothing wrong: it is not blocked");
        assert.deepEqual(
          view.incidents.map((i) => [i.kind, i.detail.entries.map((e) => e.counter)]),
          [["publisher-revoked", [2]]],
        );
        // The SYNC carried the revocation: the card now refuses the publisher's offers itself.
        const sent = (answer["commands"] as string[]).map((c) => decodeToken(c)!.body as { type: string; revoked?: string[] });
        assert.deepEqual(
          sent.map((c) => [c.type, c.revoked]),
          [["peage.card-sync", [certificateId(world.pki.publisher.certificate)]]],
        );
        await assert.rejects(pay(world, card, 10), (error: unknown) => error instanceof CardError && error.sw === SW.WRONG_DATA);
        // Nothing changes until the CRLs do; then the next sync lifts it on the card.
        assert.deepEqual((await sync(world, card))["commands"], []);
        world.trust.addCrl(await crl(2, []));
        const lifted = (await sync(world, card))["commands"] as string[];
        assert.deepEqual(
          lifted.map((c) => (decodeToken(c)!.body as { revoked?: string[] }).revoked),
          [[]],
        );
        await pay(world, card, 10);
        const rows = await world.test.raw.query("SELECT counter, booking FROM card_entries WHERE card = ? ORDER BY counter", [
          card.id,
        ]);
        assert.deepEqual(rows, [
          { counter: 1, booking: "recorded" },
          { counter: 2, booking: "publisher-revoked" },
        ]);
      } finally {
        world.clock.set(NOW);
      }
    });

    it("a forged, stale or future CRL is refused and the CRL in force kept: it can neither revoke nor lift a revocation", async () => {
      const card = await makeCard(world, "jay-1", "urn:peage:user:jay", "prepaid", 1000);
      assert.equal((await register(world, card, "prepaid", { balance: 1000 })).status, 201);
      const start = world.clock.now();
      const revokedAt = new Date(start.getTime() + 60 * 60_000);
      world.clock.set(new Date(revokedAt.getTime() + 60_000));
      const forger = await createDemoPki({ now: NOW });
      try {
        const serial = world.pki.publisher.certificate.serialNumber;
        const crl = (
          issuer: DemoPki,
          number: number,
          revoked: boolean,
          thisUpdate = revokedAt,
          nextUpdate = start.getTime() + 86_400_000,
        ) =>
          createCrl({
            issuer: issuer.publishersCa,
            revoked: revoked ? [{ serialNumber: serial, revocationDate: revokedAt }] : [],
            thisUpdate,
            nextUpdate: new Date(nextUpdate),
            crlNumber: number,
          });
        const revokedIds = async () => {
          const answer = await sync(world, card);
          const sent = (answer["commands"] as string[]).map((c) => (decodeToken(c)!.body as { revoked?: string[] }).revoked);
          return sent.at(-1);
        };
        // A forged CRL (same issuer name, the forger's key) revoking the publisher changes nothing.
        world.trust.addCrl(await crl(forger, 10, true));
        await pay(world, card, 10);
        assert.notDeepEqual(await revokedIds(), [certificateId(world.pki.publisher.certificate)]);
        // The genuine revocation is used; then a forged CRL trying to lift it is refused, and so are a
        // genuine one already stale and one not valid yet: the revocation stays in force.
        world.trust.addCrl(await crl(world.pki, 11, true));
        assert.deepEqual(await revokedIds(), [certificateId(world.pki.publisher.certificate)]);
        for (const refused of [
          await crl(forger, 12, false),
          await crl(world.pki, 13, false, new Date(start.getTime() - 2 * 86_400_000), start.getTime() - 86_400_000),
          await crl(world.pki, 14, false, new Date(world.clock.now().getTime() + 3_600_000)),
        ]) {
          world.trust.addCrl(refused);
          await assert.rejects(
            pay(world, card, 10),
            (error: unknown) => error instanceof CardError && error.sw === SW.WRONG_DATA,
          );
          assert.deepEqual((await sync(world, card))["commands"], [], "the card is told nothing new");
        }
        // A genuine newer CRL lifts it.
        world.trust.addCrl(await crl(world.pki, 15, false));
        assert.deepEqual(await revokedIds(), []);
      } finally {
        world.clock.set(NOW);
      }
    });

    it("answers 404 for a card it does not know, and 401 without an API key", async () => {
      assert.equal((await call(world, "GET", "/v1/cards/urn:peage:card:nobody")).status, 404);
      const anonymous = await world.app.inject({ method: "POST", url: "/v1/cards/urn:peage:card:nobody/challenges" });
      assert.equal(anonymous.statusCode, 401);
    });
  });
}

describe("a server without a card desk", () => {
  it("answers the card routes 404", async () => {
    const dir = mkdtempSync(join(tmpdir(), "peage-no-desk-"));
    const test = await openTestStore("sqlite", dir);
    try {
      const pki = await createDemoPki({ now: NOW });
      const app = buildApp({
        store: test.store,
        identity: demoServerIdentity(pki),
        trust: pki.trustStore(),
        rates: staticRates(rateTable("EUR", "2026-06-12", {})),
        clock: new FixedClock(NOW),
      });
      const key = await createApiKey(test.store, ApiScopes, "t");
      const answer = await app.inject({
        method: "GET",
        url: "/v1/cards/urn:peage:card:x",
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(answer.statusCode, 404);
      assert.match(answer.json<{ detail: string }>().detail, /issues no cards/);
      await app.close();
    } finally {
      await test.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
