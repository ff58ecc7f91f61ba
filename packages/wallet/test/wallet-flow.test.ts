import { before, test } from "node:test";
import assert from "node:assert/strict";
import { createDemoPki, partyId, price, signAcknowledgment, signCatalog, type DemoPki, type OfferDraft } from "@peage/protocol";
import { ScriptedPrompt, AutoYesPrompt } from "../src/index.js";
import type { CardAccess } from "../src/card/reader.js";
import { createTestWorld } from "../src/testing/index.js";
import { offerFor, walletCode } from "./helpers.js";

let pki: DemoPki;
before(async () => {
  pki = await createDemoPki();
});

test("an offer within the rules is paid without asking; the acknowledgment is verified and recorded with the description", async () => {
  const prompt = new ScriptedPrompt();
  const world = await createTestWorld({ pki, prompt, service: false });
  try {
    const offer = offerFor(world.catalog, "launch");
    const result = await world.wallet.pay(offer);
    assert.equal(result.consent, "auto");
    assert.equal(prompt.shown.length, 0);
    assert.equal(result.verified.claims.nonce, offer.nonce);
    assert.deepEqual(result.verified.claims.charged, { amount: 50, currency: "EUR" });
    assert.equal(world.server.balanceOf(world.user), 10_000 - 50);
    const [entry] = world.wallet.history.list();
    assert.equal(entry?.outcome, "paid");
    assert.equal(entry?.description, "Start the game");
    assert.equal(entry?.paymentId, result.verified.claims.paymentId);
    assert.equal(entry?.serverTime, result.verified.claims.serverTime);
    assert.deepEqual(entry?.charged, { amount: 50, currency: "EUR" });
  } finally {
    await world.close();
  }
});

test("a forged offer never reaches the prompt: the verification code is returned and nothing is paid", async () => {
  const prompt = new ScriptedPrompt([true, true, true, true, true]);
  const drafts: OfferDraft[] = [
    { offerId: "big", description: "A big purchase", price: price(5000, "EUR"), grant: { kind: "launch" } },
  ];
  const world = await createTestWorld({ pki, prompt, drafts, service: false });
  try {
    const offer = offerFor(world.catalog, "big");
    // A lower price shown to the user than the one signed.
    const cheaper = { ...offer, terms: { ...offer.terms, price: price(1, "EUR") } };
    await assert.rejects(world.wallet.pay(cheaper), walletCode("ERR_HASH_MISMATCH"));
    // Another description, hash recomputed: the publisher's signature no longer covers it.
    const { offerHash } = await import("@peage/protocol");
    const terms = { ...offer.terms, description: "A tiny purchase" };
    await assert.rejects(world.wallet.pay({ ...offer, terms, offerHash: offerHash(terms) }), walletCode("ERR_HASH_MISMATCH"));
    // Signed by a publisher of another hierarchy.
    const other = await createDemoPki();
    const forged = await signCatalog(
      other.publisher.identity,
      drafts,
      other.publisher.keys,
      other.chainOf(other.publisher.certificate),
    );
    await assert.rejects(world.wallet.pay(offerFor(forged, "big")), walletCode("ERR_UNKNOWN_ISSUER"));
    // Not an offer at all.
    await assert.rejects(world.wallet.pay({ type: "peage.offer" }), walletCode("ERR_MALFORMED"));
    // An expired offer.
    await assert.rejects(
      world.wallet.pay({ ...offer, date: "2020-01-01T00:00:00.000Z", expiresAt: "2020-01-01T00:10:00.000Z" }),
      walletCode("ERR_MESSAGE_EXPIRED"),
    );
    assert.equal(prompt.shown.length, 0, "no forged offer was shown");
    assert.equal(world.server.requestCount, 0);
    assert.equal(world.wallet.history.list().length, 0);
  } finally {
    await world.close();
  }
});

test("above the auto-accept cap the user is asked with exactly the signed terms; no is ERR_DECLINED", async () => {
  const prompt = new ScriptedPrompt([false, true]);
  const drafts: OfferDraft[] = [
    {
      offerId: "season-pass",
      description: "Season pass — all levels (« VIP »)",
      price: price(3001, "EUR"),
      grant: { kind: "period", seconds: 86400 },
    },
  ];
  const world = await createTestWorld({ pki, prompt, drafts, service: false });
  try {
    const offer = offerFor(world.catalog, "season-pass");
    await assert.rejects(world.wallet.pay(offer), walletCode("ERR_DECLINED"));
    const [view] = prompt.shown;
    assert.equal(view?.description, "Season pass — all levels (« VIP »)");
    assert.equal(view?.price, "30.01 EUR");
    assert.equal(view?.date, offer.date);
    assert.equal(view?.publisher, "urn:peage:publisher:acme-games");
    assert.equal(view?.converted, undefined);
    assert.match(view?.reason ?? "", /30\.00 EUR per payment/);
    assert.equal(world.server.requestCount, 0);
    assert.equal(world.wallet.history.list()[0]?.outcome, "declined");

    const second = offerFor(world.catalog, "season-pass");
    const result = await world.wallet.pay(second);
    assert.equal(result.consent, "explicit");
    assert.equal(world.wallet.history.list()[0]?.consent, "explicit");
  } finally {
    await world.close();
  }
});

test("PSD2: five payments pass, the sixth is asked, and a confirmation starts the count again", async () => {
  const prompt = new ScriptedPrompt([true]);
  const world = await createTestWorld({ pki, prompt, service: false });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await world.wallet.pay(offerFor(world.catalog, "play-time"))).consent, "auto");
    assert.equal(prompt.shown.length, 0);
    assert.equal((await world.wallet.pay(offerFor(world.catalog, "play-time"))).consent, "explicit");
    assert.equal(prompt.shown.length, 1);
    assert.match(prompt.shown[0]!.reason, /5 payments/);
    assert.equal((await world.wallet.pay(offerFor(world.catalog, "play-time"))).consent, "auto");
    assert.equal(world.server.payments.length, 7);
  } finally {
    await world.close();
  }
});

test("PSD2: the cumulative amount since the last confirmation is counted in exact minor units", async () => {
  const prompt = new ScriptedPrompt([false]);
  const drafts: OfferDraft[] = [
    { offerId: "thirty", description: "Thirty", price: price(3000, "EUR"), grant: { kind: "launch" } },
    { offerId: "ten", description: "Ten", price: price(1000, "EUR"), grant: { kind: "launch" } },
    { offerId: "cent", description: "One cent", price: price(1, "EUR"), grant: { kind: "launch" } },
  ];
  const world = await createTestWorld({ pki, prompt, drafts, service: false, balance: 20_000 });
  try {
    for (const id of ["thirty", "thirty", "thirty", "ten"])
      assert.equal((await world.wallet.pay(offerFor(world.catalog, id))).consent, "auto");
    // 100.00 EUR paid without asking: one more cent would exceed it.
    await assert.rejects(world.wallet.pay(offerFor(world.catalog, "cent")), walletCode("ERR_DECLINED"));
    assert.match(prompt.shown[0]!.reason, /100\.00 EUR/);
    assert.equal(world.server.balanceOf(world.user), 20_000 - 10_000);
  } finally {
    await world.close();
  }
});

test("a price in another currency is shown converted to the home currency with the server's rates", async () => {
  const prompt = new ScriptedPrompt([true]);
  const drafts: OfferDraft[] = [
    { offerId: "usd", description: "Priced in dollars", price: price(10845, "USD"), grant: { kind: "launch" } },
  ];
  const world = await createTestWorld({ pki, prompt, drafts, service: false });
  try {
    const result = await world.wallet.pay(offerFor(world.catalog, "usd"));
    // 108.45 USD at 1.0845 USD/EUR is 100.00 EUR: above 30 EUR, so asked, and charged in EUR.
    assert.equal(prompt.shown[0]?.price, "108.45 USD");
    assert.equal(prompt.shown[0]?.converted, "about 100.00 EUR at the reference rates of 2026-11-24");
    assert.deepEqual(result.verified.claims.charged, { amount: 10000, currency: "EUR" });
  } finally {
    await world.close();
  }
});

test("rules that refuse do so without asking: ERR_RULE_REFUSED", async () => {
  const prompt = new ScriptedPrompt([true]);
  const rules = { autoAccept: { perPayment: price(3000, "EUR") }, refuse: { perPayment: price(60, "EUR") } };
  const world = await createTestWorld({ pki, prompt, rules, service: false });
  try {
    await assert.rejects(world.wallet.pay(offerFor(world.catalog, "level-2")), walletCode("ERR_RULE_REFUSED"));
    assert.equal(prompt.shown.length, 0);
    assert.equal(world.wallet.history.list()[0]?.outcome, "refused");
    assert.equal((await world.wallet.pay(offerFor(world.catalog, "launch"))).consent, "auto");
  } finally {
    await world.close();
  }
});

test("the same offer is never paid twice: presented again, it gets the same acknowledgment back", async () => {
  const world = await createTestWorld({ pki, service: false });
  try {
    const offer = offerFor(world.catalog, "launch");
    const first = await world.wallet.pay(offer);
    const again = await world.wallet.pay(offer);
    assert.deepEqual(again.acknowledgment, first.acknowledgment);
    assert.equal(again.verified.claims.paymentId, first.verified.claims.paymentId);
    assert.equal(world.server.payments.length, 1);
    assert.equal(world.wallet.history.list().filter((entry) => entry.nonce === offer.nonce).length, 1);
  } finally {
    await world.close();
  }
});

test("an offer whose signed terms accept other payment servers only is refused before anyone is asked: the program would refuse the payment", async () => {
  const prompt = new ScriptedPrompt([true]);
  const world = await createTestWorld({ pki, service: false, prompt });
  try {
    const launch: OfferDraft[] = [
      { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" } },
    ];
    const narrowed = await signCatalog(
      pki.publisher.identity,
      launch,
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
      { servers: [partyId("server", "pay-us")] },
    );
    await assert.rejects(world.wallet.pay(offerFor(narrowed, "launch")), walletCode("ERR_WRONG_AUDIENCE"));
    assert.equal(prompt.shown.length, 0);
    assert.equal(world.server.payments.length, 0);
  } finally {
    await world.close();
  }
});

test("a card in the reader that cannot be read is its own outcome: nothing is paid online in its place", async () => {
  let reads = 0;
  const failing: CardAccess = {
    // A card is there, and every exchange with it fails, as when it is pulled out mid-read.
    find: async () => ({
      session: async () => {
        reads++;
        throw new Error("SCardTransmit: the card is not responding");
      },
    }),
    close: () => undefined,
  };
  const prompt = new ScriptedPrompt([true], { pins: ["1234"] });
  const world = await createTestWorld({ pki, service: false, card: failing, prompt });
  try {
    await assert.rejects(world.wallet.pay(offerFor(world.catalog, "launch")), (error: unknown) => {
      walletCode("ERR_CARD_UNREADABLE")(error);
      assert.match((error as Error).message, /take it out to pay online/);
      return true;
    });
    assert.equal(reads, 1);
    assert.equal(world.server.payments.length, 0, "nothing was paid online");
    assert.equal(prompt.shown.length, 0);
    const [entry] = world.wallet.history.list();
    assert.equal(entry?.outcome, "failed");
    assert.equal(entry?.errorCode, "ERR_CARD_UNREADABLE");
  } finally {
    await world.close();
  }
});

test("5xx answers are retried with the same body, and the idempotent server charges once", async () => {
  const world = await createTestWorld({ pki, service: false, server: { failFirst: 2 } });
  try {
    const result = await world.wallet.pay(offerFor(world.catalog, "launch"));
    assert.equal(world.server.requestCount, 3);
    assert.equal(world.server.payments.length, 1);
    assert.equal(result.verified.claims.price.amount, 50);
  } finally {
    await world.close();
  }
});

test("the server's refusals come back with their code: insufficient funds", async () => {
  const world = await createTestWorld({ pki, service: false, balance: 49 });
  try {
    await assert.rejects(world.wallet.pay(offerFor(world.catalog, "launch")), walletCode("ERR_INSUFFICIENT_FUNDS"));
    assert.equal(world.wallet.history.list()[0]?.outcome, "failed");
    assert.equal(world.wallet.history.list()[0]?.errorCode, "ERR_INSUFFICIENT_FUNDS");
  } finally {
    await world.close();
  }
});

test("an unreachable payment server is ERR_SERVER_UNAVAILABLE, retryable", async () => {
  const world = await createTestWorld({ pki, service: false });
  try {
    await world.server.close();
    await assert.rejects(world.wallet.pay(offerFor(world.catalog, "launch")), (error: unknown) => {
      walletCode("ERR_SERVER_UNAVAILABLE")(error);
      assert.equal((error as { retryable: boolean }).retryable, true);
      return true;
    });
  } finally {
    await world.close();
  }
});

test("a dishonest server is noticed by the wallet: acknowledgment signed by a publisher's key, or for another price", async () => {
  const byPublisher = await createTestWorld({
    pki,
    service: false,
    server: {
      tamper: (_ack, consent) =>
        signAcknowledgment({
          consent,
          paymentId: "pay_x",
          server: pki.server.identity,
          charged: consent.price,
          key: pki.publisher.keys,
          x5c: pki.chainOf(pki.publisher.certificate),
          clock: { now: () => new Date() },
        }),
    },
  });
  try {
    await assert.rejects(byPublisher.wallet.pay(offerFor(byPublisher.catalog, "launch")), walletCode("ERR_WRONG_ROLE"));
    assert.equal(byPublisher.wallet.history.list()[0]?.outcome, "failed");
  } finally {
    await byPublisher.close();
  }
  const otherPrice = await createTestWorld({
    pki,
    service: false,
    server: {
      tamper: (_ack, consent) =>
        signAcknowledgment({
          consent: { ...consent, price: price(1, "EUR") },
          paymentId: "pay_y",
          server: pki.server.identity,
          charged: price(1, "EUR"),
          key: pki.server.keys,
          x5c: pki.chainOf(pki.server.certificate),
          clock: { now: () => new Date() },
        }),
    },
  });
  try {
    await assert.rejects(otherPrice.wallet.pay(offerFor(otherPrice.catalog, "launch")), walletCode("ERR_PRICE_MISMATCH"));
  } finally {
    await otherPrice.close();
  }
});

test("offers are handled one at a time, so concurrent ones cannot both slip under the limits", async () => {
  const prompt = new AutoYesPrompt();
  const world = await createTestWorld({ pki, prompt, service: false });
  try {
    const results = await Promise.all(Array.from({ length: 7 }, () => world.wallet.pay(offerFor(world.catalog, "play-time"))));
    assert.deepEqual(
      results.map((r) => r.consent),
      ["auto", "auto", "auto", "auto", "auto", "explicit", "auto"],
    );
    assert.equal(prompt.shown.length, 1);
  } finally {
    await world.close();
  }
});
