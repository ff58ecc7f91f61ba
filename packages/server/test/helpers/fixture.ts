/**
 * A payment server for tests: a demo PKI, a signed catalog, a real database (a SQLite file in a
 * temporary directory, or a PostgreSQL schema of its own: helpers/engines.ts), and the application
 * listening on 127.0.0.1 with a fixed clock. Helpers speak to it over HTTP as the wallet and the
 * operator would, and read the database directly to prove what a request did or did not change.
 */
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  FixedClock,
  generateKeyPair,
  price,
  rateTable,
  signCatalog,
  type Catalog,
  type CatalogEntry,
  type DemoPki,
  type KeyPair,
  type Offer,
  type PartyId,
  type PaymentRequest,
  type RateTable,
  type SignatureAlgorithm,
  type TrustStore,
  type x509,
} from "@peage/protocol";
import { buildApp, createApiKey, staticRates, type App, type ServerIdentity, type Store } from "../../src/index.js";
import { ApiScopes } from "../../src/store/store.js";
import { PaymentPool } from "../../src/payment-pool.js";
import { ENGINES, openTestStore, type Engine, type RawDb } from "./engines.js";

export { ENGINES, type Engine } from "./engines.js";

/** The payment route's setups: each engine on the event loop, and SQLite with two payment threads (`--workers 2`). */
export const PAYMENT_SETUPS = [
  ...ENGINES.map((engine) => ({ engine, threads: 1, label: engine })),
  { engine: "sqlite" as const, threads: 2, label: "sqlite, 2 payment threads" },
];

/** The tests' "now": fixed, so every date in them is reproducible. */
export const NOW = new Date("2026-03-10T12:00:00.000Z");

/** Sample rates (not published ECB values). */
export const RATES: RateTable = rateTable("EUR", "2026-03-09", { USD: "1.0845", JPY: "162.35", GBP: "0.8512", CHF: "0.9403" });

export interface TestUser {
  readonly id: PartyId<"user">;
  readonly key: KeyPair;
}

export interface Fixture {
  readonly pki: DemoPki;
  readonly trust: TrustStore;
  readonly clock: FixedClock;
  readonly dir: string;
  readonly engine: Engine;
  readonly store: Store;
  /** The same database through a connection of its own. */
  readonly raw: RawDb;
  readonly app: App;
  readonly url: string;
  /** An API key with every scope. */
  readonly adminKey: string;
  readonly catalog: Catalog;
  /** The payment threads, when the fixture was asked for some. */
  readonly paymentPool: PaymentPool | undefined;
  entry(offerId: string): CatalogEntry;
  close(): Promise<void>;
}

export interface FixtureOptions {
  readonly crls?: readonly x509.X509Crl[];
  readonly rates?: RateTable | undefined;
  readonly pki?: DemoPki;
  /** Collects the server's log lines (level info) here. */
  readonly logLines?: string[];
  /** SQLite unless said. */
  readonly engine?: Engine;
  /** The server's fee, basis points (default 0). */
  readonly feeBasisPoints?: number;
  /** Reverse proxies whose X-Forwarded-For is believed. */
  readonly trustProxy?: readonly string[];
  /** SQLite: payment threads that check and sign (payment-pool.ts, `--workers N`); none (the event loop) unless said. */
  readonly threads?: number;
}

/** The catalog every fixture's publisher signs. */
export const OFFERS = [
  { offerId: "launch", description: "One launch", price: price(100, "EUR"), grant: { kind: "launch" as const } },
  { offerId: "level-2", description: "Level 2", price: price(250, "USD"), grant: { kind: "event" as const, event: "level-2" } },
  { offerId: "hour", description: "One hour", price: price(500, "JPY"), grant: { kind: "period" as const, seconds: 3600 } },
  { offerId: "kenya", description: "Priced in shillings", price: price(1000, "KES"), grant: { kind: "launch" as const } },
  { offerId: "big", description: "A large purchase", price: price(5000, "EUR"), grant: { kind: "launch" as const } },
];

export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const clock = new FixedClock(NOW);
  const pki = opts.pki ?? (await createDemoPki({ now: NOW }));
  const trust = pki.trustStore({ crls: opts.crls ?? [] });
  const dir = mkdtempSync(join(tmpdir(), "peage-server-test-"));
  const engine = opts.engine ?? "sqlite";
  const opened = await openTestStore(engine, dir);
  const store = opened.store;
  const identity: ServerIdentity = {
    id: pki.server.identity,
    key: pki.server.keys,
    x5c: pki.chainOf(pki.server.certificate),
    notAfter: pki.server.certificate.notAfter,
  };
  const logLines = opts.logLines;
  const rates = staticRates("rates" in opts ? opts.rates : RATES);
  const paymentPool =
    engine === "sqlite" && (opts.threads ?? 1) > 1
      ? await PaymentPool.start({
          threads: opts.threads!,
          databasePath: opened.location,
          identity,
          trust,
          rates,
          skewMs: 5 * 60_000,
          feeBasisPoints: opts.feeBasisPoints ?? 0,
        })
      : undefined;
  const app = buildApp({
    store,
    identity,
    trust,
    rates,
    clock,
    ...(paymentPool ? { paymentPool } : {}),
    // The tests read /metrics on the application itself; a started server keeps it on its own listener.
    publicMetrics: true,
    ...(opts.feeBasisPoints === undefined ? {} : { feeBasisPoints: opts.feeBasisPoints }),
    ...(opts.trustProxy ? { trustProxy: opts.trustProxy } : {}),
    ...(logLines ? { logger: { level: "info" as const, stream: { write: (line: string) => void logLines.push(line) } } } : {}),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === "object");
  const secret = await createApiKey(store, ApiScopes, "tests");
  const catalog = await signCatalog(pki.publisher.identity, OFFERS, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
  return {
    pki,
    trust,
    clock,
    dir,
    engine,
    store,
    raw: opened.raw,
    app,
    url: `http://127.0.0.1:${address.port}`,
    adminKey: secret,
    catalog,
    entry(offerId) {
      const entry = catalog.offers.find((o) => o.terms.offerId === offerId);
      assert.ok(entry, `no offer ${offerId}`);
      return entry;
    },
    paymentPool,
    async close() {
      await app.close();
      await paymentPool?.close();
      await opened.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: any;
  readonly headers: Headers;
}

/** Sends a request and reads the answer as JSON (or text). */
export async function http(
  fx: { url: string },
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type"))
    headers["content-type"] = "application/json";
  const response = await fetch(`${fx.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  const contentType = response.headers.get("content-type") ?? "";
  return {
    status: response.status,
    contentType,
    headers: response.headers,
    body: contentType.includes("json") && text !== "" ? JSON.parse(text) : text,
  };
}

export function admin(fx: Fixture, method: string, path: string, body?: unknown): Promise<HttpAnswer> {
  return http(fx, method, path, { headers: { authorization: `Bearer ${fx.adminKey}` }, ...(body === undefined ? {} : { body }) });
}

let userCounter = 0;

/** Enrols a new user over the operator API. */
export async function enrol(
  fx: Fixture,
  opts: {
    mode?: "prepaid" | "postpaid";
    currency?: string;
    limit?: number;
    balance?: number;
    alg?: SignatureAlgorithm;
    name?: string;
  } = {},
): Promise<TestUser> {
  const key = await generateKeyPair(opts.alg ?? "ES256");
  const id = `urn:peage:user:${opts.name ?? `user-${process.pid}-${++userCounter}`}` as PartyId<"user">;
  const mode = opts.mode ?? "prepaid";
  const answer = await admin(fx, "POST", "/v1/admin/users", {
    user: id,
    publicKey: await webcrypto.subtle.exportKey("jwk", key.publicKey),
    mode,
    homeCurrency: opts.currency ?? "EUR",
    ...(mode === "postpaid" ? { monthlyLimit: opts.limit ?? 10_000 } : {}),
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  if (opts.balance) await topUp(fx, id, opts.balance);
  return { id, key };
}

let topupCounter = 0;

export async function topUp(
  fx: Fixture,
  user: string,
  amount: number,
  idempotencyKey = `topup-${process.pid}-${++topupCounter}`,
): Promise<HttpAnswer> {
  const answer = await admin(fx, "POST", `/v1/admin/users/${user}/topups`, { amount, idempotencyKey });
  assert.ok(answer.status === 201 || answer.status === 200, JSON.stringify(answer.body));
  return answer;
}

/** A fresh offer of `offerId` and the user's consent to it, as the wallet sends it. */
export async function paymentRequest(
  fx: Fixture,
  user: TestUser,
  offerId = "launch",
  opts: { server?: PartyId<"server">; mutateOffer?: (offer: Offer) => Offer; entry?: CatalogEntry } = {},
): Promise<{ offer: Offer; request: PaymentRequest }> {
  let offer = createOffer(opts.entry ?? fx.entry(offerId), fx.clock);
  if (opts.mutateOffer) offer = opts.mutateOffer(offer);
  const request = await createPaymentRequest({
    offer,
    user: user.id,
    server: opts.server ?? fx.pki.server.identity,
    userKey: user.key,
    clock: fx.clock,
  });
  return { offer, request };
}

export function pay(fx: { url: string }, request: unknown): Promise<HttpAnswer> {
  return http(fx, "POST", "/v1/payments", { body: request });
}

export interface Snapshot {
  readonly counts: Record<string, number>;
  readonly balances: Record<string, number>;
  readonly credits: Record<string, number>;
}

/** Row counts, balances and publisher payable sums, read through a separate connection. */
export async function snapshot(fx: Pick<Fixture, "raw">): Promise<Snapshot> {
  const counts: Record<string, number> = {};
  for (const table of ["users", "topups", "payments", "refunds", "ledger_transactions", "postings", "api_keys"]) {
    counts[table] = Number((await fx.raw.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n);
  }
  const balances = Object.fromEntries(
    (await fx.raw.query<{ id: string; balance_minor: number }>("SELECT id, balance_minor FROM users")).map((r) => [
      r.id,
      Number(r.balance_minor),
    ]),
  );
  const credits = Object.fromEntries(
    (
      await fx.raw.query<{ k: string; a: number }>(
        "SELECT publisher || ' ' || currency AS k, amount_minor AS a FROM publisher_balances",
      )
    ).map((r) => [r.k, Number(r.a)]),
  );
  return { counts, balances, credits };
}

/** Asserts a problem answer with this status and code, as application/problem+json. */
export function assertProblem(answer: HttpAnswer, status: number, code: string, retryable?: boolean): void {
  assert.equal(answer.status, status, `expected ${status} ${code}, got ${answer.status}: ${JSON.stringify(answer.body)}`);
  assert.match(answer.contentType, /^application\/problem\+json/);
  assert.equal(answer.body.code, code, `expected ${code}, got ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.status, status);
  assert.equal(typeof answer.body.detail, "string");
  assert.ok(answer.body.detail.length > 0);
  if (retryable !== undefined) assert.equal(answer.body.retryable, retryable);
}
