/**
 * The payment server on PostgreSQL against PostgreSQL's own yardstick, on one throwaway cluster
 * (scripts/pg-start.sh), in one run:
 *
 *   - `pgbench -b tpcb-like` with C clients: PostgreSQL's standard small write transaction;
 *   - POST /v1/payments through the server (main.js with DATABASE_URL) with C requests in flight,
 *     payments spread over 16 publishers, then every payment to one publisher (hot publisher);
 *   - the same two cases on the store alone (Store.recordPayment with C in flight, no HTTP and no
 *     signatures), which shows what the database side costs and whether one publisher serialises.
 *
 * Payments are spread over 32 prepaid users (one user's payments wait for each other by design:
 * their balance is one row). Bounded: about a minute. Writes docs/benchmarks/postgres.md.
 *
 *   node packages/server/dist/bench/postgres.bench.js
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { webcrypto } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  generateKeyPair,
  issueCertificate,
  price,
  signCatalog,
  systemClock,
  writePkiDir,
  type Catalog,
  type KeyPair,
  type MinorUnits,
  type PartyId,
} from "@peage/protocol";
import { initDataDir, PgStore, type PaymentRecord } from "../src/index.js";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const SCRIPTS = fileURLToPath(new URL("../../../../scripts/", import.meta.url));
const REPORT = fileURLToPath(new URL("../../../../docs/benchmarks/postgres.md", import.meta.url));
const CLIENTS = 8;
const PGBENCH_SCALE = 8;
/** pgbench runs twice, before and after the payments, and the two are averaged: the machine is shared. */
const PGBENCH_SECONDS = 5;
/** Spread and hot alternate in rounds, so that warm-up and background work weigh on both alike. */
const ROUNDS = 4;
const HTTP_ROUND_SECONDS = 2;
const STORE_ROUND_SECONDS = 1;
const HTTP_MAX = 3000;
const WARMUP = 300;
const PUBLISHERS = 16;
const USERS = 32;

interface Cluster {
  readonly url: string;
  readonly dir: string;
  readonly bin: string;
  readonly host: string;
  readonly port: string;
}

function startCluster(): Cluster {
  const out = execFileSync("bash", [join(SCRIPTS, "pg-start.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const vars = Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^'(.*)'$/, "$1")]));
  const url = new URL(vars["PEAGE_TEST_DATABASE_URL"]!);
  return { url: url.toString(), dir: vars["PEAGE_PG_DIR"]!, bin: vars["PEAGE_PG_BIN"]!, host: url.hostname, port: url.port };
}

function psql(cluster: Cluster, sql: string): void {
  execFileSync(join(cluster.bin, "psql"), ["-q", "-h", cluster.host, "-p", cluster.port, "-U", "peage", "-d", "postgres", "-c", sql], { stdio: ["ignore", "ignore", "inherit"] });
}

function pgbenchInit(cluster: Cluster): void {
  psql(cluster, "CREATE DATABASE pgbench");
  execFileSync(join(cluster.bin, "pgbench"), ["-i", "-q", "-s", String(PGBENCH_SCALE), "-h", cluster.host, "-p", cluster.port, "-U", "peage", "pgbench"], { stdio: ["ignore", "ignore", "ignore"] });
}

function pgbench(cluster: Cluster): { tps: number; transactions: number } {
  const common = ["-h", cluster.host, "-p", cluster.port, "-U", "peage"];
  const run = spawnSync(join(cluster.bin, "pgbench"), ["-b", "tpcb-like", "-n", "-c", String(CLIENTS), "-j", "2", "-T", String(PGBENCH_SECONDS), ...common, "pgbench"], { encoding: "utf8" });
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(run.stdout);
  const transactions = /number of transactions actually processed: (\d+)/.exec(run.stdout);
  if (!tps || !transactions) throw new Error(`pgbench failed: ${run.stdout}${run.stderr}`);
  return { tps: Number(tps[1]), transactions: Number(transactions[1]) };
}

async function startServer(dataDir: string, keyFile: string, databaseUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, "--data", dataDir, "--port", "0", "--host", "127.0.0.1", "--bootstrap-key", keyFile], {
    env: { ...process.env, PEAGE_LOG_LEVEL: "warn", DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the server exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.includes('"listening"')) resolve((JSON.parse(line) as { url: string }).url);
    });
  });
  return { child, url };
}

interface Load {
  done: number;
  errors: number;
  seconds: number;
  /** The next request to send. */
  next: number;
}

const newLoad = (): Load => ({ done: 0, errors: 0, seconds: 0, next: 0 });
const perSecond = (load: Load) => load.done / load.seconds;

/** Runs `send` with CLIENTS in flight for `seconds` (or until `count` are sent), adding to `load`. */
async function drive(load: Load, count: number, seconds: number, send: (i: number) => Promise<boolean>): Promise<void> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    while (load.next < count && performance.now() < deadline) {
      if (await send(load.next++)) load.done++;
      else load.errors++;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, worker));
  load.seconds += (performance.now() - start) / 1000;
}

/** Alternates the two cases in rounds (spread first in even rounds, hot first in odd ones). */
async function alternate(rounds: number, seconds: number, count: number, spread: [Load, (i: number) => Promise<boolean>], hot: [Load, (i: number) => Promise<boolean>]): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [spread, hot] : [hot, spread];
    for (const [load, send] of order) await drive(load, count, seconds, send);
  }
}

async function main(): Promise<void> {
  const loadAverage = loadavg()[0] ?? 0;
  const root = mkdtempSync(join(tmpdir(), "peage-pg-bench-"));
  let cluster: Cluster | undefined;
  let child: ChildProcess | undefined;
  try {
    cluster = startCluster();
    pgbenchInit(cluster);
    process.stdout.write(`pgbench -b tpcb-like, ${CLIENTS} clients, scale ${PGBENCH_SCALE}, ${PGBENCH_SECONDS} s…\n`);
    const benchBefore = pgbench(cluster);
    process.stdout.write(`  ${benchBefore.tps.toFixed(0)} tps\n`);

    // The server, with its own database on the same cluster.
    psql(cluster, "CREATE DATABASE peage_bench");
    const databaseUrl = `postgres://peage@${cluster.host}:${cluster.port}/peage_bench`;
    const pki = await createDemoPki();
    await writePkiDir(join(root, "pki"), pki);
    const dataDir = join(root, "data");
    await initDataDir({ dataDir, pkiDir: join(root, "pki") });
    const keyFile = join(root, "operator.key");
    const server = await startServer(dataDir, keyFile, databaseUrl);
    child = server.child;
    const operator = { "content-type": "application/json", authorization: `Bearer ${readFileSync(keyFile, "utf8").trim()}` };
    const post = (path: string, body: unknown, headers: Record<string, string> = { "content-type": "application/json" }) =>
      fetch(`${server.url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

    // Publishers certified by the demo PKI's publishers' CA, each with a catalog of one offer.
    const catalogs: Catalog[] = [];
    for (let p = 0; p < PUBLISHERS; p++) {
      const identity = `urn:peage:publisher:bench-${p}` as PartyId<"publisher">;
      const keys = await generateKeyPair("ES256");
      const certificate = await issueCertificate({
        issuer: pki.publishersCa,
        subject: `CN=bench-${p},O=Péage`,
        publicKey: keys.publicKey,
        notBefore: new Date(Date.now() - 3_600_000),
        notAfter: new Date(Date.now() + 86_400_000),
        roles: ["offer-signing"],
        identity,
      });
      catalogs.push(await signCatalog(identity, [{ offerId: "launch", description: "One launch", price: price(100, "EUR"), grant: { kind: "launch" } }], keys, pki.chainOf(certificate)));
    }
    const users: { id: PartyId<"user">; key: KeyPair }[] = [];
    for (let u = 0; u < USERS; u++) {
      const key = await generateKeyPair("ES256");
      const id = `urn:peage:user:bench-${u}` as PartyId<"user">;
      await post("/v1/admin/users", { user: id, publicKey: await webcrypto.subtle.exportKey("jwk", key.publicKey), mode: "prepaid", homeCurrency: "EUR" }, operator);
      await post(`/v1/admin/users/${id}/topups`, { amount: 1_000_000_000, idempotencyKey: `bench-topup-${u}` }, operator);
      users.push({ id, key });
    }
    const requests = async (count: number, publisherOf: (i: number) => number): Promise<string[]> => {
      const bodies: string[] = [];
      for (let i = 0; i < count; i++) {
        const user = users[i % USERS]!;
        const offer = createOffer(catalogs[publisherOf(i)]!.offers[0]!, systemClock);
        bodies.push(JSON.stringify(await createPaymentRequest({ offer, user: user.id, server: pki.server.identity, userKey: user.key, clock: systemClock, ttlMs: 15 * 60_000 })));
      }
      return bodies;
    };
    const send = (bodies: readonly string[]) => async (i: number) => {
      const response = await fetch(`${server.url}/v1/payments`, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[i]! });
      await response.arrayBuffer();
      return response.status === 200;
    };
    // Warm-up: every publisher's chain validated and cached, connections opened, code compiled.
    await drive(newLoad(), WARMUP, 60, send(await requests(WARMUP, (i) => i % PUBLISHERS)));

    process.stdout.write(`through the server, ${CLIENTS} in flight, ${ROUNDS} rounds of ${HTTP_ROUND_SECONDS} s each…\n`);
    const httpSpread = newLoad();
    const httpHot = newLoad();
    await alternate(ROUNDS, HTTP_ROUND_SECONDS, HTTP_MAX, [httpSpread, send(await requests(HTTP_MAX, (i) => i % PUBLISHERS))], [httpHot, send(await requests(HTTP_MAX, () => 0))]);
    process.stdout.write(`  ${perSecond(httpSpread).toFixed(0)} payments/s over ${PUBLISHERS} publishers, ${perSecond(httpHot).toFixed(0)} to one\n`);
    child.kill("SIGTERM");
    await new Promise((resolve) => child!.once("exit", resolve));

    // The store alone, in this process: the database side of a payment.
    const store = await PgStore.open(databaseUrl, { poolSize: CLIENTS });
    let serial = 0;
    const record = (publisher: number) => async (i: number) => {
      const id = `pay_store_${++serial}`;
      const payment: PaymentRecord = {
        id,
        user: users[i % USERS]!.id,
        publisher: `urn:peage:publisher:bench-${publisher === -1 ? i % PUBLISHERS : publisher}` as PartyId<"publisher">,
        offerHash: "h",
        price: price(100, "EUR"),
        charged: price(100, "EUR"),
        rate: "1.0000000000",
        rateDate: undefined,
        nonce: `nonce_${id}`,
        offerDate: new Date().toISOString(),
        serverTime: new Date().toISOString(),
        requestHash: id,
        acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: id },
        fee: 0 as MinorUnits,
      };
      return (await store.recordPayment(payment)).kind === "recorded";
    };
    process.stdout.write(`the store alone, ${CLIENTS} in flight…\n`);
    const storeSpread = newLoad();
    const storeHot = newLoad();
    await alternate(ROUNDS, STORE_ROUND_SECONDS, Number.MAX_SAFE_INTEGER, [storeSpread, record(-1)], [storeHot, record(0)]);
    const audit = await store.auditLedger();
    await store.close();
    process.stdout.write(`  ${perSecond(storeSpread).toFixed(0)} payments/s over ${PUBLISHERS} publishers, ${perSecond(storeHot).toFixed(0)} to one\n`);
    if (audit.unbalanced.length + audit.balanceMismatches.length > 0) throw new Error("the ledger does not balance after the benchmark");

    const benchAfter = pgbench(cluster);
    process.stdout.write(`pgbench again: ${benchAfter.tps.toFixed(0)} tps\n`);
    const bench = { tps: (benchBefore.tps + benchAfter.tps) / 2, transactions: benchBefore.transactions + benchAfter.transactions, before: benchBefore.tps, after: benchAfter.tps };
    const report = render({ bench, httpSpread, httpHot, storeSpread, storeHot, loadAverage, transactions: audit.transactions });
    process.stdout.write(`\n${report}`);
    mkdirSync(join(REPORT, ".."), { recursive: true });
    writeFileSync(REPORT, report);
    process.stdout.write(`\nwritten to ${REPORT}\n`);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (cluster) spawnSync("bash", [join(SCRIPTS, "pg-stop.sh"), cluster.dir], { stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
}

function render(r: { bench: { tps: number; transactions: number; before: number; after: number }; httpSpread: Load; httpHot: Load; storeSpread: Load; storeHot: Load; loadAverage: number; transactions: number }): string {
  const f0 = (n: number) => n.toFixed(0);
  const ratio = (load: Load) => (perSecond(load) / r.bench.tps).toFixed(2);
  const row = (what: string, load: Load) => `| ${what} | ${load.done} | ${load.errors} | ${f0(perSecond(load))} | ${ratio(load)} |`;
  return [
    "## Payment server on PostgreSQL",
    "",
    `One throwaway PostgreSQL 15 cluster (scripts/pg-start.sh: fsync on, synchronous_commit on, default settings otherwise), ${CLIENTS} clients or requests in flight throughout, server, database and load generator on the same machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, Node ${process.version}, 1-minute load average ${r.loadAverage.toFixed(1)} when the run began. Payments are spread over ${USERS} prepaid users. \`node packages/server/dist/bench/postgres.bench.js\` reproduces it.`,
    "",
    "| workload | transactions | errors | per second | ÷ pgbench tps |",
    "|---|---:|---:|---:|---:|",
    `| \`pgbench -b tpcb-like -c ${CLIENTS} -j 2 -T ${PGBENCH_SECONDS}\`, scale ${PGBENCH_SCALE}, before and after the rest (${f0(r.bench.before)} and ${f0(r.bench.after)} tps) | ${r.bench.transactions} | 0 | ${f0(r.bench.tps)} | 1.00 |`,
    row(`POST /v1/payments, ${PUBLISHERS} publishers`, r.httpSpread),
    row("POST /v1/payments, one publisher (hot)", r.httpHot),
    row(`Store.recordPayment alone, ${PUBLISHERS} publishers`, r.storeSpread),
    row("Store.recordPayment alone, one publisher (hot)", r.storeHot),
    "",
    `The payment cases alternate in ${ROUNDS} rounds each (${HTTP_ROUND_SECONDS} s through the server, ${STORE_ROUND_SECONDS} s on the store), so that warm-up and background work weigh on both alike. Hot publisher ÷ spread: ${(perSecond(r.httpHot) / perSecond(r.httpSpread)).toFixed(2)} through the server, ${(perSecond(r.storeHot) / perSecond(r.storeSpread)).toFixed(2)} on the store alone. A publisher's credit is an appended posting, not an update of a balance row, so payments to one publisher do not wait for each other; a ratio near 1 says so. The ledger balanced after the run (${r.transactions} transactions).`,
    "",
    "A tpcb-like transaction is five statements (three updates, a select, an insert) in one commit. A payment's transaction takes the ledger's shared advisory lock, locks the user's row, checks the nonce, inserts the payment, its ledger transaction and its postings, updates the balance: about ten statements and one commit. Through the server each payment also costs HTTP, JSON and schema checks, two ECDSA verifications and one signature, on the same two cores as PostgreSQL and the load generator, which is why the server's figure is the lower one.",
    "",
  ].join("\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
