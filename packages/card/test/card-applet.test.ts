/**
 * The card application through its APDUs, in-process: selection, the PIN and its retry counter
 * (claims 3-4), PAY and the acknowledgment with its proof of debit (claims 6-7) as the merchant
 * checks it, the postpaid ceiling (claim 10), and every way a payment is refused.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import {
  createOffer,
  generateKeyPair,
  JwsTypes,
  price,
  signJws,
  signOfferSignature,
  timestamp,
  type Offer,
} from "@peage/protocol";
import { CardError, MemoryMedium, payWithCard, SW, type CardPaymentRequest } from "../src/index.js";
import { describeSw, PEAGE_AID } from "../src/iso7816.js";
import { paymentIdOf } from "../src/applet.js";
import { makeCardWorld, MINUTE, NOW, openCard, PIN, raw, swOf, verifiedPay, WRONG_PIN, type CardWorld } from "./helpers.js";

describe("card application", () => {
  let world: CardWorld;
  let image: MemoryMedium;
  before(async () => {
    world = await makeCardWorld();
    image = new MemoryMedium();
    await world.issue(image, { balance: 1000 });
  });
  const fresh = () => openCard(image.clone(), world);

  describe("selection and ISO framing", () => {
    it("SELECT by the proprietary AID answers the FCI; another AID is 6A82", async () => {
      const { transport } = await fresh();
      const fci = await raw(transport, `00A40400 07 ${Buffer.from(PEAGE_AID).toString("hex")} 00`);
      assert.equal(fci.sw, SW.OK);
      assert.equal(Buffer.from(fci.data).toString("hex"), `6f0e8407${Buffer.from(PEAGE_AID).toString("hex")}a503800101`);
      assert.equal((await raw(transport, "00A40400 07 A0000000041010 00")).sw, SW.NOT_FOUND);
      assert.equal((await raw(transport, "00A40000 02 3F00")).sw, SW.WRONG_P1P2);
    });

    it("commands before SELECT are refused (6985); unknown INS 6D00, unknown CLA 6E00, channels 6881, SM 6882", async () => {
      const { transport } = await fresh();
      assert.equal((await raw(transport, "00CADF0100")).sw, SW.CONDITIONS_NOT_SATISFIED);
      await raw(transport, `00A4040C 07 ${Buffer.from(PEAGE_AID).toString("hex")}`);
      assert.equal((await raw(transport, "00B0000000")).sw, SW.INS_NOT_SUPPORTED);
      assert.equal((await raw(transport, "8020008104 31323334")).sw, SW.INS_NOT_SUPPORTED);
      assert.equal((await raw(transport, "A0A4040C00")).sw, SW.CLA_NOT_SUPPORTED);
      assert.equal((await raw(transport, "40CADF0100")).sw, SW.CLA_NOT_SUPPORTED);
      assert.equal((await raw(transport, "01CADF0100")).sw, SW.CHANNEL_NOT_SUPPORTED);
      assert.equal((await raw(transport, "04CADF0100")).sw, SW.SECURE_MESSAGING_NOT_SUPPORTED);
      assert.equal((await raw(transport, "00CA")).sw, SW.WRONG_LENGTH);
      assert.equal((await raw(transport, "00CADF01 05 0102")).sw, SW.WRONG_LENGTH);
      assert.equal((await raw(transport, "00CA00C100")).sw, SW.DATA_NOT_FOUND);
    });

    it("chaining is only for PAY, RELOAD and SYNC (6884); an interrupted chain is 6883", async () => {
      const { transport } = await fresh();
      await raw(transport, `00A4040C 07 ${Buffer.from(PEAGE_AID).toString("hex")}`);
      assert.equal((await raw(transport, "10CADF0100")).sw, SW.CHAINING_NOT_SUPPORTED);
      assert.equal((await raw(transport, "9050000002 C100")).sw, SW.OK);
      assert.equal((await raw(transport, "00CADF0100")).sw, SW.LAST_COMMAND_EXPECTED);
      // The chain is gone: the card answers normally again.
      assert.equal((await raw(transport, "00CADF0100")).sw, SW.OK);
    });

    it("a long response comes in Le-sized parts with 61XX; GET RESPONSE only right after", async () => {
      const { transport } = await fresh();
      await raw(transport, `00A4040C 07 ${Buffer.from(PEAGE_AID).toString("hex")}`);
      const first = await raw(transport, "00CADF0210");
      assert.equal(first.data.length, 16);
      assert.equal(first.sw & 0xff00, SW.MORE_DATA);
      const parts = [first.data];
      let sw = first.sw;
      while ((sw & 0xff00) === SW.MORE_DATA) {
        const next = await raw(transport, `00C00000${(sw & 0xff).toString(16).padStart(2, "0")}`);
        parts.push(next.data);
        sw = next.sw;
      }
      assert.equal(sw, SW.OK);
      const whole = Buffer.concat(parts);
      const { client } = await fresh();
      await client.select();
      const chain = await client.certificateChain();
      assert.equal(
        whole.length,
        chain.reduce((n, c) => n + Buffer.from(c, "base64").length + 4, 0),
      );
      // Nothing pending any more, and a pending response dies with the next command.
      assert.equal((await raw(transport, "00C0000000")).sw, SW.CONDITIONS_NOT_SATISFIED);
      await raw(transport, "00CADF0210");
      await raw(transport, "00CADF0100");
      assert.equal((await raw(transport, "00C0000000")).sw, SW.CONDITIONS_NOT_SATISFIED);
    });
  });

  describe("the PIN (claims 3-4)", () => {
    it("VERIFY without data says whether the PIN is needed and how many tries are left", async () => {
      const { client, transport } = await fresh();
      await client.select();
      assert.equal((await raw(transport, "0020008100")).sw, 0x63c3);
      await client.verifyPin(PIN);
      assert.equal((await raw(transport, "0020008100")).sw, SW.OK);
    });

    it("three wrong PINs in a row block the card for good: 63C2, 63C1, 63C0, then 6983 even for the right PIN", async () => {
      const { client } = await fresh();
      await client.select();
      const answers: string[] = [];
      for (let i = 0; i < 3; i++) answers.push(await swOf(client.verifyPin(WRONG_PIN)));
      assert.deepEqual(answers, ["63C2", "63C1", "63C0"]);
      assert.equal(await swOf(client.verifyPin(PIN)), "6983");
      assert.equal((await client.status()).pinTriesLeft, 0);
    });

    it("a right PIN resets the count: two wrong, one right, two wrong is not blocked", async () => {
      const { client } = await fresh();
      await client.select();
      await swOf(client.verifyPin(WRONG_PIN));
      await swOf(client.verifyPin(WRONG_PIN));
      await client.verifyPin(PIN);
      assert.equal(await swOf(client.verifyPin(WRONG_PIN)), "63C2");
      assert.equal(await swOf(client.verifyPin(WRONG_PIN)), "63C1");
      await client.verifyPin(PIN);
      assert.equal((await client.status()).pinTriesLeft, 3);
    });

    it("the retry counter survives power-off: blocking cannot be escaped by removing the card", async () => {
      const medium = image.clone();
      const first = await openCard(medium, world);
      await first.client.select();
      await swOf(first.client.verifyPin(WRONG_PIN));
      await swOf(first.client.verifyPin(WRONG_PIN));
      const second = await openCard(medium, world);
      await second.client.select();
      assert.equal(await swOf(second.client.verifyPin(WRONG_PIN)), "63C0");
      const third = await openCard(medium, world);
      await third.client.select();
      assert.equal(await swOf(third.client.verifyPin(PIN)), "6983");
    });

    it("a malformed PIN is refused without costing a try", async () => {
      const { client } = await fresh();
      await client.select();
      assert.equal(await swOf(client.verifyPin("12a4")), "6A80");
      assert.equal(await swOf(client.verifyPin("123")), "6A80");
      assert.equal((await client.status()).pinTriesLeft, 3);
    });

    it("the verification lasts one session: reset, power-off and re-SELECT forget it", async () => {
      const { client, transport } = await fresh();
      await client.select();
      await client.verifyPin(PIN);
      assert.equal((await client.status()).pinVerified, true);
      await transport.reset();
      await client.select();
      assert.equal((await client.status()).pinVerified, false);
      await client.verifyPin(PIN);
      await client.select();
      assert.equal((await client.status()).pinVerified, false);
      assert.equal(await swOf(client.pay(world.request(world.offer()))), "6982");
    });
  });

  describe("PAY (claims 3-7)", () => {
    it("debits, logs, and answers an acknowledgment the merchant accepts, with the proof of debit", async () => {
      const { client } = await fresh();
      const offer = world.offer(199);
      const ack = await payWithCard(client, { offer, pin: PIN, clock: world.clock });
      const checked = await world.merchantCheck(ack, offer);
      assert.ok(checked.ok, checked.ok ? "" : checked.error.message);
      assert.deepEqual(checked.value.card, { card: world.card, issuer: world.server, debit: { counter: 1, balance: 801 } });
      assert.equal(checked.value.claims.server, world.card);
      assert.equal(checked.value.claims.paymentId, paymentIdOf(world.card, 1));
      assert.equal(checked.value.chain.role, "card-acknowledgment");
      assert.equal(checked.value.serverTime.getTime(), NOW.getTime());
      const status = await client.status();
      assert.equal(status.balance, 801);
      assert.equal(status.counter, 1);
      assert.equal(status.logLength, 1);
    });

    it("works the same with extended APDUs (one exchange per command)", async () => {
      const { client } = await openCard(image.clone(), world, { extendedLength: true });
      const offer = world.offer(50);
      const ack = await payWithCard(client, { offer, pin: PIN, clock: world.clock });
      assert.ok((await world.merchantCheck(ack, offer)).ok);
    });

    it("without the PIN verified in this session the card pays nothing (6982)", async () => {
      const { client } = await fresh();
      await client.select();
      assert.equal(await swOf(client.pay(world.request(world.offer()))), "6982");
      assert.equal((await client.status()).balance, 1000);
    });

    it("one VERIFY, one PAY: the payment consumes the verification, a second PAY needs a new VERIFY (6982)", async () => {
      const { client } = await fresh();
      await client.select();
      await client.verifyPin(PIN);
      await client.pay(world.request(world.offer(50)));
      assert.equal((await client.status()).pinVerified, false);
      assert.equal(await swOf(client.pay(world.request(world.offer(50)))), "6982");
      // A refused PAY consumes it too: a PIN typed for one offer never pays another.
      await client.verifyPin(PIN);
      const usd = createOffer(world.usdEntry, world.clock);
      assert.equal(await swOf(client.pay(world.request(usd))), "6A80");
      assert.equal(await swOf(client.pay(world.request(world.offer(50)))), "6982");
      await client.verifyPin(PIN);
      await client.pay(world.request(world.offer(50)));
      const status = await client.status();
      assert.deepEqual([status.balance, status.counter], [900, 2]);
    });

    it("a blocked card pays nothing (6983), whatever was verified before", async () => {
      const { client } = await fresh();
      await client.select();
      await client.verifyPin(PIN);
      for (let i = 0; i < 3; i++) await swOf(client.verifyPin(WRONG_PIN));
      assert.equal(await swOf(client.pay(world.request(world.offer()))), "6983");
      const status = await client.status();
      assert.deepEqual([status.balance, status.counter, status.logLength], [1000, 0, 0]);
    });

    it("a lost response costs nothing: the same payment asked again gets the same debit's acknowledgment", async () => {
      const { client } = await fresh();
      await client.select();
      await client.verifyPin(PIN);
      const offer = world.offer(500);
      const request = world.request(offer);
      const first = await client.pay(request);
      const again = await verifiedPay(client, request);
      for (const ack of [first, again]) {
        const checked = await world.merchantCheck(ack, offer);
        assert.ok(checked.ok);
        assert.deepEqual(checked.value.card?.debit, { counter: 1, balance: 500 });
      }
      assert.equal((await client.status()).balance, 500);
      // The same nonce for another offer is not a retry: refused.
      const other = createOffer(world.entries.get(50)!, world.clock);
      assert.equal(await swOf(verifiedPay(client, world.request({ ...other, nonce: offer.nonce }))), "6A80");
    });

    const refusals: Array<
      [string, (offer: Offer, request: CardPaymentRequest) => Promise<CardPaymentRequest> | CardPaymentRequest, string]
    > = [
      [
        "a consent for another user",
        (_o, r) => ({ ...r, consent: { ...r.consent, user: "urn:peage:user:mallory" as never } }),
        "6A80",
      ],
      [
        "a consent for another payment server",
        (_o, r) => ({ ...r, consent: { ...r.consent, server: "urn:peage:server:pay-us" as never } }),
        "6A80",
      ],
      [
        "a cheaper price than the publisher signed",
        (_o, r) => ({ ...r, consent: { ...r.consent, price: price(1, "EUR") } }),
        "6A80",
      ],
      [
        "another offer's hash",
        (_o, r) => ({ ...r, consent: { ...r.consent, offerHash: world.entries.get(1)!.offerHash } }),
        "6A80",
      ],
      ["another offer's publisher signature", (_o, r) => ({ ...r, signature: world.entries.get(1)!.signature }), "6A80"],
      [
        "a publisher signature by a key the PKI never certified",
        async (o, r) => ({
          ...r,
          signature: await signOfferSignature(
            o.offerHash,
            o.terms.price,
            await generateKeyPair("ES256"),
            world.pki.chainOf(world.pki.publisher.certificate),
          ),
        }),
        "6A80",
      ],
      [
        "an offer signed by a payment server (wrong role)",
        async (o, r) => ({
          ...r,
          signature: await signJws(
            JwsTypes.offerSignature,
            { v: 1, offerHash: o.offerHash, price: o.terms.price },
            world.pki.server.keys,
            { x5c: world.pki.chainOf(world.pki.server.certificate) },
          ),
        }),
        "6A80",
      ],
      [
        "an expired consent",
        (_o, r) => ({
          ...r,
          consent: {
            ...r.consent,
            consentedAt: timestamp(new Date(NOW.getTime() - 30 * MINUTE)),
            expiresAt: timestamp(new Date(NOW.getTime() - 20 * MINUTE)),
          },
        }),
        "6A80",
      ],
      [
        "an offer dated an hour ago",
        (_o, r) => ({ ...r, consent: { ...r.consent, date: timestamp(new Date(NOW.getTime() - 60 * MINUTE)) } }),
        "6A80",
      ],
      ["an unknown field in the consent", (_o, r) => ({ ...r, consent: { ...r.consent, extra: 1 } as never }), "6A80"],
    ];
    for (const [what, tamper, expected] of refusals) {
      it(`refuses ${what} (${expected}) and debits nothing`, async () => {
        const { client } = await fresh();
        await client.select();
        await client.verifyPin(PIN);
        const offer = world.offer(500);
        assert.equal(await swOf(client.pay(await tamper(offer, world.request(offer)))), expected);
        const status = await client.status();
        assert.deepEqual([status.balance, status.counter, status.logLength], [1000, 0, 0]);
      });
    }

    it("refuses a price in another currency than the card's (6A80)", async () => {
      const { client } = await fresh();
      await client.select();
      await client.verifyPin(PIN);
      const offer = createOffer(world.usdEntry, world.clock);
      assert.equal(await swOf(client.pay(world.request(offer))), "6A80");
    });

    it("refuses malformed PAY data (6A80) and wrong parameters (6A86)", async () => {
      const { client, transport } = await fresh();
      await client.select();
      await client.verifyPin(PIN);
      assert.equal((await raw(transport, "8050000003 C10100")).sw, SW.WRONG_DATA);
      await client.verifyPin(PIN);
      assert.equal((await raw(transport, "8050000004 C101 7B 7D")).sw, SW.WRONG_DATA);
      assert.equal((await raw(transport, "8050010004 C1017B7D")).sw, SW.WRONG_P1P2);
    });

    it("never lets the balance go below zero (6985): the exact balance can be spent, not a cent more", async () => {
      const medium = new MemoryMedium();
      await world.issue(medium, { balance: 1049 });
      const { client } = await openCard(medium, world);
      await client.select();
      await client.verifyPin(PIN);
      await client.pay(world.request(world.offer(1000)));
      assert.equal(await swOf(verifiedPay(client, world.request(world.offer(50)))), "6985");
      await verifiedPay(client, world.request(world.offer(1)));
      await verifiedPay(client, world.request(world.offer(0)));
      assert.equal((await client.status()).balance, 48);
    });

    it("a full log stops payments (6A84) until the issuer syncs", async () => {
      const medium = new MemoryMedium();
      await world.issue(medium, { logCapacity: 2 });
      const { client } = await openCard(medium, world);
      await client.select();
      await client.verifyPin(PIN);
      await client.pay(world.request(world.offer(1)));
      await verifiedPay(client, world.request(world.offer(1)));
      assert.equal(await swOf(verifiedPay(client, world.request(world.offer(1)))), "6A84");
    });

    it("postpaid (claim 10): payments count against the ceiling, and at the ceiling the card refuses (6985)", async () => {
      const medium = new MemoryMedium();
      await world.issue(medium, { mode: "postpaid", ceiling: 700 });
      const { client } = await openCard(medium, world);
      await client.select();
      await client.verifyPin(PIN);
      const offer = world.offer(500);
      const ack = await client.pay(world.request(offer));
      const checked = await world.merchantCheck(ack, offer);
      assert.ok(checked.ok);
      assert.deepEqual(checked.value.card?.debit, { counter: 1, used: 500 });
      await verifiedPay(client, world.request(world.offer(199)));
      assert.equal(await swOf(verifiedPay(client, world.request(world.offer(50)))), "6985");
      await verifiedPay(client, world.request(world.offer(1)));
      const status = await client.status();
      assert.deepEqual([status.mode, status.ceiling, status.used, status.balance], ["postpaid", 700, 700, undefined]);
    });

    it("the card's acknowledgment is refused by a merchant that trusts another server, or no cards", async () => {
      const { client } = await fresh();
      const offer = world.offer();
      const ack = await payWithCard(client, { offer, pin: PIN, clock: world.clock });
      const { verifyAcknowledgment, partyId } = await import("@peage/protocol");
      const other = await verifyAcknowledgment(ack, offer, {
        trust: world.trust,
        clock: world.clock,
        server: partyId("server", "pay-us"),
      });
      assert.equal(other.ok ? "valid" : other.error.code, "ERR_WRONG_AUDIENCE");
      const noCards = await verifyAcknowledgment(ack, offer, { trust: world.trust, clock: world.clock, acceptCards: false });
      assert.equal(noCards.ok ? "valid" : noCards.error.code, "ERR_WRONG_ROLE");
    });
  });

  it("CardError names the status word", () => {
    const error = new CardError(0x63c1, "VERIFY");
    assert.equal(error.triesLeft, 1);
    assert.match(error.message, /63C1 WRONG_PIN \(1 tries left\)/);
    assert.equal(describeSw(0x6a84), "6A84 NOT_ENOUGH_MEMORY");
  });
});
