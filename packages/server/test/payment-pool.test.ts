/**
 * `--workers N` on SQLite: payment requests checked and signed on threads (payment-pool.ts), booked
 * by the one writer. Every answer is the event loop's, word for word (the same request to a server
 * with and without threads, on one database); through a real server (startServer, its writer
 * thread, a SQLite file, HTTP): payments racing on one prepaid balance never overdraw it, one
 * request sent many times at once is one payment, a thread stopped in the middle of a load loses
 * and doubles nothing once every request is retried, a thread that answers nothing is given up
 * on, and a reload's CRL reaches every thread.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  createCrl,
  createDemoPki,
  createOffer,
  createPaymentRequest,
  generateKeyPair,
  price,
  signCatalog,
  systemClock,
  writePkiDir,
  type Catalog,
  type DemoPki,
  type KeyPair,
  type PartyId,
  type PaymentRequest,
} from "@peage/protocol";
import { ApiScopes, buildApp, buildConfig, createApiKey, initDataDir, staticRates, startServer, type App } from "../src/index.js";
import { PaymentPool } from "../src/payment-pool.js";
import type { RunningServer } from "../src/start.js";
import { BODY_LIMIT } from "../src/app.js";
import { enrol, http, paymentRequest, RATES, startFixture, type Fixture, type HttpAnswer } from "./helpers/fixture.js";
import { post, type Body } from "./helpers/post.js";

const PRICE = 100;

/** The event loop's answer and the threads' to the same request, compared whole (status, media type, body, retry-after). */
function sameAnswer(alone: HttpAnswer, pooled: HttpAnswer, what: string): void {
  const shape = (answer: HttpAnswer) => ({
    status: answer.status,
    contentType: answer.contentType,
    body: answer.body,
    retryAfter: answer.headers.get("retry-after"),
  });
  assert.deepEqual(shape(pooled), shape(alone), what);
}

describe("payment threads answer as the event loop does", () => {
  let fx: Fixture;
  let pool: PaymentPool;
  let pooled: App;
  let pooledUrl: string;
  before(async () => {
    // One database, two applications: the fixture's (no threads) and one with two threads.
    fx = await startFixture();
    const identity = {
      id: fx.pki.server.identity,
      key: fx.pki.server.keys,
      x5c: fx.pki.chainOf(fx.pki.server.certificate),
      notAfter: fx.pki.server.certificate.notAfter,
    };
    const rates = staticRates(RATES);
    pool = await PaymentPool.start({
      threads: 2,
      databasePath: join(fx.dir, "peage.db"),
      identity,
      trust: fx.trust,
      rates,
      skewMs: 5 * 60_000,
      feeBasisPoints: 0,
    });
    pooled = buildApp({
      store: fx.store,
      identity,
      trust: fx.trust,
      rates,
      clock: fx.clock,
      paymentPool: pool,
      publicMetrics: true,
    });
    await pooled.listen({ host: "127.0.0.1", port: 0 });
    pooledUrl = `http://127.0.0.1:${(pooled.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await pooled.close();
    await pool.close();
    await fx.close();
  });

  const both = async (
    path: string,
    opts: { body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<[HttpAnswer, HttpAnswer]> => [
    await http(fx, "POST", path, opts),
    await http({ url: pooledUrl }, "POST", path, opts),
  ];

  it("refuses malformed bodies in the same words, with the same statuses (400, 413, 415)", async () => {
    const user = await enrol(fx, { balance: 1000 });
    const { request } = await paymentRequest(fx, user);
    const cases: [string, { body?: unknown; raw?: string; headers?: Record<string, string> }][] = [
      ["empty body", { raw: "" }],
      ["blank body", { raw: "  \n" }],
      ["not JSON", { raw: "{" }],
      ["a member twice", { raw: '{"type":"peage.payment-request","type":"x"}' }],
      ["an array", { raw: "[]" }],
      ["null", { raw: "null" }],
      ["an empty object", { body: {} }],
      ["an unknown member", { body: { ...request, extra: 1 } }],
      ["a member of the wrong type", { body: { ...request, v: "1" } }],
      ["text/plain", { raw: JSON.stringify(request), headers: { "content-type": "text/plain" } }],
      ["too large", { raw: JSON.stringify({ ...request, pad: "x".repeat(BODY_LIMIT) }) }],
      ["a consent that is not a JWS", { body: { ...request, consent: "abc" } }],
      ["no body at all", { headers: {} }],
    ];
    for (const [what, opts] of cases) {
      const [alone, threaded] = await both("/v1/payments", opts);
      assert.ok(alone.status >= 400, `${what}: ${alone.status}`);
      sameAnswer(alone, threaded, what);
    }
    const [alone, threaded] = await both("/v1/payments?x=1", { body: request });
    sameAnswer(alone, threaded, "a query string");
    assert.equal((await fx.raw.query("SELECT count(*) AS n FROM payments"))[0]!["n"], 0, "nothing was recorded");
  });

  it("refuses consents and accounts in the same words, and answers a retry with the recorded acknowledgment", async () => {
    const poor = await enrol(fx, { balance: 50 });
    const rich = await enrol(fx, { balance: 1000 });
    const stranger = { ...rich, id: "urn:peage:user:nobody" as PartyId<"user"> };
    const otherServer = await paymentRequest(fx, rich, "launch", { server: "urn:peage:server:other" as PartyId<"server"> });
    const refused: [string, PaymentRequest][] = [
      ["funds", (await paymentRequest(fx, poor)).request],
      ["unknown user", (await paymentRequest(fx, stranger)).request],
      ["another server", otherServer.request],
      ["unconvertible currency", (await paymentRequest(fx, rich, "kenya")).request],
    ];
    for (const [what, request] of refused) {
      const [alone, threaded] = await both("/v1/payments", { body: request });
      assert.ok(alone.status >= 400, `${what}: ${alone.status}`);
      sameAnswer(alone, threaded, what);
    }

    // Recorded through the threads, retried through both: the same acknowledgment, charged once.
    const { offer, request } = await paymentRequest(fx, rich, "level-2");
    const first = await http({ url: pooledUrl }, "POST", "/v1/payments", { body: request });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const [again, againThreaded] = await both("/v1/payments", { body: request });
    sameAnswer(first, again, "a retry through the event loop");
    sameAnswer(first, againThreaded, "a retry through the threads");
    // The same nonce in another request (signed again), and a retry once the balance no longer covers it.
    const reused = await createPaymentRequest({
      offer,
      user: rich.id,
      server: fx.pki.server.identity,
      userKey: rich.key,
      clock: fx.clock,
    });
    const [reusedAlone, reusedThreaded] = await both("/v1/payments", { body: reused });
    assert.equal(reusedAlone.body.code, "ERR_NONCE_REUSED");
    sameAnswer(reusedAlone, reusedThreaded, "a reused nonce");
    // A retry once the balance no longer covers it: the recorded acknowledgment, from either.
    const exact = await enrol(fx, { balance: PRICE });
    const spending = (await paymentRequest(fx, exact)).request;
    const spent = await http({ url: pooledUrl }, "POST", "/v1/payments", { body: spending });
    assert.equal(spent.status, 200, JSON.stringify(spent.body));
    const [spentAlone, spentThreaded] = await both("/v1/payments", { body: spending });
    sameAnswer(spent, spentAlone, "a retry with the balance spent, through the event loop");
    sameAnswer(spent, spentThreaded, "a retry with the balance spent, through the threads");
    const rows = await fx.raw.query<{ n: number }>("SELECT count(*) AS n FROM payments WHERE user_id IN (?, ?)", [
      rich.id,
      exact.id,
    ]);
    assert.equal(rows[0]!.n, 2);
  });
});

/** A data directory made from a demo PKI, a server started on it with two payment threads, an operator key and the database. */
interface Served {
  readonly root: string;
  readonly dataDir: string;
  readonly pki: DemoPki;
  readonly catalog: Catalog;
  readonly running: RunningServer;
  readonly bearer: Record<string, string>;
  readonly db: Database.Database;
}

async function serve(): Promise<Served> {
  const root = mkdtempSync(join(tmpdir(), "peage-pool-test-"));
  const pki = await createDemoPki();
  await writePkiDir(join(root, "pki"), pki);
  const dataDir = join(root, "data");
  await initDataDir({ dataDir, pkiDir: join(root, "pki") });
  const running = await startServer(buildConfig({ dataDir }, { port: 0, host: "127.0.0.1", workers: 2, metrics: "off" }), {
    logs: false,
  });
  assert.equal(running.paymentPool?.threads, 2);
  const catalog = await signCatalog(
    pki.publisher.identity,
    [{ offerId: "launch", description: "One launch", price: price(PRICE, "EUR"), grant: { kind: "launch" } }],
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
  );
  const bearer = { authorization: `Bearer ${await createApiKey(running.store, ApiScopes, "tests")}` };
  const db = new Database(join(dataDir, "peage.db"), { readonly: true });
  return { root, dataDir, pki, catalog, running, bearer, db };
}

describe("a server with two payment threads (startServer, SQLite file, HTTP)", () => {
  let s: Served;
  before(async () => {
    s = await serve();
  });
  after(async () => {
    s.db.close();
    await s.running.close();
    rmSync(s.root, { recursive: true, force: true });
  });

  async function user(name: string, balance: number): Promise<{ id: PartyId<"user">; key: KeyPair }> {
    const key = await generateKeyPair("ES256");
    const id = `urn:peage:user:${name}` as PartyId<"user">;
    const publicKey = await webcrypto.subtle.exportKey("jwk", key.publicKey);
    const enrolled = await post(
      `${s.running.url}/v1/admin/users`,
      { user: id, publicKey, mode: "prepaid", homeCurrency: "EUR" },
      s.bearer,
    );
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    const topup = await post(
      `${s.running.url}/v1/admin/users/${id}/topups`,
      { amount: balance, idempotencyKey: `initial-${name}` },
      s.bearer,
    );
    assert.equal(topup.status, 201);
    return { id, key };
  }

  async function requests(payer: { id: PartyId<"user">; key: KeyPair }, count: number): Promise<PaymentRequest[]> {
    const out: PaymentRequest[] = [];
    for (let i = 0; i < count; i++) {
      const offer = createOffer(s.catalog.offers[0]!, systemClock);
      const server = s.pki.server.identity;
      out.push(
        await createPaymentRequest({ offer, user: payer.id, server, userKey: payer.key, clock: systemClock, ttlMs: 15 * 60_000 }),
      );
    }
    return out;
  }

  function books(id: PartyId<"user">): { payments: number; nonces: number; balance: number; acknowledgments: Set<string> } {
    const rows = s.db.prepare("SELECT nonce, acknowledgment FROM payments WHERE user_id = ?").all(id) as {
      nonce: string;
      acknowledgment: string;
    }[];
    const { balance_minor } = s.db.prepare("SELECT balance_minor FROM users WHERE id = ?").get(id) as { balance_minor: number };
    return {
      payments: rows.length,
      nonces: new Set(rows.map((r) => r.nonce)).size,
      balance: balance_minor,
      acknowledgments: new Set(rows.map((r) => r.acknowledgment)),
    };
  }

  const pay = (request: unknown) => post(`${s.running.url}/v1/payments`, request);

  it("payments racing on one prepaid balance: exactly those it covers are acknowledged, never overdrawn", async () => {
    const covered = 30;
    const payer = await user("race", covered * PRICE);
    const answers = await Promise.all((await requests(payer, 3 * covered)).map(pay));
    assert.equal(answers.filter((answer) => answer.status === 200).length, covered);
    for (const answer of answers.filter((x) => x.status !== 200)) {
      assert.equal(answer.status, 402, JSON.stringify(answer.body));
      assert.equal(answer.body.code, "ERR_INSUFFICIENT_FUNDS");
    }
    const after = books(payer.id);
    assert.deepEqual([after.payments, after.nonces, after.balance], [covered, covered, 0]);
  });

  it("one request sent many times at once is one payment, every answer its acknowledgment", async () => {
    const payer = await user("same", 1_000_000);
    const [request] = await requests(payer, 1);
    const answers = await Promise.all(Array.from({ length: 16 }, () => pay(request)));
    for (const answer of answers) {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body, answers[0]!.body);
    }
    const after = books(payer.id);
    assert.deepEqual([after.payments, after.balance], [1, 1_000_000 - PRICE]);
  });

  it("one nonce in many requests (the offer consented to again) sent at once: one payment, the others ERR_NONCE_REUSED", async () => {
    const payer = await user("nonce", 1_000_000);
    const offer = createOffer(s.catalog.offers[0]!, systemClock);
    const signed = await Promise.all(
      Array.from({ length: 12 }, () =>
        createPaymentRequest({ offer, user: payer.id, server: s.pki.server.identity, userKey: payer.key, clock: systemClock }),
      ),
    );
    const answers = await Promise.all(signed.map(pay));
    assert.equal(answers.filter((answer) => answer.status === 200).length, 1);
    for (const answer of answers.filter((x) => x.status !== 200)) assert.equal(answer.body.code, "ERR_NONCE_REUSED");
    const after = books(payer.id);
    assert.deepEqual([after.payments, after.balance], [1, 1_000_000 - PRICE]);
  });

  it("a thread stopped in the middle of a load, every request retried: nothing lost, nothing twice", async () => {
    const initial = 10_000_000;
    const payer = await user("stopped", initial);
    const sent = await requests(payer, 150);
    const acknowledged = new Map<number, Body>();
    let unavailable = 0;
    let next = 0;
    let stopped: Promise<void> | undefined;
    const client = async () => {
      while (next < sent.length) {
        const index = next++;
        const answer = await pay(sent[index]);
        if (answer.status === 200) acknowledged.set(index, answer.body);
        else {
          // Only the stopped thread's requests fail, and they say a retry is safe.
          assert.equal(answer.status, 503, JSON.stringify(answer.body));
          assert.equal(answer.body.code, "ERR_SERVER_UNAVAILABLE");
          assert.equal(answer.body["retryable"], true);
          unavailable++;
        }
        if (!stopped && acknowledged.size >= 40) stopped = s.running.paymentPool!.stopThread(0);
      }
    };
    await Promise.all(Array.from({ length: 12 }, client));
    assert.ok(stopped, "the thread was stopped during the load");
    await stopped;
    assert.ok(acknowledged.size + unavailable === sent.length);

    const retried = await Promise.all(sent.map(pay));
    for (const [index, answer] of retried.entries()) {
      assert.equal(answer.status, 200, `request ${index}: ${JSON.stringify(answer.body)}`);
      if (acknowledged.has(index))
        assert.deepEqual(answer.body, acknowledged.get(index), `request ${index}: another acknowledgment`);
    }
    const after = books(payer.id);
    assert.deepEqual([after.payments, after.nonces, after.balance], [sent.length, sent.length, initial - sent.length * PRICE]);
    for (const answer of retried)
      assert.ok(after.acknowledgments.has(JSON.stringify(answer.body)), "an acknowledgment is not in the books");
    // The stopped thread was replaced: both threads take requests again.
    assert.equal(s.running.paymentPool!.threads, 2);
  });

  it("a CRL installed by reload() reaches every thread: the revoked publisher's offers are refused", async () => {
    const payer = await user("revoked", 1_000_000);
    assert.equal((await pay((await requests(payer, 1))[0])).status, 200);
    const now = Date.now();
    const crl = await createCrl({
      issuer: s.pki.publishersCa,
      revoked: [
        {
          serialNumber: s.pki.publisher.certificate.serialNumber,
          revocationDate: new Date(now - 60_000),
          reason: "keyCompromise",
        },
      ],
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + 86_400_000),
      crlNumber: 1,
    });
    mkdirSync(join(s.dataDir, "crls"), { recursive: true });
    writeFileSync(join(s.dataDir, "crls", "publishers.pem"), crl.toString("pem"));
    assert.match((await s.running.reload()).crls, /^reloaded \(1 from/);
    // More requests than threads, at once: each thread answers some.
    const answers = await Promise.all((await requests(payer, 8)).map(pay));
    for (const answer of answers) assert.equal(answer.body.code, "ERR_REVOKED", JSON.stringify(answer.body));
    assert.equal(books(payer.id).payments, 1);
  });
});

describe("a payment thread that answers nothing", () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(async () => fx.close());

  it("is stopped and replaced; its requests answer 503, and their retries are each one payment", async () => {
    const identity = {
      id: fx.pki.server.identity,
      key: fx.pki.server.keys,
      x5c: fx.pki.chainOf(fx.pki.server.certificate),
      notAfter: fx.pki.server.certificate.notAfter,
    };
    // A watchdog so impatient that a thread's first request (its chain validated, its keys imported) outlasts it.
    const rates = staticRates(RATES);
    const pool = await PaymentPool.start({
      threads: 2,
      databasePath: join(fx.dir, "peage.db"),
      identity,
      trust: fx.trust,
      rates,
      skewMs: 5 * 60_000,
      feeBasisPoints: 0,
      stallMs: 1,
    });
    const app = buildApp({ store: fx.store, identity, trust: fx.trust, rates, clock: fx.clock, paymentPool: pool });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      const payer = await enrol(fx, { balance: 100_000 });
      const sent: PaymentRequest[] = [];
      for (let i = 0; i < 20; i++) sent.push((await paymentRequest(fx, payer)).request);
      const answers = await Promise.all(sent.map((request) => http({ url }, "POST", "/v1/payments", { body: request })));
      const given = answers.filter((answer) => answer.status === 503);
      assert.ok(given.length > 0, "no request outlasted a 1 ms watchdog");
      for (const answer of given) {
        assert.equal(answer.body.code, "ERR_SERVER_UNAVAILABLE");
        // Its own thread given up on, or (both given up on, their replacements not yet started) none left.
        assert.match(answer.body.detail, /(answered nothing for 1 ms|every payment thread stopped).*nothing was recorded/);
      }
      const retried = await Promise.all(sent.map((request) => http(fx, "POST", "/v1/payments", { body: request })));
      for (const [index, answer] of retried.entries()) {
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        if (answers[index]!.status === 200) assert.deepEqual(answer.body, answers[index]!.body);
      }
      const rows = await fx.raw.query<{ n: number }>("SELECT count(*) AS n FROM payments WHERE user_id = ?", [payer.id]);
      assert.equal(rows[0]!.n, sent.length);
    } finally {
      await app.close();
      await pool.close();
    }
  });
});
