/**
 * The issuing payment server and its cards: reloads (claim 8) and syncs (claim 10) it signs,
 * which the card applies once and in order, and its check of an uploaded usage log — every
 * entry's signature, continuity of the counters, the signed head that shows a cut log.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair, importPrivateKeyPem, partyId, price } from "@peage/protocol";
import {
  certificateId,
  createReloadCommand,
  createSyncCommand,
  decodeToken,
  MemoryMedium,
  Records,
  newChallenge,
  readLogForSync,
  verifyReceipt,
  verifyUploadedLog,
  type CardClient,
  type CardKey,
  type LogEntryBody,
  type LogProblemKind,
  type LogUpload,
} from "../src/index.js";
import { commandKeyOf } from "../src/issuer/certificates.js";
import { JournalStore } from "../src/store.js";
import { signToken } from "../src/signed.js";
import { makeCardWorld, openCard, PIN, swOf, verifiedPay, type CardWorld } from "./helpers.js";

describe("issuer commands and the usage log", () => {
  let world: CardWorld;
  let key: CardKey;
  let image: MemoryMedium;
  before(async () => {
    world = await makeCardWorld();
    image = new MemoryMedium();
    key = await world.cardKey(await world.issue(image, { balance: 1000 }));
  });

  async function card(medium = image.clone()): Promise<CardClient> {
    const { client } = await openCard(medium, world);
    await client.select();
    return client;
  }

  async function pay(client: CardClient, ...amounts: number[]): Promise<void> {
    for (const amount of amounts) await verifiedPay(client, world.request(world.offer(amount)));
  }

  describe("RELOAD (claim 8)", () => {
    it("credits the card once, in sequence, and answers a receipt signed by the card", async () => {
      const client = await card();
      const command = await createReloadCommand({
        issuer: world.issuer,
        card: world.card,
        seq: 0,
        amount: price(250, "EUR"),
        id: "rl_a",
      });
      const receipt = await verifyReceipt(await client.reload(command), key, { id: "rl_a", seq: 0 });
      assert.ok(receipt.ok);
      assert.deepEqual(receipt.value.purse, { balance: 1250 });
      const status = await client.status();
      assert.deepEqual([status.balance, status.seq], [1250, 1]);
      const next = await createReloadCommand({ issuer: world.issuer, card: world.card, seq: 1, amount: price(5, "EUR") });
      await client.reload(next);
      assert.equal((await client.status()).balance, 1255);
    });

    it("a replayed reload is refused (6985) and credits nothing", async () => {
      const client = await card();
      const command = await createReloadCommand({ issuer: world.issuer, card: world.card, seq: 0, amount: price(250, "EUR") });
      await client.reload(command);
      assert.equal(await swOf(client.reload(command)), "6985");
      // A command made ahead of its turn is refused too.
      assert.equal(
        await swOf(
          client.reload(await createReloadCommand({ issuer: world.issuer, card: world.card, seq: 5, amount: price(1, "EUR") })),
        ),
        "6985",
      );
      assert.equal((await client.status()).balance, 1250);
    });

    it("a reload forged with another key (6982), altered in transit (6982), or for another card (6A80) is refused", async () => {
      const client = await card();
      const forger = await generateKeyPair("ES256");
      assert.equal(
        await swOf(
          client.reload(await createReloadCommand({ issuer: forger, card: world.card, seq: 0, amount: price(100_000, "EUR") })),
        ),
        "6982",
      );
      // The server's own key pair for acknowledgments is not the card issuer's command key either.
      assert.equal(
        await swOf(
          client.reload(
            await createReloadCommand({ issuer: world.pki.server.keys, card: world.card, seq: 0, amount: price(1, "EUR") }),
          ),
        ),
        "6982",
      );
      const genuine = await createReloadCommand({ issuer: world.issuer, card: world.card, seq: 0, amount: price(1, "EUR") });
      const [body, signature] = genuine.split(".") as [string, string];
      const inflated = Buffer.from(
        Buffer.from(body, "base64url").toString("utf8").replace('"amount":1,', '"amount":90000,'),
      ).toString("base64url");
      assert.equal(await swOf(client.reload(`${inflated}.${signature}`)), "6982");
      const elsewhere = await createReloadCommand({
        issuer: world.issuer,
        card: partyId("card", "bob-1"),
        seq: 0,
        amount: price(1, "EUR"),
      });
      assert.equal(await swOf(client.reload(elsewhere)), "6A80");
      assert.equal(await swOf(client.reload("not a command")), "6A80");
      // A log entry the card signed itself is not an issuer command.
      await pay(client, 1);
      const [entry] = await client.readLog();
      assert.equal(await swOf(client.reload(entry!)), "6982");
      const status = await client.status();
      assert.deepEqual([status.balance, status.seq], [999, 0]);
    });

    it("claim 8: a RELOAD is refused (6985) until a SYNC covered the log up to the card's counter", async () => {
      const client = await card();
      await pay(client, 50, 1);
      const reload = (seq: number) =>
        createReloadCommand({ issuer: world.issuer, card: world.card, seq, amount: price(250, "EUR") });
      assert.equal(await swOf(client.reload(await reload(0))), "6985");
      // A SYNC that leaves part of the log unacknowledged is not enough.
      await client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 0, upTo: 1 }));
      assert.equal(await swOf(client.reload(await reload(1))), "6985");
      assert.deepEqual([(await client.status()).balance, (await client.status()).seq], [949, 1]);
      await client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 1, upTo: 2 }));
      await client.reload(await reload(2));
      assert.equal((await client.status()).balance, 1199);
      // A payment after it makes the next reload wait for the next sync again.
      await pay(client, 1);
      assert.equal(await swOf(client.reload(await reload(3))), "6985");
    });

    it("a reload in another currency (6A80), beyond the purse limit (6985), or to a postpaid card (6985) is refused", async () => {
      const client = await card();
      assert.equal(
        await swOf(
          client.reload(await createReloadCommand({ issuer: world.issuer, card: world.card, seq: 0, amount: price(1, "USD") })),
        ),
        "6A80",
      );
      assert.equal(
        await swOf(
          client.reload(
            await createReloadCommand({ issuer: world.issuer, card: world.card, seq: 0, amount: price(999_001, "EUR") }),
          ),
        ),
        "6985",
      );
      const postpaid = new MemoryMedium();
      await world.issue(postpaid, { mode: "postpaid", ceiling: 500 });
      const other = await card(postpaid);
      assert.equal(
        await swOf(
          other.reload(await createReloadCommand({ issuer: world.issuer, card: world.card, seq: 0, amount: price(1, "EUR") })),
        ),
        "6985",
      );
    });
  });

  describe("upload, verification and SYNC (claim 10)", () => {
    async function upload(client: CardClient): Promise<{ upload: LogUpload; challenge: Uint8Array }> {
      const challenge = newChallenge();
      return { upload: await readLogForSync(client, challenge), challenge };
    }

    function kinds(problems: ReadonlyArray<{ kind: LogProblemKind }>): LogProblemKind[] {
      return problems.map((problem) => problem.kind);
    }

    it("an honest log verifies; SYNC clears what the server recorded, and the next upload continues from there", async () => {
      const client = await card();
      await pay(client, 50, 199, 1);
      const first = await upload(client);
      assert.equal(first.upload.entries.length, 3);
      const report = await verifyUploadedLog({
        card: key,
        entries: first.upload.entries,
        head: first.upload.head,
        challenge: first.challenge,
        recordedUpTo: 0,
      });
      assert.ok(report.ok, JSON.stringify(report.problems));
      assert.deepEqual(
        report.entries.map((entry) => [entry.counter, entry.price.amount, entry.debit]),
        [
          [1, 50, { counter: 1, balance: 950 }],
          [2, 199, { counter: 2, balance: 751 }],
          [3, 1, { counter: 3, balance: 750 }],
        ],
      );
      assert.equal(report.lastCounter, 3);
      const sync = await createSyncCommand({
        issuer: world.issuer,
        card: world.card,
        seq: 0,
        upTo: report.lastCounter,
        id: "sy_1",
      });
      const receipt = await verifyReceipt(await client.sync(sync), key, { id: "sy_1", seq: 0 });
      assert.ok(receipt.ok);
      assert.deepEqual([receipt.value.counter, receipt.value.first], [3, 4]);
      assert.equal((await client.status()).logLength, 0);
      assert.equal(await swOf(client.sync(sync)), "6985");

      await pay(client, 500);
      const second = await upload(client);
      const next = await verifyUploadedLog({
        card: key,
        entries: second.upload.entries,
        head: second.upload.head,
        challenge: second.challenge,
        recordedUpTo: 3,
      });
      assert.ok(next.ok);
      assert.deepEqual(
        next.entries.map((entry) => entry.counter),
        [4],
      );
    });

    it("a sync that never reached the card: the re-uploaded entries are recognised as already recorded", async () => {
      const client = await card();
      await pay(client, 50, 50);
      const { upload: up, challenge } = await upload(client);
      const report = await verifyUploadedLog({ card: key, entries: up.entries, head: up.head, challenge, recordedUpTo: 1 });
      assert.ok(report.ok);
      assert.deepEqual(
        report.alreadyRecorded.map((entry) => entry.counter),
        [1],
      );
      assert.deepEqual(
        report.entries.map((entry) => entry.counter),
        [2],
      );
    });

    it("a SYNC may only clear what exists, and clears only up to the named counter", async () => {
      const client = await card();
      await pay(client, 1, 1, 1);
      assert.equal(
        await swOf(client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 0, upTo: 4 }))),
        "6A80",
      );
      assert.equal(
        await swOf(
          client.sync(await createSyncCommand({ issuer: await generateKeyPair("ES256"), card: world.card, seq: 0, upTo: 3 })),
        ),
        "6982",
      );
      assert.equal(
        await swOf(
          client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 0, upTo: 2, ceiling: 10 })),
        ),
        "6A80",
      );
      await client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 0, upTo: 2 }));
      const entries = await client.readLog();
      assert.deepEqual(
        entries.map((token) => (decodeToken(token)!.body as { counter: number }).counter),
        [3],
      );
    });

    it("revocation: a SYNC names revoked publisher certificates, the card refuses their offers (6A80) until a SYNC lifts it", async () => {
      const medium = image.clone();
      let client = await card(medium);
      await pay(client, 50);
      const publisherCert = certificateId(world.pki.publisher.certificate);
      const [entry] = await client.readLog();
      assert.equal(
        (decodeToken(entry!)!.body as LogEntryBody).publisherCert,
        publisherCert,
        "the entry names the certificate that signed the offer",
      );
      await client.sync(
        await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 0, upTo: 1, revoked: [publisherCert] }),
      );
      assert.equal(await swOf(verifiedPay(client, world.request(world.offer(50)))), "6A80");
      // The list is in the card's memory: it survives a power cycle, and a SYNC without a list keeps it.
      client = await card(medium);
      await client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 1, upTo: 1 }));
      assert.equal(await swOf(verifiedPay(client, world.request(world.offer(50)))), "6A80");
      assert.deepEqual([(await client.status()).balance, (await client.status()).counter], [950, 1]);
      // A malformed list is refused whole, and an empty one lifts the revocation.
      const malformed = {
        type: "peage.card-sync",
        v: 1,
        card: world.card,
        seq: 2,
        id: "sy_bad",
        upTo: 1,
        revoked: ["not a certificate"],
      };
      assert.equal(await swOf(client.sync(await signToken(malformed, commandKeyOf(world.issuer)))), "6A80");
      await client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 2, upTo: 1, revoked: [] }));
      await verifiedPay(client, world.request(world.offer(50)));
      assert.equal((await client.status()).balance, 900);
      await assert.rejects(
        createSyncCommand({ issuer: world.issuer, card: world.card, seq: 3, upTo: 0, revoked: ["not an id"] }),
        RangeError,
      );
    });

    it("a payment asked again after a SYNC cleared its entry is answered again, not paid twice", async () => {
      const client = await card();
      await client.verifyPin(PIN);
      const offer = world.offer(199);
      const request = world.request(offer);
      await client.pay(request);
      await client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 0, upTo: 1 }));
      const again = await verifiedPay(client, request);
      const checked = await world.merchantCheck(again, offer);
      assert.ok(checked.ok);
      assert.deepEqual(checked.value.card?.debit, { counter: 1, balance: 801 });
      const status = await client.status();
      assert.deepEqual([status.balance, status.counter, status.logLength], [801, 1, 0]);
    });

    it("postpaid: at the ceiling the card refuses until synced; the sync frees what the server recorded and may change the ceiling", async () => {
      const medium = new MemoryMedium();
      const postpaidKey = await world.cardKey(await world.issue(medium, { mode: "postpaid", ceiling: 600 }));
      const client = await card(medium);
      await pay(client, 500, 50, 50);
      assert.equal(await swOf(verifiedPay(client, world.request(world.offer(1)))), "6985");
      const { upload: up, challenge } = await upload(client);
      const report = await verifyUploadedLog({
        card: postpaidKey,
        entries: up.entries,
        head: up.head,
        challenge,
        recordedUpTo: 0,
      });
      assert.ok(report.ok);
      assert.deepEqual(report.head?.purse, { ceiling: 600, used: 600 });
      // The server recorded the first two only (say the third arrived after it cut the batch).
      await client.sync(await createSyncCommand({ issuer: world.issuer, card: world.card, seq: 0, upTo: 2, ceiling: 1000 }));
      const status = await client.status();
      assert.deepEqual([status.used, status.ceiling, status.logLength], [50, 1000, 1]);
      await client.verifyPin(PIN);
      await client.pay(world.request(world.offer(500)));
      assert.equal((await client.status()).used, 550);
    });

    describe("a dishonest upload is caught", () => {
      let honest: LogUpload;
      let challenge: Uint8Array;
      before(async () => {
        const client = await card();
        await pay(client, 50, 199, 1, 500);
        ({ upload: honest, challenge } = await upload(client));
      });
      const check = (entries: readonly unknown[], head: unknown = honest.head, recordedUpTo = 0, withChallenge = challenge) =>
        verifyUploadedLog({ card: key, entries, head, challenge: withChallenge, recordedUpTo });

      it("the honest upload passes", async () => {
        assert.ok((await check(honest.entries)).ok);
      });

      it("an entry altered after signing (cheaper price) is flagged as forged", async () => {
        const [body, signature] = honest.entries[1]!.split(".") as [string, string];
        const altered = Buffer.from(
          Buffer.from(body, "base64url").toString("utf8").replace('"amount":199', '"amount":19'),
        ).toString("base64url");
        const report = await check([honest.entries[0], `${altered}.${signature}`, honest.entries[2], honest.entries[3]]);
        assert.deepEqual(kinds(report.problems), ["forged", "gap"]);
        assert.equal(report.ok, false);
      });

      it("an entry made up by the wallet and signed with its own key is flagged as forged", async () => {
        const body = {
          ...(decodeToken(honest.entries[3])!.body as object),
          counter: 5,
          paymentId: "card_x",
          debit: { counter: 5, balance: 0 },
        };
        const fake = await signToken(body, await generateKeyPair("ES256"));
        assert.deepEqual(kinds((await check([...honest.entries, fake])).problems), ["forged"]);
      });

      it("the log cut short at the end is flagged as truncated, thanks to the signed head", async () => {
        const report = await check(honest.entries.slice(0, 2));
        assert.deepEqual(kinds(report.problems), ["truncated"]);
        assert.deepEqual(report.problems[0]!.missing, [3, 4]);
      });

      it("an entry taken out of the middle is a gap; one repeated is a duplicate; reordered entries are out of order", async () => {
        assert.deepEqual(kinds((await check([honest.entries[0], honest.entries[2], honest.entries[3]])).problems), ["gap"]);
        assert.deepEqual(kinds((await check([...honest.entries, honest.entries[1]])).problems), ["duplicate"]);
        assert.deepEqual(
          kinds((await check([honest.entries[0], honest.entries[2], honest.entries[1], honest.entries[3]])).problems),
          ["gap", "out-of-order"],
        );
        assert.deepEqual(kinds((await check(honest.entries, honest.head, 2)).problems), []);
        // The server had recorded up to 1 but the upload starts at 3: counter 2 is missing.
        assert.deepEqual(kinds((await check(honest.entries.slice(2), honest.head, 1)).problems), ["gap"]);
      });

      it("garbage, an entry naming another card, a stale head or a head for another challenge are flagged", async () => {
        assert.deepEqual(kinds((await check([...honest.entries, "junk"])).problems), ["malformed"]);
        assert.deepEqual(kinds((await check(honest.entries, honest.head, 0, newChallenge())).problems), ["head"]);
        assert.deepEqual(kinds((await check(honest.entries, "junk")).problems), ["head"]);
        // Signed with this card's key but naming another card (only a faulty card could do it).
        const profile = new JournalStore(image).get(Records.profile) as { key: string };
        const cardKey = await importPrivateKeyPem(profile.key);
        const foreign = await signToken(
          { ...(decodeToken(honest.entries[3])!.body as object), card: partyId("card", "bob-1") },
          cardKey,
        );
        assert.deepEqual(kinds((await check([...honest.entries.slice(0, 3), foreign])).problems), ["foreign", "truncated"]);
        // Another card's entries, even under the same name, do not verify under this card's key.
        const bob = new MemoryMedium();
        await world.issue(bob, { balance: 100 });
        const bobCard = await card(bob);
        await pay(bobCard, 1);
        const bobUpload = await readLogForSync(bobCard, challenge);
        assert.deepEqual(kinds((await check([...honest.entries, ...bobUpload.entries])).problems), ["forged"]);
        assert.deepEqual(kinds((await check(honest.entries, bobUpload.head)).problems), ["head"]);
        // A head read earlier (before the last payment) answers an older challenge: refused.
        const client = await card();
        await pay(client, 50);
        const early = newChallenge();
        const staleHead = await client.logHead(early);
        assert.deepEqual(kinds((await check(honest.entries, staleHead)).problems), ["head"]);
        // And replayed against its own old challenge, it shows the later entries are not covered.
        const entries = honest.entries.slice(0, 1);
        assert.deepEqual(
          kinds((await verifyUploadedLog({ card: key, entries, head: staleHead, challenge: early, recordedUpTo: 0 })).problems),
          [],
        );
        assert.deepEqual(
          kinds(
            (await verifyUploadedLog({ card: key, entries: honest.entries, head: staleHead, challenge: early, recordedUpTo: 0 }))
              .problems,
          ),
          ["head"],
        );
      });
    });
  });
});
