/**
 * The real payment server in-process on 127.0.0.1, for other packages' end-to-end tests (the
 * wallet's, the example's): a temporary SQLite database, the demo PKI's server identity, and an operator API key used the
 * way an operator enrols a user and tops up a balance.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JsonWebKey } from "node:crypto";
import type { Clock, DemoPki, RateTable, TrustStore } from "@peage/protocol";
import { ApiScopes, buildApp, createApiKey, SqliteStore, staticRates } from "./index.js";

export interface RealServer {
  readonly url: string;
  /** An operator API key with every scope, for requests the test makes as the operator. */
  readonly operatorKey: string;
  enrol(user: string, publicKey: JsonWebKey, homeCurrency: string, balance: number): Promise<void>;
  balanceOf(user: string): Promise<number>;
  close(): Promise<void>;
}

export interface RealServerOptions {
  /** The server's clock (default the system's). */
  readonly clock?: Clock;
  /** The roots the server trusts (default the demo PKI's). */
  readonly trust?: TrustStore;
}

export async function startRealServer(pki: DemoPki, rates: RateTable, options: RealServerOptions = {}): Promise<RealServer> {
  const dir = await mkdtemp(join(tmpdir(), "peage-e2e-server-"));
  const store = SqliteStore.open(join(dir, "peage.db"));
  const app = buildApp({
    store,
    identity: {
      id: pki.server.identity,
      key: pki.server.keys,
      x5c: pki.chainOf(pki.server.certificate),
      notAfter: pki.server.certificate.notAfter,
    },
    trust: options.trust ?? pki.trustStore(),
    rates: staticRates(rates),
    ...(options.clock && { clock: options.clock }),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === "object");
  const url = `http://127.0.0.1:${address.port}`;
  const secret = await createApiKey(store, ApiScopes, "end-to-end tests");
  const operator = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const value = (await response.json()) as Record<string, unknown>;
    assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${JSON.stringify(value)}`);
    return value;
  };
  let topups = 0;
  return {
    url,
    operatorKey: secret,
    async enrol(user, publicKey, homeCurrency, balance) {
      await operator("POST", "/v1/admin/users", { user, publicKey, mode: "prepaid", homeCurrency });
      if (balance > 0)
        await operator("POST", `/v1/admin/users/${user}/topups`, { amount: balance, idempotencyKey: `e2e-topup-${++topups}` });
    },
    async balanceOf(user) {
      const account = await operator("GET", `/v1/admin/users/${user}`);
      return (account["balance"] as { amount: number }).amount;
    },
    async close() {
      await app.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export {
  answerProblems,
  EXCHANGES_FORMAT,
  problemShape,
  recordExchanges,
  replayExchanges,
  send,
  shapeProblems,
  type Answer,
  type Exchange,
  type ExchangeFile,
  type ExchangeRequest,
  type ExchangeResponse,
} from "./exchanges.js";
