/**
 * A small but real payment server for tests of the wallet and the merchant SDK, built only from
 * protocol functions: it verifies message 2 with verifyPaymentRequest, converts with fx.ts,
 * keeps prepaid balances, is idempotent on the request bytes, and signs message 3 with
 * signAcknowledgment. It speaks the payment server's HTTP contract (POST /v1/payments,
 * GET /v1/rates) so the code under test runs unchanged against it. It is a test fixture, not the
 * payment server (packages/server): no persistence, no operator API.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  algorithmOfKey,
  convert,
  keyThumbprint,
  newId,
  problem,
  PROBLEM_CONTENT_TYPE,
  signAcknowledgment,
  systemClock,
  verifyPaymentRequest,
  type Acknowledgment,
  type Clock,
  type ConsentClaims,
  type CurrencyCode,
  type KeyPair,
  type PartyId,
  type ProblemCode,
  type RateTable,
  type TrustStore,
  type UserKey,
} from "@peage/protocol";

export interface StandInSigner {
  readonly identity: PartyId<"server">;
  readonly keys: KeyPair;
  readonly x5c: readonly string[];
}

export interface StandInServerOptions {
  readonly trust: TrustStore;
  readonly signer: StandInSigner;
  readonly rates: RateTable;
  readonly clock?: Clock;
  /** Answer 503 to this many payment requests first (to test retries). */
  readonly failFirst?: number;
  /** Rewrites each acknowledgment before it is sent (to play a broken or dishonest server). */
  readonly tamper?: (ack: Acknowledgment, consent: ConsentClaims) => Promise<Acknowledgment> | Acknowledgment;
}

interface Account {
  readonly key: UserKey;
  readonly kid: string;
  readonly home: CurrencyCode;
  balance: number;
}

export interface StandInPayment {
  readonly paymentId: string;
  readonly user: string;
  readonly publisher: string;
  readonly charged: { amount: number; currency: string };
}

export interface StandInServer {
  readonly url: string;
  /** Every payment recorded, in order. */
  readonly payments: readonly StandInPayment[];
  /** Payment requests received, retries included. */
  readonly requestCount: number;
  /** Enrols a user's public key with a prepaid balance in minor units of `home`. */
  enrol(user: string, publicKey: CryptoKey, home: string, balance: number): Promise<void>;
  balanceOf(user: string): number | undefined;
  /** Sets an enrolled user's balance (minor units of their home currency). */
  setBalance(user: string, balance: number): void;
  close(): Promise<void>;
}

/** Starts the stand-in on 127.0.0.1 at a random port. */
export async function startStandInServer(options: StandInServerOptions): Promise<StandInServer> {
  const clock = options.clock ?? systemClock;
  const accounts = new Map<string, Account>();
  const answered = new Map<string, { bodyHash: string; status: number; body: unknown }>();
  const payments: StandInPayment[] = [];
  let failuresLeft = options.failFirst ?? 0;
  let requestCount = 0;

  const server: Server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => sendProblem(res, "ERR_INTERNAL", 500, (error as Error).message, true));
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === "GET" && req.url === "/v1/rates") return sendJson(res, 200, options.rates);
    if (req.method !== "POST" || req.url !== "/v1/payments")
      return sendProblem(res, "ERR_NOT_FOUND", 404, "no such route", false);
    const body = await readBody(req);
    requestCount++;
    if (failuresLeft > 0) {
      failuresLeft--;
      return sendProblem(res, "ERR_SERVER_UNAVAILABLE", 503, "temporarily unavailable", true);
    }
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      return sendProblem(res, "ERR_BAD_REQUEST", 400, "not JSON", false);
    }
    const verified = await verifyPaymentRequest(value, {
      trust: options.trust,
      clock,
      server: options.signer.identity,
      userKey: (user, kid) => {
        const account = accounts.get(user);
        return account && account.kid === kid ? account.key : undefined;
      },
    });
    if (!verified.ok)
      return sendProblem(
        res,
        verified.error.code,
        verified.error.code === "ERR_UNKNOWN_KEY" ? 401 : 422,
        verified.error.message,
        false,
      );
    return settle({ options, clock, accounts, answered, payments }, verified.value.consent, body, res);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    payments,
    get requestCount() {
      return requestCount;
    },
    async enrol(user, publicKey, home, balance) {
      const alg = algorithmOfKey(publicKey);
      if (!alg) throw new TypeError("unsupported key");
      accounts.set(user, { key: { alg, publicKey }, kid: await keyThumbprint(publicKey), home: home as CurrencyCode, balance });
    },
    balanceOf: (user) => accounts.get(user)?.balance,
    setBalance(user, balance) {
      const account = accounts.get(user);
      if (!account) throw new TypeError(`${user} is not enrolled`);
      account.balance = balance;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What the stand-in keeps: its accounts, the answers given by nonce, the payments recorded. */
interface Books {
  readonly options: StandInServerOptions;
  readonly clock: Clock;
  readonly accounts: Map<string, Account>;
  readonly answered: Map<string, { bodyHash: string; status: number; body: unknown }>;
  readonly payments: StandInPayment[];
}

/** A verified request: answered again if its nonce was (the same bytes only), else charged and acknowledged. */
async function settle(books: Books, consent: ConsentClaims, body: string, res: ServerResponse): Promise<void> {
  const bodyHash = createHash("sha256").update(body).digest("base64url");
  const previous = books.answered.get(consent.nonce);
  if (previous) {
    if (previous.bodyHash !== bodyHash)
      return sendProblem(res, "ERR_NONCE_REUSED", 409, "another request already used this offer's nonce", false);
    return previous.status === 200
      ? sendJson(res, 200, previous.body)
      : sendProblem(res, "ERR_INTERNAL", previous.status, "", false);
  }
  const account = books.accounts.get(consent.user)!;
  const conversion = convert(consent.price, account.home, books.options.rates);
  if (!conversion)
    return sendProblem(res, "ERR_RATE_UNAVAILABLE", 422, `no rate from ${consent.price.currency} to ${account.home}`, false);
  if (conversion.price.amount > account.balance) {
    return sendProblem(res, "ERR_INSUFFICIENT_FUNDS", 402, "the prepaid balance does not cover the price: top it up", false);
  }
  account.balance -= conversion.price.amount;
  const paymentId = newId("pay");
  let ack = await signAcknowledgment({
    consent,
    paymentId,
    server: books.options.signer.identity,
    charged: conversion.price,
    ...(conversion.price.currency === consent.price.currency ? {} : { rate: conversion.rate }),
    key: books.options.signer.keys,
    x5c: books.options.signer.x5c,
    clock: books.clock,
  });
  if (books.options.tamper) ack = await books.options.tamper(ack, consent);
  books.payments.push({ paymentId, user: consent.user, publisher: consent.publisher, charged: conversion.price });
  books.answered.set(consent.nonce, { bodyHash, status: 200, body: ack });
  sendJson(res, 200, ack);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendProblem(res: ServerResponse, code: ProblemCode, status: number, detail: string, retryable: boolean): void {
  if (res.headersSent) return;
  const text = JSON.stringify(problem(code, status, code, detail, retryable));
  res.writeHead(status, { "content-type": PROBLEM_CONTENT_TYPE, "content-length": Buffer.byteLength(text) });
  res.end(text);
}
