/**
 * A metered session outlives the wallet that opened it: the chain is kept in the history's
 * database before the consent is signed, and the highest word released is committed before the
 * word leaves. A wallet stopped without closing (as a crash leaves it) and opened again continues
 * the session through its local service with the next word of the same chain, still bounded by the
 * cap the user consented to; a session whose payment failed is not kept.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createDemoPki,
  createOffer,
  isChainWord,
  price,
  signCatalog,
  systemClock,
  type Catalog,
  type DemoPki,
} from "@peage/protocol";
import { startRealServer, type RealServer } from "@peage/server/testing";
import { AutoYesPrompt, createWallet, History, startWallet, walletPaths, type Wallet } from "../src/index.js";
import { TEST_RATES } from "../src/testing/index.js";
import { initServedWallet, walletCode } from "./helpers.js";

const USER = "urn:peage:user:metered-alice";
const PASSPHRASE = "a passphrase for the session tests";
let pki: DemoPki;
let server: RealServer;
let catalog: Catalog;
let dir: string;
let walletDir: string;

before(async () => {
  pki = await createDemoPki();
  server = await startRealServer(pki, TEST_RATES);
  dir = await mkdtemp(join(tmpdir(), "peage-sessions-"));
  walletDir = (await initServedWallet(server, pki, dir, { user: USER, passphrase: PASSPHRASE, balance: 100 })).dir;
  catalog = await signCatalog(
    pki.publisher.identity,
    [
      {
        offerId: "stream",
        description: "Readings, 2 cents each, at most 5",
        price: price(10, "EUR"),
        upto: true,
        tick: price(2, "EUR"),
        grant: { kind: "event", event: "reading" },
      },
      {
        offerId: "big",
        description: "Readings beyond the balance",
        price: price(500, "EUR"),
        upto: true,
        tick: price(5, "EUR"),
        grant: { kind: "event", event: "reading" },
      },
    ],
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
    { servers: [pki.server.identity] },
  );
});

after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

function open(): Promise<Wallet> {
  return createWallet({ dir: walletDir, passphrase: PASSPHRASE, prompt: new AutoYesPrompt(), server: { backoffMs: 10 } });
}

function offer(offerId: string) {
  return createOffer(
    catalog.offers.find((entry) => entry.terms.offerId === offerId)!,
    systemClock,
  );
}

async function tickAt(url: string, token: string, session: string, ticks: unknown, extra: Record<string, unknown> = {}) {
  const response = await fetch(`${url}/v1/ticks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ session, ticks, ...extra }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test("a session continues after the wallet stops without closing: the next word of the same chain, within the cap", async () => {
  const first = await open();
  const paid = await first.pay(offer("stream"));
  const session = paid.session!;
  assert.equal(session.length, 5);
  assert.equal(paid.verified.claims.nonce, session.id, "the consent committed to this chain");
  const one = first.tick(session.id, 1);
  const two = first.tick(session.id, 2);
  assert.ok(isChainWord(one.word, session.root, 1));
  assert.ok(isChainWord(two.word, one.word, 1));
  // What a crash leaves: the database as committed, read by another connection while the first is still open.
  const kept = History.open(walletPaths(walletDir).history);
  assert.deepEqual(
    kept.chains().map((c) => [c.id, c.length, c.given]),
    [[session.id, 5, 2]],
    "the released index was on disk before the word was handed out",
  );
  kept.close();

  // The first wallet is never closed; a new one opens the same data directory.
  const second = await open();
  const service = await startWallet({ wallet: second, endpointFile: join(dir, "run", "wallet.json") });
  try {
    assert.equal(second.sessions.given(session.id), 2);
    const again = await tickAt(service.url, service.token, session.id, 2);
    assert.equal(again.status, 200);
    assert.equal(again.body["word"], two.word, "a tick asked again gets its own word again");
    for (const [ticks, extra] of [
      [3.5, {}],
      ["3", {}],
      [3, { cap: 9 }],
      [0, {}],
    ] as const) {
      const refused = await tickAt(service.url, service.token, session.id, ticks, extra);
      assert.equal(
        refused.status,
        400,
        `ticks ${JSON.stringify(ticks)} ${JSON.stringify(extra)}: ${JSON.stringify(refused.body)}`,
      );
      assert.equal(refused.body["code"], "ERR_BAD_REQUEST");
      assert.equal(second.sessions.given(session.id), 2, "a refused tick releases no word");
    }
    const three = await tickAt(service.url, service.token, session.id, 3);
    assert.equal(three.status, 200, JSON.stringify(three.body));
    assert.ok(isChainWord(String(three.body["word"]), two.word, 1), "the next word of the same chain");
    assert.ok(isChainWord(String(three.body["word"]), session.root, 3));
    const five = await tickAt(service.url, service.token, session.id, 5);
    assert.equal(five.status, 200);
    const beyond = await tickAt(service.url, service.token, session.id, 6);
    assert.equal(beyond.status, 402, "the cap consented to still bounds the session");
    assert.equal(beyond.body["code"], "ERR_LIMIT_EXCEEDED");
    const unknown = await tickAt(service.url, service.token, `${session.id.slice(0, -2)}AA`, 1);
    assert.equal(unknown.status, 404);
    assert.equal(second.sessions.given(session.id), 5);
  } finally {
    await service.close();
    second.close();
    first.close();
  }
});

test("a session whose payment failed is not kept: after a restart it pays nothing", async () => {
  const wallet = await open();
  const kept = wallet.history.chains().map((c) => c.id);
  try {
    await assert.rejects(wallet.pay(offer("big")), walletCode("ERR_INSUFFICIENT_FUNDS"));
    assert.deepEqual(
      wallet.history.chains().map((c) => c.id),
      kept,
      "the failed session's chain was removed",
    );
  } finally {
    wallet.close();
  }
  const reopened = await open();
  try {
    assert.deepEqual(
      reopened.history.chains().map((c) => c.id),
      kept,
      "only the sessions that were paid are continued",
    );
  } finally {
    reopened.close();
  }
});
