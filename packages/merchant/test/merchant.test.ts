import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  canonicalBytes,
  certificateToPem,
  createDemoPki,
  partyId,
  price,
  signCatalog,
  signAcknowledgment,
  systemClock,
  type Acknowledgment,
  type ConsentClaims,
  type DemoPki,
  type Offer,
} from "@peage/protocol";
import { NobodyPrompt, ScriptedPrompt, type ConsentPrompt } from "@peage/wallet";
import { createTestWorld, type TestWorld } from "@peage/wallet/testing";
import { HttpWalletTransport, Merchant, MerchantError, type WalletTransport } from "../src/index.js";
import { Inbox, ManualTime, merchantCode } from "./helpers.js";

let pki: DemoPki;
let world: TestWorld;

before(async () => {
  pki = await createDemoPki();
  world = await createTestWorld({ pki, balance: 100_000 });
});
after(async () => {
  await world.close();
});

function merchant(extra: Partial<Parameters<typeof Merchant.create>[0]> = {}): Promise<Merchant> {
  return Merchant.create({
    catalog: world.catalogFile,
    trustRoots: world.rootsPemFile,
    wallet: { endpointFile: world.endpointFile },
    ...extra,
  });
}

/** A wallet transport that lets the real wallet pay, then hands the merchant something else. */
function dishonest(replace: (real: unknown, offer: Offer) => unknown | Promise<unknown>): WalletTransport {
  const real = new HttpWalletTransport({ endpointFile: world.endpointFile });
  return {
    async submit(offer, options) {
      return replace(await real.submit(offer, options), offer);
    },
  };
}

function consentFor(offer: Offer): ConsentClaims {
  const now = new Date().toISOString() as ConsentClaims["consentedAt"];
  return {
    v: 1,
    offerHash: offer.offerHash,
    price: offer.terms.price,
    date: offer.date,
    nonce: offer.nonce,
    publisher: offer.terms.publisher,
    user: world.user as ConsentClaims["user"],
    server: pki.server.identity,
    consentedAt: now,
    expiresAt: now,
  };
}

test("pay: the wallet pays and the verified acknowledgment becomes an authorization", async () => {
  const m = await merchant();
  const launch = await m.pay("launch");
  assert.equal(launch.offerId, "launch");
  assert.deepEqual(launch.grant, { kind: "launch" });
  assert.match(launch.paymentId, /^pay_/);
  assert.deepEqual(launch.price, { amount: 50, currency: "EUR" });
  assert.deepEqual(launch.charged, { amount: 50, currency: "EUR" });
  assert.equal(launch.validUntil, undefined);
  assert.equal(launch.acknowledgment.type, "peage.acknowledgment");

  const period = await m.pay("play-time");
  assert.equal(period.validUntil?.getTime(), period.serverTime.getTime() + 300_000, "a period runs from the server's time");
  assert.equal(m.openOfferCount, 0);
});

test("create verifies the catalog once: a tampered catalog or foreign roots are ERR_INVALID_CATALOG", async () => {
  const tampered = structuredClone(world.catalog) as { offers: Array<{ terms: { price: { amount: number } } }> };
  tampered.offers[0]!.terms.price.amount = 1;
  await assert.rejects(merchant({ catalog: tampered }), merchantCode("ERR_INVALID_CATALOG", "ERR_HASH_MISMATCH"));
  const other = await createDemoPki();
  await assert.rejects(
    merchant({ trustRoots: certificateToPem(other.root.certificate) }),
    merchantCode("ERR_INVALID_CATALOG", "ERR_UNKNOWN_ISSUER"),
  );
  await assert.rejects(merchant({ catalog: join(world.dir, "missing.json") }), merchantCode("ERR_INVALID_CATALOG"));
  await assert.rejects(merchant({ server: "not-a-server" }), merchantCode("ERR_INVALID_CATALOG"));
  // The catalog as an object and the roots as PEM text work as well as paths.
  const m = await Merchant.create({
    catalog: world.catalog,
    trustRoots: world.rootsPem,
    wallet: { endpointFile: world.endpointFile },
  });
  assert.deepEqual(
    m.offers().map((o) => o.offerId),
    ["launch", "play-time", "level-2"],
  );
});

test("an offer the catalog does not have is ERR_UNKNOWN_OFFER; triggers check the grant", async () => {
  const m = await merchant();
  await assert.rejects(m.pay("nope"), merchantCode("ERR_UNKNOWN_OFFER"));
  await assert.rejects(async () => m.onEvent("level-9"), merchantCode("ERR_UNKNOWN_OFFER"));
  await assert.rejects(async () => m.atLaunch("play-time"), merchantCode("ERR_UNKNOWN_OFFER"));
  assert.throws(() => m.periodic("launch", { onPause: () => undefined }), merchantCode("ERR_UNKNOWN_OFFER"));
  const launch = await m.atLaunch();
  assert.equal(launch.offerId, "launch");
  const level = await m.onEvent("level-2");
  assert.deepEqual(level.grant, { kind: "event", event: "level-2" });
});

test("no wallet running: ERR_WALLET_UNAVAILABLE, retryable", async () => {
  const missing = await merchant({ wallet: { endpointFile: join(world.dir, "nowhere", "wallet.json") } });
  await assert.rejects(missing.pay("launch"), (error: unknown) => {
    merchantCode("ERR_WALLET_UNAVAILABLE")(error);
    assert.equal((error as MerchantError).retryable, true);
    assert.match((error as Error).message, /start their Péage wallet/);
    return true;
  });
  // An endpoint file left behind by a wallet that is gone: connection refused.
  const stale = join(world.dir, "stale.json");
  await writeFile(stale, JSON.stringify({ url: "http://127.0.0.1:9", token: "x".repeat(43), pid: 1 }), { mode: 0o600 });
  await assert.rejects(
    (await merchant({ wallet: { endpointFile: stale } })).pay("launch"),
    merchantCode("ERR_WALLET_UNAVAILABLE"),
  );
  // An endpoint file pointing off the machine is not followed (the token would leak).
  const remote = join(world.dir, "remote.json");
  await writeFile(remote, JSON.stringify({ url: "http://192.0.2.1:80", token: "x".repeat(43), pid: 1 }), { mode: 0o600 });
  await assert.rejects(
    (await merchant({ wallet: { endpointFile: remote } })).pay("launch"),
    merchantCode("ERR_WALLET_UNAVAILABLE"),
  );
  // A wallet that answers, but to another token.
  const wrongToken = join(world.dir, "wrong-token.json");
  await writeFile(wrongToken, JSON.stringify({ url: world.service!.url, token: "y".repeat(43), pid: 1 }), { mode: 0o600 });
  await assert.rejects(
    (await merchant({ wallet: { endpointFile: wrongToken } })).pay("launch"),
    merchantCode("ERR_WALLET_UNAVAILABLE"),
  );
});

test("the user says no: ERR_DECLINED, not retryable; the program is told to go on without", async () => {
  const declining = await createTestWorld({
    pki,
    prompt: new ScriptedPrompt([false]),
    drafts: [{ offerId: "dear", description: "Dear", price: price(5000, "EUR"), grant: { kind: "launch" } }],
  });
  try {
    const m = await Merchant.create({
      catalog: declining.catalog,
      trustRoots: declining.rootsPem,
      wallet: { endpointFile: declining.endpointFile },
    });
    await assert.rejects(m.pay("dear"), (error: unknown) => {
      merchantCode("ERR_DECLINED")(error);
      assert.equal((error as MerchantError).retryable, false);
      assert.equal((error as MerchantError).reason, "ERR_DECLINED");
      return true;
    });
    assert.equal(m.openOfferCount, 0);
  } finally {
    await declining.close();
  }
});

test("a wallet that could ask nobody: ERR_WALLET_UNAVAILABLE, retryable, not a decline", async () => {
  const headless = await createTestWorld({ pki, prompt: new NobodyPrompt(), rules: { autoAccept: null, refuse: {} } });
  try {
    const m = await Merchant.create({
      catalog: headless.catalog,
      trustRoots: headless.rootsPem,
      wallet: { endpointFile: headless.endpointFile },
    });
    await assert.rejects(m.pay("launch"), (error: unknown) => {
      merchantCode("ERR_WALLET_UNAVAILABLE")(error);
      assert.equal((error as MerchantError).retryable, true);
      assert.equal((error as MerchantError).reason, "ERR_CONSENT_UNAVAILABLE");
      return true;
    });
  } finally {
    await headless.close();
  }
});

test("not enough money at the payment server: ERR_INSUFFICIENT_FUNDS", async () => {
  const poor = await createTestWorld({ pki, balance: 10 });
  try {
    const m = await Merchant.create({
      catalog: poor.catalog,
      trustRoots: poor.rootsPem,
      wallet: { endpointFile: poor.endpointFile },
    });
    await assert.rejects(m.pay("launch"), merchantCode("ERR_INSUFFICIENT_FUNDS"));
  } finally {
    await poor.close();
  }
});

test("no answer in time: ERR_TIMEOUT, and the wallet drops the question so nothing is paid", async () => {
  // The merchant's timers are moved by hand: time is up exactly when the test says, however slow the machine.
  const time = new ManualTime();
  const asked = new Inbox<string>();
  const dropped = new Inbox<string>();
  const slow: ConsentPrompt = {
    ask: (view, signal) =>
      new Promise<boolean>((resolve) => {
        asked.push(view.offerId);
        signal?.addEventListener("abort", () => {
          dropped.push(view.offerId);
          resolve(true); // even a late "yes" must not pay once the program stopped waiting
        });
      }),
  };
  const waiting = await createTestWorld({
    pki,
    prompt: slow,
    drafts: [{ offerId: "dear", description: "Dear", price: price(5000, "EUR"), grant: { kind: "launch" } }],
  });
  try {
    const m = await Merchant.create({
      catalog: waiting.catalog,
      trustRoots: waiting.rootsPem,
      wallet: { endpointFile: waiting.endpointFile },
      scheduler: time,
    });
    for (let round = 1; round <= 2; round++) {
      let settled = false;
      const paying = m.pay("dear", { timeoutMs: 300 });
      void paying.catch(() => undefined).finally(() => (settled = true));
      assert.equal(await asked.next(), "dear", "the user is asked");
      time.advance(299);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled, false, "still waiting before the time allowed is up");
      time.advance(1);
      await assert.rejects(paying, merchantCode("ERR_TIMEOUT"));
      assert.equal(await dropped.next(), "dear", "the wallet withdrew the question");
      assert.equal(time.pendingTimers, 0, "no timer left behind");
    }
    // The wallet finished each turn, and nothing was charged.
    assert.equal(waiting.server.payments.length, 0);
    assert.equal(waiting.wallet.history.list().filter((e) => e.outcome === "paid").length, 0);
  } finally {
    await waiting.close();
  }
});

test("an acknowledgment for another instance of the offer (another nonce) unlocks nothing", async () => {
  const honest = await merchant();
  const earlier = await honest.pay("launch");
  const m = await merchant({ wallet: dishonest(() => earlier.acknowledgment) });
  await assert.rejects(m.pay("launch"), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_NONCE_MISMATCH"));
});

test("a replayed acknowledgment is refused: each offer is consumed by its first acknowledgment", async () => {
  let captured: unknown;
  const m = await merchant({
    wallet: dishonest((real) => {
      captured = real;
      return real;
    }),
  });
  await m.pay("launch");
  await assert.rejects(m.acceptAcknowledgment(captured), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_NONCE_MISMATCH"));
  await assert.rejects(
    m.acceptAcknowledgment({ type: "peage.acknowledgment", v: 1, acknowledgment: "a.b.c" }),
    merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_NONCE_MISMATCH"),
  );
});

test("an offer carried by the program itself is accepted once through acceptAcknowledgment", async () => {
  const m = await merchant();
  const offer = m.openOffer("level-2");
  const ack = await new HttpWalletTransport({ endpointFile: world.endpointFile }).submit(offer, {
    signal: AbortSignal.timeout(10_000),
  });
  const authorization = await m.acceptAcknowledgment(ack);
  assert.equal(authorization.nonce, offer.nonce);
  await assert.rejects(m.acceptAcknowledgment(ack), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_NONCE_MISMATCH"));
});

test("a forged acknowledgment presented first does not close the offer: the genuine, paid one is accepted after it", async () => {
  const m = await merchant();
  const offer = m.openOffer("level-2");
  const forged = await signAcknowledgment({
    consent: consentFor(offer),
    paymentId: "pay_forged",
    server: pki.server.identity,
    charged: offer.terms.price,
    key: pki.publisher.keys,
    x5c: pki.chainOf(pki.publisher.certificate),
    clock: systemClock,
  });
  await assert.rejects(m.acceptAcknowledgment(forged), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_WRONG_ROLE"));
  assert.equal(m.openOfferCount, 1);
  const genuine = await new HttpWalletTransport({ endpointFile: world.endpointFile }).submit(offer, {
    signal: AbortSignal.timeout(10_000),
  });
  const authorization = await m.acceptAcknowledgment(genuine);
  assert.equal(authorization.nonce, offer.nonce);
  assert.equal(m.openOfferCount, 0);
  await assert.rejects(m.acceptAcknowledgment(forged), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_NONCE_MISMATCH"));
});

test("an acknowledgment signed with a publisher's certificate is ERR_WRONG_ROLE", async () => {
  const m = await merchant({
    wallet: dishonest((_real, offer) =>
      signAcknowledgment({
        consent: consentFor(offer),
        paymentId: "pay_forged",
        server: pki.server.identity,
        charged: offer.terms.price,
        key: pki.publisher.keys,
        x5c: pki.chainOf(pki.publisher.certificate),
        clock: systemClock,
      }),
    ),
  });
  await assert.rejects(m.pay("launch"), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_WRONG_ROLE"));
});

test("a tampered price is refused: edited in the token, or signed for another price", async () => {
  const edited = await merchant({
    wallet: dishonest((real) => {
      const ack = real as Acknowledgment;
      const [header, payload, signature] = ack.acknowledgment.split(".");
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as { price: { amount: number } };
      claims.price.amount = 1;
      return { ...ack, acknowledgment: `${header}.${canonicalBytes(claims).toString("base64url")}.${signature}` };
    }),
  });
  await assert.rejects(edited.pay("launch"), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_BAD_SIGNATURE"));

  const resigned = await merchant({
    wallet: dishonest((_real, offer) =>
      signAcknowledgment({
        consent: { ...consentFor(offer), price: price(1, "EUR") },
        paymentId: "pay_cheap",
        server: pki.server.identity,
        charged: price(1, "EUR"),
        key: pki.server.keys,
        x5c: pki.chainOf(pki.server.certificate),
        clock: systemClock,
      }),
    ),
  });
  await assert.rejects(resigned.pay("launch"), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_PRICE_MISMATCH"));
});

test("a broken payment server is caught by the wallet and reported as ERR_INVALID_ACKNOWLEDGMENT", async () => {
  const broken = await createTestWorld({
    pki,
    server: {
      tamper: (_ack, consent) =>
        signAcknowledgment({
          consent,
          paymentId: "pay_bad",
          server: pki.server.identity,
          charged: consent.price,
          key: pki.publisher.keys,
          x5c: pki.chainOf(pki.publisher.certificate),
          clock: systemClock,
        }),
    },
  });
  try {
    const m = await Merchant.create({
      catalog: broken.catalog,
      trustRoots: broken.rootsPem,
      wallet: { endpointFile: broken.endpointFile },
    });
    await assert.rejects(m.pay("launch"), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_WRONG_ROLE"));
  } finally {
    await broken.close();
  }
});

test("without the server option, the servers signed into the catalog decide: another certified server's acknowledgment is ERR_WRONG_AUDIENCE", async () => {
  const drafts = [
    { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" as const } },
  ];
  const chain = pki.chainOf(pki.publisher.certificate);
  // pki.server (pay-eu) is a certified payment server; this catalog accepts only pay-us.
  const elsewhere = await signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, chain, {
    servers: [partyId("server", "pay-us")],
  });
  const byCertifiedServer = (_real: unknown, offer: Offer) =>
    signAcknowledgment({
      consent: consentFor(offer),
      paymentId: "pay_other",
      server: pki.server.identity,
      charged: offer.terms.price,
      key: pki.server.keys,
      x5c: pki.chainOf(pki.server.certificate),
      clock: systemClock,
    });
  const refusing = await Merchant.create({
    catalog: elsewhere,
    trustRoots: world.rootsPem,
    wallet: { submit: async (offer) => byCertifiedServer(undefined, offer) },
  });
  await assert.rejects(refusing.pay("launch"), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_WRONG_AUDIENCE"));
  // The same acknowledgment unlocks when the signed catalog names pay-eu.
  const here = await signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, chain, {
    servers: [partyId("server", "pay-us"), pki.server.identity],
  });
  const accepting = await Merchant.create({
    catalog: here,
    trustRoots: world.rootsPem,
    wallet: { submit: async (offer) => byCertifiedServer(undefined, offer) },
  });
  assert.equal((await accepting.pay("launch")).paymentId, "pay_other");
});

test("a catalog that names no payment server needs the server option: otherwise any certified server's acknowledgment would do", async () => {
  const drafts = [
    { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" as const } },
  ];
  const unbound = await signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
  await assert.rejects(Merchant.create({ catalog: unbound, trustRoots: world.rootsPem }), (error: unknown) => {
    merchantCode("ERR_INVALID_CATALOG")(error);
    assert.match((error as Error).message, /name no payment server.*--server urn:peage:server:NAME/);
    return true;
  });
  const named = await Merchant.create({
    catalog: unbound,
    trustRoots: world.rootsPem,
    server: pki.server.identity,
    wallet: { endpointFile: world.endpointFile },
  });
  assert.equal((await named.pay("launch")).offerId, "launch");
  // An option naming a server the signed catalog does not accept is a mistake, said at once.
  await assert.rejects(merchant({ server: "urn:peage:server:somewhere-else" }), merchantCode("ERR_INVALID_CATALOG"));
});

test("acknowledgments from a payment server other than the expected one are ERR_WRONG_AUDIENCE", async () => {
  const drafts = [
    { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" as const } },
  ];
  const unbound = await signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
  const m = await merchant({ catalog: unbound, server: "urn:peage:server:somewhere-else" });
  await assert.rejects(m.pay("launch"), merchantCode("ERR_INVALID_ACKNOWLEDGMENT", "ERR_WRONG_AUDIENCE"));
  const right = await merchant({ server: pki.server.identity });
  assert.equal((await right.pay("launch")).offerId, "launch");
});

test("the program stops waiting while the wallet is paying: the next pay() presents the same offer and gets the payment, charged once", async () => {
  let slow = true;
  const late = await createTestWorld({
    pki,
    server: {
      // The first answer takes longer than the program waits; the payment is recorded all the same.
      tamper: async (ack) => {
        if (slow) await new Promise((resolve) => setTimeout(resolve, 1500));
        return ack;
      },
    },
  });
  try {
    const m = await Merchant.create({
      catalog: late.catalog,
      trustRoots: late.rootsPem,
      wallet: { endpointFile: late.endpointFile },
    });
    await assert.rejects(m.pay("launch", { timeoutMs: 300 }), merchantCode("ERR_TIMEOUT"));
    assert.equal(m.openOfferCount, 1, "the unanswered offer stays open");
    while (late.server.payments.length === 0 || late.wallet.history.list()[0]?.outcome !== "paid")
      await new Promise((resolve) => setTimeout(resolve, 50));
    slow = false;
    const authorization = await m.pay("launch");
    assert.equal(late.server.payments.length, 1, "charged once");
    assert.equal(authorization.paymentId, late.server.payments[0]!.paymentId);
    assert.equal(m.openOfferCount, 0);
    // The offer is consumed: the next payment is a new one.
    const next = await m.pay("launch");
    assert.notEqual(next.nonce, authorization.nonce);
    assert.equal(late.server.payments.length, 2);
  } finally {
    await late.close();
  }
});

test("concurrent payments each get their own offer and acknowledgment", async () => {
  const m = await merchant();
  const results = await Promise.all([m.pay("launch"), m.pay("level-2"), m.pay("launch")]);
  assert.equal(new Set(results.map((r) => r.nonce)).size, 3);
  assert.equal(new Set(results.map((r) => r.paymentId)).size, 3);
  assert.equal(m.openOfferCount, 0);
});
