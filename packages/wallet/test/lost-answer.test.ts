/**
 * A payment whose answer is lost on the way back (the server recorded it, the connection dropped
 * before message 3 arrived): presented again, the offer gets the acknowledgment the server
 * recorded, fetched by its nonce with a request signed by the user (GET /v1/me/acknowledgments/…),
 * and the user is charged once. A metered session's offer gets back the session it paid for (its
 * consent signed the session's nonce, not the offer's), rather than a second session and a second
 * cap. Against the real payment server, behind a proxy that loses answers.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certificateToPem, createDemoPki, price, signCatalog, type Catalog, type DemoPki } from "@peage/protocol";
import { createWallet, initWallet, ScriptedPrompt, type Wallet } from "../src/index.js";
import { TEST_RATES } from "../src/testing/index.js";
import { offerFor, walletCode } from "./helpers.js";
import { startRealServer, type RealServer } from "@peage/server/testing";

const USER = "urn:peage:user:lost-answer";
const PASSPHRASE = "a passphrase for the lost answer test";

let pki: DemoPki;
let dir: string;
let server: RealServer;
let proxy: Server;
let catalog: Catalog;
let wallet: Wallet;
const prompt = new ScriptedPrompt(Array<boolean>(6).fill(true));
/** How many more answers to POST /v1/payments the proxy loses after the server has answered them. */
let loseAnswers = 0;
/** How many more POST /v1/payments the proxy drops before they reach the server. */
let dropRequests = 0;
let paymentPosts = 0;

/** Forwards everything to the server; loses the answers it is told to lose, once the server has recorded the payment. */
function startLosingProxy(target: URL): Promise<Server> {
  const proxyServer = createServer((incoming, outgoing) => {
    if (incoming.method === "POST" && incoming.url === "/v1/payments" && dropRequests > 0) {
      dropRequests--;
      outgoing.socket?.destroy();
      return;
    }
    const upstream = request(
      { host: target.hostname, port: target.port, path: incoming.url, method: incoming.method, headers: incoming.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          const isPayment = incoming.method === "POST" && incoming.url === "/v1/payments";
          if (isPayment) paymentPosts++;
          if (isPayment && loseAnswers > 0) {
            loseAnswers--;
            outgoing.socket?.destroy();
            return;
          }
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          outgoing.end(Buffer.concat(chunks));
        });
      },
    );
    upstream.on("error", () => outgoing.socket?.destroy());
    incoming.pipe(upstream);
  });
  return new Promise((resolve) => proxyServer.listen(0, "127.0.0.1", () => resolve(proxyServer)));
}

before(async () => {
  pki = await createDemoPki();
  dir = await mkdtemp(join(tmpdir(), "peage-lost-"));
  server = await startRealServer(pki, TEST_RATES);
  proxy = await startLosingProxy(new URL(server.url));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  await writeFile(join(dir, "root.pem"), certificateToPem(pki.root.certificate));
  // Every payment is asked, so a second question would show in the prompt.
  const rules = { autoAccept: { perPayment: price(0, "EUR") }, refuse: {} };
  const init = await initWallet(join(dir, "wallet"), {
    passphrase: PASSPHRASE,
    user: USER,
    serverUrl: proxyUrl,
    serverId: pki.server.identity,
    homeCurrency: "EUR",
    trustRootsPem: join(dir, "root.pem"),
    rules,
  });
  await server.enrol(USER, init.publicJwk, "EUR", 2000);
  catalog = await signCatalog(
    pki.publisher.identity,
    [
      { offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" } },
      {
        offerId: "stream",
        description: "Readings, 2 cents each, at most 5",
        price: price(10, "EUR"),
        upto: true,
        tick: price(2, "EUR"),
        grant: { kind: "event", event: "reading" },
      },
    ],
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
    { servers: [pki.server.identity] },
  );
  wallet = await createWallet({ dir: join(dir, "wallet"), passphrase: PASSPHRASE, prompt, server: { retries: 0 } });
});

after(async () => {
  wallet?.close();
  await new Promise((resolve) => proxy?.close(resolve));
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

test("the answer is lost after the server recorded the payment: the offer presented again gets that acknowledgment, charged once", async () => {
  const offer = offerFor(catalog, "launch");
  loseAnswers = 1;
  await assert.rejects(wallet.pay(offer), walletCode("ERR_SERVER_UNAVAILABLE"));
  assert.equal(await server.balanceOf(USER), 2000 - 50, "the server recorded the payment");
  assert.equal(wallet.history.list()[0]?.outcome, "failed");

  const again = await wallet.pay(offer);
  assert.equal(again.verified.claims.nonce, offer.nonce);
  assert.equal(again.consent, "explicit");
  assert.equal(await server.balanceOf(USER), 2000 - 50, "charged once");
  assert.equal(paymentPosts, 1, "no second payment request was sent");
  assert.equal(prompt.shown.length, 1, "the user was asked once");
  const [entry] = wallet.history.list();
  assert.equal(entry?.outcome, "paid");
  assert.equal(entry?.paymentId, again.verified.claims.paymentId);

  // And once more, from the wallet's own history.
  const third = await wallet.pay(offer);
  assert.deepEqual(third.acknowledgment, again.acknowledgment);
  assert.equal(paymentPosts, 1);
});

test("an offer whose request never reached the server is paid once when presented again", async () => {
  const offer = offerFor(catalog, "launch");
  const before = await server.balanceOf(USER);
  const asked = prompt.shown.length;
  const posts = paymentPosts;
  dropRequests = 1;
  await assert.rejects(wallet.pay(offer), walletCode("ERR_SERVER_UNAVAILABLE"));
  assert.equal(await server.balanceOf(USER), before);
  // The server has no payment for this nonce (404): the offer goes through the rules and the user again.
  const paid = await wallet.pay(offer);
  assert.equal(paid.verified.claims.nonce, offer.nonce);
  assert.equal(await server.balanceOf(USER), before - 50);
  assert.equal(prompt.shown.length, asked + 2);
  assert.equal(paymentPosts, posts + 1);
});

test("a session's answer is lost: the offer presented again gets back the session it paid for, its cap held once", async () => {
  const offer = offerFor(catalog, "stream");
  const before = await server.balanceOf(USER);
  const [asked, posts] = [prompt.shown.length, paymentPosts];
  loseAnswers = 1;
  await assert.rejects(wallet.pay(offer), walletCode("ERR_SERVER_UNAVAILABLE"));
  assert.equal(await server.balanceOf(USER), before - 10, "the server held the session's cap");
  const [kept] = wallet.sessions.ofOffer(offer.nonce);
  assert.ok(kept, "the session's chain is kept while its payment is unknown");

  const again = await wallet.pay(offer);
  assert.equal(again.session?.id, kept.session.id, "the same session, not a new one");
  assert.equal(again.verified.claims.nonce, kept.session.id);
  assert.equal(again.consent, "explicit");
  assert.equal(await server.balanceOf(USER), before - 10, "the cap held once");
  assert.equal(paymentPosts, posts + 1, "no second payment request was sent");
  assert.equal(prompt.shown.length, asked + 1, "the user was asked once");
  assert.equal(wallet.tick(kept.session.id, 1).ticks, 1, "the session's ticks are paid with its chain");

  // Once more, from the wallet's own history: still that session.
  const third = await wallet.pay(offer);
  assert.equal(third.session?.id, kept.session.id);
  assert.deepEqual(third.acknowledgment, again.acknowledgment);
  assert.equal(paymentPosts, posts + 1);
  assert.equal(wallet.sessions.ofOffer(offer.nonce).length, 1);
});

test("a session whose request never reached the server: presented again, it is forgotten and one new session is paid", async () => {
  const offer = offerFor(catalog, "stream");
  const before = await server.balanceOf(USER);
  const posts = paymentPosts;
  dropRequests = 1;
  await assert.rejects(wallet.pay(offer), walletCode("ERR_SERVER_UNAVAILABLE"));
  const [lost] = wallet.sessions.ofOffer(offer.nonce);
  assert.ok(lost, "kept until the server says whether it recorded it");

  const paid = await wallet.pay(offer);
  assert.notEqual(paid.session?.id, lost.session.id, "the server never recorded the first session");
  assert.deepEqual(
    wallet.sessions.ofOffer(offer.nonce).map((kept) => kept.session.id),
    [paid.session?.id],
    "the unrecorded chain was forgotten",
  );
  assert.equal(await server.balanceOf(USER), before - 10, "one cap held");
  assert.equal(paymentPosts, posts + 1);
});
