/**
 * The server as a separate process (main.js) on a real data directory: killed with SIGKILL in the
 * middle of a load of payments and restarted, it has lost no acknowledged payment and charged
 * none twice; stopped with SIGTERM, it finishes the requests in flight and exits cleanly.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import {
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
  type PartyId,
  type PaymentRequest,
} from "@peage/protocol";
import { initDataDir } from "../src/index.js";
import { post } from "./helpers/post.js";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const LOAD = 200;
const KILL_AFTER = 70;
const CONCURRENCY = 16;
const INITIAL_BALANCE = 10_000_000;

interface Child {
  readonly process: ChildProcess;
  readonly url: string;
  /** Every line the server printed on standard output (its JSON logs). */
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts main.js and waits for its "listening" line. */
async function startChild(dataDir: string, extra: string[] = []): Promise<Child> {
  const child = spawn(process.execPath, [MAIN, "--data", dataDir, "--port", "0", "--host", "127.0.0.1", ...extra], {
    env: { ...process.env, PEAGE_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      try {
        const event = JSON.parse(line) as { event?: string; url?: string };
        if (event.event === "listening" && event.url) resolve(event.url);
      } catch {
        // Not JSON: ignore.
      }
    });
    void exited.then(({ code }) => reject(new Error(`main.js exited (${code}) before listening: ${stderr}`)));
  });
  return { process: child, url, lines, exited };
}

/** Sends the requests with a bounded number in flight; `onAnswer` may stop the run by returning false. */
async function load(
  url: string,
  requests: readonly PaymentRequest[],
  onAnswer: (index: number, answer: { status: number; body: any }) => boolean | void,
): Promise<{ failures: number }> {
  let next = 0;
  let failures = 0;
  let stop = false;
  const worker = async () => {
    while (!stop && next < requests.length) {
      const index = next++;
      try {
        const answer = await post(`${url}/v1/payments`, requests[index]);
        if (onAnswer(index, answer) === false) stop = true;
      } catch {
        failures++; // The connection died with the server.
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { failures };
}

describe("crash and restart", () => {
  let root: string;
  let dataDir: string;
  let pki: DemoPki;
  let catalog: Catalog;
  const children: ChildProcess[] = [];

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "peage-crash-test-"));
    pki = await createDemoPki();
    await writePkiDir(join(root, "pki"), pki);
    dataDir = join(root, "data");
    await initDataDir({ dataDir, pkiDir: join(root, "pki") });
    catalog = await signCatalog(
      pki.publisher.identity,
      [
        { offerId: "launch", description: "One launch", price: price(100, "EUR"), grant: { kind: "launch" } },
        { offerId: "level", description: "A level", price: price(250, "USD"), grant: { kind: "event", event: "level" } },
      ],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
  });
  after(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  });

  it("loses no acknowledged payment and charges none twice across a SIGKILL; shuts down gracefully on SIGTERM", async (t) => {
    const started = performance.now();
    const note = (what: string) => t.diagnostic(`${what} (at ${Math.round(performance.now() - started)} ms)`);
    const keyFile = join(root, "operator.key");
    const first = await startChild(dataDir, ["--bootstrap-key", keyFile]);
    children.push(first.process);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const bearer = { authorization: `Bearer ${readFileSync(keyFile, "utf8").trim()}` };

    const userKey = await generateKeyPair("ES256");
    const user = "urn:peage:user:crash-test" as PartyId<"user">;
    const enrolled = await post(
      `${first.url}/v1/admin/users`,
      { user, publicKey: await webcrypto.subtle.exportKey("jwk", userKey.publicKey), mode: "prepaid", homeCurrency: "EUR" },
      bearer,
    );
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    assert.equal(
      (
        await post(
          `${first.url}/v1/admin/users/${user}/topups`,
          { amount: INITIAL_BALANCE, idempotencyKey: "crash-initial" },
          bearer,
        )
      ).status,
      201,
    );

    note("server up, user enrolled");
    const requests: PaymentRequest[] = [];
    for (let i = 0; i < LOAD; i++) {
      const offer = createOffer(catalog.offers[i % 2]!, systemClock);
      requests.push(
        await createPaymentRequest({ offer, user, server: pki.server.identity, userKey, clock: systemClock, ttlMs: 15 * 60_000 }),
      );
    }

    // Load, and SIGKILL the server once KILL_AFTER acknowledgments have arrived.
    const acknowledged = new Map<number, unknown>();
    await load(first.url, requests, (index, answer) => {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      acknowledged.set(index, answer.body);
      if (acknowledged.size === KILL_AFTER) {
        first.process.kill("SIGKILL");
        return false;
      }
    });
    assert.equal((await first.exited).signal, "SIGKILL");
    note(`killed after ${acknowledged.size} acknowledgments`);
    assert.ok(acknowledged.size >= KILL_AFTER);

    // Restart on the same data directory and send every request again.
    const second = await startChild(dataDir);
    note("restarted");
    children.push(second.process);
    const answers = new Map<number, unknown>();
    const { failures } = await load(second.url, requests, (index, answer) => {
      assert.equal(answer.status, 200, `request ${index}: ${JSON.stringify(answer.body)}`);
      answers.set(index, answer.body);
    });
    assert.equal(failures, 0);
    note(`retried all ${LOAD} requests`);
    assert.equal(answers.size, LOAD);
    for (const [index, ack] of acknowledged)
      assert.deepEqual(answers.get(index), ack, `request ${index} got a different acknowledgment after the restart`);

    // A burst of new payments, and SIGTERM while they are in flight: those answered are recorded, the process exits 0.
    const more: PaymentRequest[] = [];
    for (let i = 0; i < 60; i++) {
      more.push(
        await createPaymentRequest({
          offer: createOffer(catalog.offers[0]!, systemClock),
          user,
          server: pki.server.identity,
          userKey,
          clock: systemClock,
        }),
      );
    }
    const graceful = new Map<number, unknown>();
    let terminated = false;
    await load(second.url, more, (index, answer) => {
      if (answer.status === 200) graceful.set(index, answer.body);
      else {
        // Arrived during the shutdown on a connection still open: refused, retryable, as a problem document.
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
        assert.equal(answer.body.code, "ERR_SERVER_UNAVAILABLE");
        assert.equal(answer.body.retryable, true);
      }
      if (!terminated && graceful.size === 10) {
        terminated = true;
        second.process.kill("SIGTERM");
      }
    });
    assert.deepEqual(await second.exited, { code: 0, signal: null });
    note(`SIGTERM after ${graceful.size} of ${more.length} answered: exit code 0`);
    assert.ok(!second.lines.some((line) => line.includes("shutdown timeout")), "the shutdown had to cut connections still open");

    // The database: every acknowledgment received is there, each nonce once, and the balance adds up.
    const db = new Database(join(dataDir, "peage.db"), { readonly: true });
    try {
      const rows = db.prepare("SELECT id, nonce, charged_amount, acknowledgment FROM payments WHERE user_id = ?").all(user) as {
        id: string;
        nonce: string;
        charged_amount: number;
        acknowledgment: string;
      }[];
      const stored = new Map(rows.map((row) => [row.acknowledgment, row]));
      for (const ack of [...acknowledged.values(), ...answers.values(), ...graceful.values()]) {
        assert.ok(stored.has(JSON.stringify(ack)), "an acknowledgment the client received is missing from the database");
      }
      assert.equal(new Set(rows.map((row) => row.nonce)).size, rows.length, "a nonce was recorded twice");
      assert.equal(rows.length, LOAD + graceful.size, "every request was recorded exactly once");
      const charged = rows.reduce((sum, row) => sum + row.charged_amount, 0);
      const balance = (db.prepare("SELECT balance_minor AS b FROM users WHERE id = ?").get(user) as { b: number }).b;
      assert.equal(balance, INITIAL_BALANCE - charged);
      assert.equal(
        (db.prepare("SELECT COUNT(*) AS n FROM ledger_transactions WHERE kind = 'payment'").get() as { n: number }).n,
        rows.length,
      );
      assert.deepEqual(
        db
          .prepare(
            "SELECT t.id FROM postings p JOIN ledger_transactions t ON t.seq = p.txn_seq GROUP BY t.id, p.currency HAVING SUM(p.amount) <> 0",
          )
          .all(),
        [],
        "every transaction balances",
      );
    } finally {
      db.close();
    }
  });
});
