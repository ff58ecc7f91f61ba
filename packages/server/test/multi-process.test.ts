/**
 * Several server processes (main.js) on one PostgreSQL database, as `--workers N` or several
 * machines run them: payments racing on one prepaid balance through two processes never overdraw
 * it; one request sent to two processes at once is one payment; a process killed (SIGKILL) in the
 * middle of a load, then every request retried on the other, leaves each payment recorded once.
 * Last, one server with --workers 2 serves on one port and stops cleanly on SIGTERM.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  generateKeyPair,
  keyThumbprint,
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
import { initDataDir } from "../src/index.js";
import { testDatabaseUrl } from "./helpers/engines.js";
import { post } from "./helpers/post.js";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const PRICE = 100;

interface Child {
  readonly process: ChildProcess;
  readonly url: string;
  readonly listening: { workers?: number };
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startChild(dataDir: string, databaseUrl: string, extra: string[]): Promise<Child> {
  const child = spawn(process.execPath, [MAIN, "--data", dataDir, "--port", "0", "--host", "127.0.0.1", ...extra], {
    env: { ...process.env, PEAGE_LOG_LEVEL: "warn", DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const listening = await new Promise<{ url: string; workers?: number }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url?: string; workers?: number };
        if (event.event === "listening" && event.url) resolve(event as { url: string; workers?: number });
      } catch {
        // Not JSON: ignore.
      }
    });
    void exited.then(({ code }) => reject(new Error(`main.js exited (${code}) before listening: ${stderr}`)));
  });
  return { process: child, url: listening.url, listening, exited };
}

/** The child processes of a process (the server's workers), from /proc (Linux). */
function workerPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}

describe("several server processes on one PostgreSQL database", () => {
  let root: string;
  let dataDir: string;
  let pki: DemoPki;
  let catalog: Catalog;
  let databaseUrl: string;
  let database: string;
  let admin: pg.Client;
  let db: pg.Client;
  let bearer: Record<string, string>;
  let a: Child;
  let b: Child;
  const children: ChildProcess[] = [];

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "peage-multi-test-"));
    pki = await createDemoPki();
    await writePkiDir(join(root, "pki"), pki);
    dataDir = join(root, "data");
    await initDataDir({ dataDir, pkiDir: join(root, "pki") });
    catalog = await signCatalog(
      pki.publisher.identity,
      [{ offerId: "launch", description: "One launch", price: price(PRICE, "EUR"), grant: { kind: "launch" } }],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    // A database of its own on the test cluster: the server keeps its books in its default schema.
    const cluster = new URL(testDatabaseUrl());
    admin = new pg.Client({ connectionString: cluster.toString() });
    await admin.connect();
    database = `peage_multi_${randomBytes(4).toString("hex")}`;
    await admin.query(`CREATE DATABASE ${database}`);
    cluster.pathname = `/${database}`;
    databaseUrl = cluster.toString();
    const keyFile = join(root, "operator.key");
    a = await startChild(dataDir, databaseUrl, ["--workers", "1", "--bootstrap-key", keyFile]);
    children.push(a.process);
    b = await startChild(dataDir, databaseUrl, ["--workers", "1"]);
    children.push(b.process);
    bearer = { authorization: `Bearer ${readFileSync(keyFile, "utf8").trim()}` };
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await Promise.all(
      children.map((child) =>
        child.exitCode === null && child.signalCode === null ? new Promise((resolve) => child.once("exit", resolve)) : undefined,
      ),
    );
    await db?.end();
    await admin?.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin?.end();
    rmSync(root, { recursive: true, force: true });
  });

  /** A prepaid user, enrolled through one process and topped up through the other (or both through `via`). */
  async function enrol(
    name: string,
    balance: number,
    via: readonly [Child, Child] = [a, b],
  ): Promise<{ id: PartyId<"user">; key: KeyPair }> {
    const key = await generateKeyPair("ES256");
    const id = `urn:peage:user:${name}` as PartyId<"user">;
    const enrolled = await post(
      `${via[0].url}/v1/admin/users`,
      { user: id, publicKey: await webcrypto.subtle.exportKey("jwk", key.publicKey), mode: "prepaid", homeCurrency: "EUR" },
      bearer,
    );
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    assert.equal(
      (await post(`${via[1].url}/v1/admin/users/${id}/topups`, { amount: balance, idempotencyKey: `initial-${name}` }, bearer))
        .status,
      201,
    );
    return { id, key };
  }

  async function requests(user: { id: PartyId<"user">; key: KeyPair }, count: number): Promise<PaymentRequest[]> {
    const out: PaymentRequest[] = [];
    for (let i = 0; i < count; i++) {
      const offer = createOffer(catalog.offers[0]!, systemClock);
      out.push(
        await createPaymentRequest({
          offer,
          user: user.id,
          server: pki.server.identity,
          userKey: user.key,
          clock: systemClock,
          ttlMs: 15 * 60_000,
        }),
      );
    }
    return out;
  }

  async function books(
    user: PartyId<"user">,
  ): Promise<{ payments: number; nonces: number; balance: number; acknowledgments: Set<string> }> {
    const rows = (await db.query("SELECT nonce, acknowledgment FROM payments WHERE user_id = $1", [user])).rows as {
      nonce: string;
      acknowledgment: string;
    }[];
    const balance = Number((await db.query("SELECT balance_minor FROM users WHERE id = $1", [user])).rows[0].balance_minor);
    return {
      payments: rows.length,
      nonces: new Set(rows.map((r) => r.nonce)).size,
      balance,
      acknowledgments: new Set(rows.map((r) => r.acknowledgment)),
    };
  }

  it("payments racing on one prepaid balance through two processes: exactly those it covers are acknowledged", async () => {
    const covered = 30;
    const user = await enrol("race", covered * PRICE);
    const sent = await requests(user, 3 * covered);
    const answers = await Promise.all(sent.map((request, i) => post(`${(i % 2 ? a : b).url}/v1/payments`, request)));
    const acknowledged = answers.filter((answer) => answer.status === 200);
    assert.equal(acknowledged.length, covered);
    for (const answer of answers.filter((x) => x.status !== 200)) {
      assert.equal(answer.status, 402, JSON.stringify(answer.body));
      assert.equal(answer.body.code, "ERR_INSUFFICIENT_FUNDS");
    }
    const after = await books(user.id);
    assert.deepEqual([after.payments, after.nonces, after.balance], [covered, covered, 0]);
  });

  it("the same request sent to two processes at once is one payment, acknowledged alike by both", async () => {
    const user = await enrol("twice", 1_000_000);
    const sent = await requests(user, 12);
    const pairs = await Promise.all(
      sent.map((request) => Promise.all([post(`${a.url}/v1/payments`, request), post(`${b.url}/v1/payments`, request)])),
    );
    for (const [first, second] of pairs) {
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.deepEqual(first.body, second.body, "both processes answer with the one recorded acknowledgment");
    }
    const after = await books(user.id);
    assert.deepEqual([after.payments, after.nonces, after.balance], [sent.length, sent.length, 1_000_000 - sent.length * PRICE]);
  });

  it("a key replaced through one process is refused at once by the other, which had just verified it", async () => {
    const user = await enrol("rekeyed", 1_000_000);
    const [first, second, third, ...others] = await requests(user, 5);
    // Both processes have paid with the old key, so both have seen the user's record with it.
    assert.equal((await post(`${a.url}/v1/payments`, first)).status, 200);
    const paid = await post(`${b.url}/v1/payments`, second);
    assert.equal(paid.status, 200);
    const next = await generateKeyPair("ES256");
    const replaced = await fetch(`${a.url}/v1/admin/users/${user.id}/key`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...bearer },
      body: JSON.stringify({ publicKey: await webcrypto.subtle.exportKey("jwk", next.publicKey) }),
    });
    assert.equal(replaced.status, 200);
    // A request recorded before is still answered with its acknowledgment; a new one with the old key is refused.
    assert.deepEqual(await post(`${b.url}/v1/payments`, second), paid);
    const oldKid = await keyThumbprint(user.key.publicKey);
    for (const [process, request] of [
      [b, third!],
      [a, others[0]!],
    ] as const) {
      const refused = await post(`${process.url}/v1/payments`, request);
      assert.equal(refused.status, 422, JSON.stringify(refused.body));
      assert.equal(refused.body.code, "ERR_UNKNOWN_KEY");
      assert.equal(refused.body["detail"], `no key ${oldKid} is enrolled for ${user.id}`);
    }
    const [withNewKey] = await requests({ id: user.id, key: next }, 1);
    assert.equal((await post(`${b.url}/v1/payments`, withNewKey)).status, 200);
    const after = await books(user.id);
    assert.deepEqual([after.payments, after.balance], [3, 1_000_000 - 3 * PRICE]);
  });

  it("one process killed (SIGKILL) mid-load, every request retried on the other: nothing lost, nothing twice", async () => {
    const initial = 10_000_000;
    const user = await enrol("killed", initial);
    const sent = await requests(user, 150);
    const acknowledged = new Map<number, unknown>();
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (next < sent.length) {
        const index = next++;
        const target = index % 2 ? a : b;
        try {
          const answer = await post(`${target.url}/v1/payments`, sent[index]);
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          acknowledged.set(index, answer.body);
        } catch (error) {
          if (!(killed && target === a)) throw error; // Only the killed process's connections may die.
        }
        if (!killed && acknowledged.size >= 50) {
          killed = true;
          a.process.kill("SIGKILL");
        }
      }
    };
    await Promise.all(Array.from({ length: 12 }, worker));
    assert.equal((await a.exited).signal, "SIGKILL");

    const retried = await Promise.all(sent.map((request) => post(`${b.url}/v1/payments`, request)));
    for (const [index, answer] of retried.entries()) {
      assert.equal(answer.status, 200, `request ${index}: ${JSON.stringify(answer.body)}`);
      if (acknowledged.has(index))
        assert.deepEqual(answer.body, acknowledged.get(index), `request ${index} got another acknowledgment on retry`);
    }
    const after = await books(user.id);
    assert.deepEqual([after.payments, after.nonces, after.balance], [sent.length, sent.length, initial - sent.length * PRICE]);
    for (const answer of retried)
      assert.ok(after.acknowledgments.has(JSON.stringify(answer.body)), "an acknowledgment received is missing from the books");
  });

  it("--workers 2: two processes serve one port, a killed worker is replaced, SIGTERM stops them all with exit code 0", async () => {
    const server = await startChild(dataDir, databaseUrl, ["--workers", "2"]);
    children.push(server.process);
    assert.equal(server.listening.workers, 2);
    const user = await enrol("workers", 1_000_000, [server, server]);
    const sent = await requests(user, 20);
    const answers = await Promise.all(sent.map((request) => post(`${server.url}/v1/payments`, request)));
    assert.deepEqual(
      answers.map((answer) => answer.status),
      sent.map(() => 200),
    );

    const workers = workerPids(server.process.pid!);
    assert.equal(workers.length, 2);
    process.kill(workers[0]!, "SIGKILL");
    let replaced: number[] = [];
    for (let wait = 0; wait < 100 && !(replaced.length === 2 && !replaced.includes(workers[0]!)); wait++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      replaced = workerPids(server.process.pid!);
    }
    assert.equal(replaced.length, 2, "the killed worker was not replaced");
    assert.ok(!replaced.includes(workers[0]!));
    const more = await requests(user, 6);
    assert.deepEqual(
      (await Promise.all(more.map((request) => post(`${server.url}/v1/payments`, request)))).map((answer) => answer.status),
      more.map(() => 200),
    );

    server.process.kill("SIGTERM");
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    await assert.rejects(fetch(`${server.url}/v1/payments`, { method: "POST" }), "no worker is left listening");
    assert.equal((await books(user.id)).payments, sent.length + more.length);
    for (const pid of replaced) assert.throws(() => process.kill(pid, 0), "a worker outlived its primary");
  });
});
