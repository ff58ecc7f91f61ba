/**
 * The payment server on PostgreSQL against PostgreSQL's own yardstick, on one throwaway cluster
 * (scripts/pg-start.sh), in one run:
 *
 *   - `pgbench -b tpcb-like` with C clients: PostgreSQL's standard small write transaction; its
 *     failed transactions and aborted clients are read from its output;
 *   - POST /v1/payments through the server (main.js with DATABASE_URL, its default number of
 *     worker processes: one per core) with C requests in flight, payments spread over 16
 *     publishers, then every payment to one publisher (hot publisher), then spread again with a
 *     webhook endpoint registered (what fanning out and delivering every event costs);
 *   - the same two cases on the store alone (Store.recordPayment with C in flight, no HTTP and no
 *     signatures), which shows what the database side costs and whether one publisher serialises,
 *     and beside them the store without group commit, statement by statement (as before the
 *     function peage_record_payments), and with the webhook outbox's trigger switched on (as it is
 *     while an endpoint is registered; with none, the default, it writes nothing).
 *
 * All alternate in rounds, so that other work on the machine weighs on the baseline and the
 * payments alike. Payments are spread over 32 prepaid users (one user's payments wait for each
 * other by design: their balance is one row). Bounded: about two minutes. Writes
 * docs/benchmarks/postgres.md and its targets.
 *
 *   node packages/server/dist/bench/postgres.bench.js
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
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
  verifyAcknowledgment,
  writePkiDir,
  type Catalog,
  type KeyPair,
  type MinorUnits,
  type PartyId,
} from "@peage/protocol";
import { initDataDir, PgStore, type PaymentRecord } from "../src/index.js";
import {
  AnswerSample,
  describeProblems,
  PaymentClient,
  preparePayment,
  type PreparedPayment,
  type Problems,
} from "./http-load.js";
import { ownCpuSeconds, selfCpuSeconds, treeCpuSeconds } from "./process-cpu.js";
import { f0, f2, publishSection, type Target } from "./report.js";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const SCRIPTS = fileURLToPath(new URL("../../../../scripts/", import.meta.url));
const CLIENTS = 8;
const PGBENCH_SCALE = 8;
/** pgbench runs this long in each round, before the payment cases of the round. */
const PGBENCH_SECONDS = 2;
/** Baseline, spread and hot alternate in rounds, so that warm-up and background work weigh on all alike. */
const ROUNDS = 4;
const HTTP_ROUND_SECONDS = 2;
const STORE_ROUND_SECONDS = 1;
const HTTP_MAX = 3000;
const WARMUP = 300;
const PUBLISHERS = 16;
const USERS = 32;
/** One answer in this many is checked in full (verifyAcknowledgment) after its round. */
const SAMPLE_EVERY = 50;

interface Cluster {
  readonly url: string;
  readonly dir: string;
  readonly bin: string;
  readonly host: string;
  readonly port: string;
}

function startCluster(): Cluster {
  const out = execFileSync("bash", [join(SCRIPTS, "pg-start.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const vars = Object.fromEntries(
    [...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^'(.*)'$/, "$1")]),
  );
  const url = new URL(vars["PEAGE_TEST_DATABASE_URL"]!);
  return { url: url.toString(), dir: vars["PEAGE_PG_DIR"]!, bin: vars["PEAGE_PG_BIN"]!, host: url.hostname, port: url.port };
}

function psql(cluster: Cluster, sql: string, database = "postgres"): void {
  execFileSync(
    join(cluster.bin, "psql"),
    ["-q", "-h", cluster.host, "-p", cluster.port, "-U", "peage", "-d", database, "-c", sql],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}

interface Settings {
  readonly version: string;
  readonly fsync: string;
  readonly synchronousCommit: string;
}

/** One value from the cluster (psql -At). */
function psqlValue(cluster: Cluster, sql: string): string {
  return execFileSync(
    join(cluster.bin, "psql"),
    ["-Atq", "-h", cluster.host, "-p", cluster.port, "-U", "peage", "-d", "postgres", "-c", sql],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    },
  ).trim();
}

function settingsOf(cluster: Cluster): Settings {
  return {
    version: psqlValue(cluster, "SHOW server_version"),
    fsync: psqlValue(cluster, "SHOW fsync"),
    synchronousCommit: psqlValue(cluster, "SHOW synchronous_commit"),
  };
}

function pgbenchInit(cluster: Cluster): void {
  psql(cluster, "CREATE DATABASE pgbench");
  execFileSync(
    join(cluster.bin, "pgbench"),
    ["-i", "-q", "-s", String(PGBENCH_SCALE), "-h", cluster.host, "-p", cluster.port, "-U", "peage", "pgbench"],
    { stdio: ["ignore", "ignore", "ignore"] },
  );
}

interface Pgbench {
  transactions: number;
  failed: number;
  /** Seconds of measuring, without connection time: transactions / tps, summed over the rounds. */
  seconds: number;
  readonly rounds: number[];
  /** CPU seconds of PostgreSQL and of pgbench itself (as `client`) during the runs. */
  readonly cpu: Cpu;
}

/** One pgbench run, added to `into`; its failures are read from its output, never assumed. */
function pgbench(cluster: Cluster, into: Pgbench): void {
  const common = ["-h", cluster.host, "-p", cluster.port, "-U", "peage"];
  const run = spawnSync(
    join(cluster.bin, "pgbench"),
    ["-b", "tpcb-like", "-n", "-c", String(CLIENTS), "-j", "2", "-T", String(PGBENCH_SECONDS), ...common, "pgbench"],
    { encoding: "utf8" },
  );
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(run.stdout);
  const transactions = /number of transactions actually processed: (\d+)/.exec(run.stdout);
  if (!tps || !transactions) throw new Error(`pgbench failed: ${run.stdout}${run.stderr}`);
  // PostgreSQL 15's pgbench reports failed transactions; a client that hits an error it does not
  // retry aborts, says so on stderr, and its transactions stop counting.
  const failed = /number of failed transactions: (\d+)/.exec(run.stdout);
  const aborted = (run.stderr.match(/^.*client \d+ aborted.*$/gm) ?? []).length;
  into.transactions += Number(transactions[1]);
  into.failed += (failed ? Number(failed[1]) : 0) + aborted;
  into.seconds += Number(transactions[1]) / Number(tps[1]);
  into.rounds.push(Number(tps[1]));
}

async function startServer(
  dataDir: string,
  keyFile: string,
  databaseUrl: string,
): Promise<{ child: ChildProcess; url: string; workers: number }> {
  const child = spawn(
    process.execPath,
    [MAIN, "--data", dataDir, "--port", "0", "--host", "127.0.0.1", "--bootstrap-key", keyFile],
    {
      env: { ...process.env, PEAGE_LOG_LEVEL: "warn", DATABASE_URL: databaseUrl },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const listening = await new Promise<{ url: string; workers: number }>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the server exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.includes('"listening"')) resolve(JSON.parse(line) as { url: string; workers: number });
    });
  });
  return { child, ...listening };
}

interface Load {
  done: number;
  errors: number;
  seconds: number;
  /** The next request to send. */
  next: number;
  /** CPU seconds spent meanwhile by the server's processes, PostgreSQL's, and this one (the load generator, or the store). */
  readonly cpu: Cpu;
}

interface Cpu {
  server: number;
  /** Of `server`, the first process's own: it hands the connections to the workers (node:cluster). */
  primary: number;
  postgres: number;
  client: number;
}

const newLoad = (): Load => ({ done: 0, errors: 0, seconds: 0, next: 0, cpu: { server: 0, primary: 0, postgres: 0, client: 0 } });

/** The processes whose CPU time is read: the server's first process (its workers are its children) and PostgreSQL's postmaster. */
interface Meters {
  readonly server: number;
  readonly postmaster: number;
}

function sample(meters: Meters): Cpu & { reaped: number } {
  const self = selfCpuSeconds();
  return {
    server: treeCpuSeconds(meters.server),
    primary: ownCpuSeconds(meters.server),
    postgres: treeCpuSeconds(meters.postmaster),
    client: self.own,
    reaped: self.reaped,
  };
}

function addCpu(into: Cpu, before: Cpu, after: Cpu): void {
  into.server += after.server - before.server;
  into.primary += after.primary - before.primary;
  into.postgres += after.postgres - before.postgres;
  into.client += after.client - before.client;
}
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

/** A load, the most requests it may send, seconds per round, how to send one, and what to set up around each round. */
type Case = readonly [Load, number, number, (i: number) => Promise<boolean>, Around?];
type Around = (run: () => Promise<void>) => Promise<void>;

/** Runs the cases in rounds: pgbench first, then every case, in reversed order every other round. */
async function alternate(
  cluster: Cluster,
  meters: Meters,
  baseline: Pgbench,
  cases: readonly Case[],
  afterCase: (load: Load) => Promise<void>,
): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    const start = sample(meters);
    pgbench(cluster, baseline);
    const end = sample(meters);
    // pgbench's own CPU is this process's reaped children's.
    addCpu(baseline.cpu, { ...start, client: start.reaped }, { ...end, client: end.reaped });
    process.stdout.write(`round ${round + 1} of ${ROUNDS}: pgbench ${f0(baseline.rounds.at(-1)!)} tps`);
    for (const [load, count, seconds, send, around] of round % 2 === 0 ? cases : [...cases].reverse()) {
      const [done, elapsed] = [load.done, load.seconds];
      const run = async () => {
        const before = sample(meters);
        await drive(load, count, seconds, send);
        addCpu(load.cpu, before, sample(meters));
      };
      await (around ? around(run) : run());
      await afterCase(load);
      process.stdout.write(`, ${f0((load.done - done) / (load.seconds - elapsed))}/s`);
    }
    process.stdout.write("\n");
  }
}

async function main(): Promise<void> {
  const loadAverage = loadavg()[0] ?? 0;
  const root = mkdtempSync(join(tmpdir(), "peage-pg-bench-"));
  let cluster: Cluster | undefined;
  let child: ChildProcess | undefined;
  try {
    cluster = startCluster();
    const settings = settingsOf(cluster);
    pgbenchInit(cluster);

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
      catalogs.push(
        await signCatalog(
          identity,
          [{ offerId: "launch", description: "One launch", price: price(100, "EUR"), grant: { kind: "launch" } }],
          keys,
          pki.chainOf(certificate),
        ),
      );
    }
    const users: { id: PartyId<"user">; key: KeyPair }[] = [];
    for (let u = 0; u < USERS; u++) {
      const key = await generateKeyPair("ES256");
      const id = `urn:peage:user:bench-${u}` as PartyId<"user">;
      await post(
        "/v1/admin/users",
        { user: id, publicKey: await webcrypto.subtle.exportKey("jwk", key.publicKey), mode: "prepaid", homeCurrency: "EUR" },
        operator,
      );
      await post(`/v1/admin/users/${id}/topups`, { amount: 1_000_000_000, idempotencyKey: `bench-topup-${u}` }, operator);
      users.push({ id, key });
    }
    // Signed and serialised before the rounds that send them.
    const requests = async (count: number, publisherOf: (i: number) => number): Promise<PreparedPayment[]> => {
      const payments: PreparedPayment[] = [];
      for (let i = 0; i < count; i++) {
        const user = users[i % USERS]!;
        const offer = createOffer(catalogs[publisherOf(i)]!.offers[0]!, systemClock);
        const request = await createPaymentRequest({
          offer,
          user: user.id,
          server: pki.server.identity,
          userKey: user.key,
          clock: systemClock,
          ttlMs: 15 * 60_000,
        });
        payments.push(preparePayment(request, offer));
      }
      return payments;
    };
    // The load generator (http-load.ts): one kept-alive connection per request in flight, each answer checked.
    const sample = new AnswerSample(SAMPLE_EVERY);
    const client = new PaymentClient(server.url, CLIENTS, sample);
    const send = (payments: readonly PreparedPayment[]) => async (i: number) =>
      (await client.post(payments[i]!)) === "acknowledged";
    const trust = pki.trustStore();
    // The sampled answers checked in full after each case, outside its timed window; one that fails is an error.
    const checkSample = async (load: Load) => {
      const failed = await sample.drain(
        async (answer, offer) =>
          (await verifyAcknowledgment(answer, offer, { trust, clock: systemClock, server: pki.server.identity })).ok,
      );
      load.done -= failed;
      load.errors += failed;
    };
    // Warm-up: every publisher's chain validated and cached, connections opened, code compiled.
    const warmup = newLoad();
    await drive(warmup, WARMUP, 60, send(await requests(WARMUP, (i) => i % PUBLISHERS)));
    await checkSample(warmup);

    // The store alone, in this process: the database side of a payment.
    const store = await PgStore.open(databaseUrl, { poolSize: CLIENTS });
    const separate = await PgStore.open(databaseUrl, { poolSize: CLIENTS, batchesInFlight: Number.POSITIVE_INFINITY });
    const statements = await PgStore.open(databaseUrl, { poolSize: CLIENTS, paymentCall: "statements" });
    // The webhook outbox's trigger switched on for a round, as an endpoint would (store/outbox-gate.ts), to
    // measure what it costs a payment; the gate then sets it back as the endpoints want it (off: there are none).
    const outboxOn: Around = async (run) => {
      psql(cluster!, "ALTER TABLE payments ENABLE TRIGGER payments_outbox", "peage_bench");
      try {
        await run();
      } finally {
        psql(cluster!, "SELECT peage_gate_outbox()", "peage_bench");
      }
    };
    // A webhook endpoint registered for a round: the server's workers fan out and deliver every payment's event to it.
    const sink = await webhookSink();
    const withEndpoint: Around = async (run) => {
      const registered = await post("/v1/admin/webhooks", { url: sink.url, label: "bench" }, operator);
      if (registered.status !== 201) throw new Error(`registering the endpoint: ${registered.status} ${await registered.text()}`);
      const { id } = (await registered.json()) as { id: string };
      try {
        await run();
      } finally {
        await fetch(`${server.url}/v1/admin/webhooks/${id}`, {
          method: "DELETE",
          headers: { authorization: operator.authorization },
        });
      }
    };
    let serial = 0;
    const record =
      (publisher: number, on: PgStore = store) =>
      async (i: number) => {
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
        return (await on.recordPayment(payment)).kind === "recorded";
      };
    process.stdout.write(
      `${ROUNDS} rounds: pgbench ${PGBENCH_SECONDS} s, then ${CLIENTS} in flight through the server (${server.workers} worker processes: spread, hot, an endpoint) and on the store alone (spread, hot, no group commit, statements, outbox trigger on)…\n`,
    );
    const baseline: Pgbench = {
      transactions: 0,
      failed: 0,
      seconds: 0,
      rounds: [],
      cpu: { server: 0, primary: 0, postgres: 0, client: 0 },
    };
    const postmaster = Number(readFileSync(join(cluster.dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
    const [httpSpread, httpHot, httpEndpoint, storeSpread, storeHot, storeSeparate, storeStatements, storeOutboxOn] = Array.from(
      { length: 8 },
      newLoad,
    ) as [Load, Load, Load, Load, Load, Load, Load, Load];
    await alternate(
      cluster,
      { server: child.pid!, postmaster },
      baseline,
      [
        [httpSpread, HTTP_MAX * ROUNDS, HTTP_ROUND_SECONDS, send(await requests(HTTP_MAX * ROUNDS, (i) => i % PUBLISHERS))],
        [httpHot, HTTP_MAX * ROUNDS, HTTP_ROUND_SECONDS, send(await requests(HTTP_MAX * ROUNDS, () => 0))],
        [
          httpEndpoint,
          HTTP_MAX * ROUNDS,
          HTTP_ROUND_SECONDS,
          send(await requests(HTTP_MAX * ROUNDS, (i) => i % PUBLISHERS)),
          withEndpoint,
        ],
        [storeSpread, Number.MAX_SAFE_INTEGER, STORE_ROUND_SECONDS, record(-1)],
        [storeHot, Number.MAX_SAFE_INTEGER, STORE_ROUND_SECONDS, record(0)],
        [storeSeparate, Number.MAX_SAFE_INTEGER, STORE_ROUND_SECONDS, record(-1, separate)],
        [storeStatements, Number.MAX_SAFE_INTEGER, STORE_ROUND_SECONDS, record(-1, statements)],
        [storeOutboxOn, Number.MAX_SAFE_INTEGER, STORE_ROUND_SECONDS, record(-1), outboxOn],
      ],
      checkSample,
    );
    client.close();
    const rssMiB = workersPeakRssMiB(child.pid!);
    child.kill("SIGTERM");
    await new Promise((resolve) => child!.once("exit", resolve));
    const audit = await store.auditLedger();
    const batchesInFlight = store.batchesInFlight;
    await store.close();
    await separate.close();
    await statements.close();
    const delivered = await sink.close();
    if (audit.unbalanced.length + audit.balanceMismatches.length > 0)
      throw new Error("the ledger does not balance after the benchmark");
    const r = {
      baseline,
      httpSpread,
      httpHot,
      storeSpread,
      storeHot,
      storeSeparate,
      storeStatements,
      storeOutboxOn,
      httpEndpoint,
      delivered,
      loadAverage,
      transactions: audit.transactions,
      workers: server.workers,
      batchesInFlight,
      rssMiB,
      settings,
      sample: { verified: sample.verified, failed: sample.failed },
      problems: client.problems,
    };
    publishSection("postgres", render(r), targets(r));
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (cluster) spawnSync("bash", [join(SCRIPTS, "pg-stop.sh"), cluster.dir], { stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
}

/** A webhook receiver on this machine that answers 204 to every delivery and counts them. */
async function webhookSink(): Promise<{ url: string; close(): Promise<number> }> {
  let delivered = 0;
  const sink = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      delivered++;
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const { port } = sink.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    close: async () => {
      sink.closeAllConnections();
      await new Promise((resolve) => sink.close(resolve));
      return delivered;
    },
  };
}

/** Peak resident set size of a process, from /proc (Linux), in MiB. */
function peakRssMiB(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The largest peak resident set size among a process's children (the server's workers), in MiB. */
function workersPeakRssMiB(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    const peaks = children.map(peakRssMiB).filter((peak): peak is number => peak !== undefined);
    return peaks.length > 0 ? Math.max(...peaks) : peakRssMiB(pid);
  } catch {
    return peakRssMiB(pid);
  }
}

interface Results {
  readonly baseline: Pgbench;
  readonly httpSpread: Load;
  readonly httpHot: Load;
  readonly storeSpread: Load;
  readonly storeHot: Load;
  readonly storeSeparate: Load;
  readonly storeStatements: Load;
  readonly storeOutboxOn: Load;
  readonly httpEndpoint: Load;
  /** Webhook deliveries the sink received while an endpoint was registered. */
  readonly delivered: number;
  readonly loadAverage: number;
  readonly transactions: number;
  readonly workers: number;
  /** Payment transactions the store keeps under way at once (its group commit), read from the store. */
  readonly batchesInFlight: number;
  readonly rssMiB: number | undefined;
  /** The cluster's version and durability settings, read from it. */
  readonly settings: Settings;
  /** Answers checked in full after their round, and those that were not acknowledgments of their request. */
  readonly sample: { readonly verified: number; readonly failed: number };
  readonly problems: Problems;
}

const tps = (b: Pgbench) => b.transactions / b.seconds;

function targets(r: Results): Target[] {
  const server = perSecond(r.httpSpread) / tps(r.baseline);
  const hot = perSecond(r.httpHot) / perSecond(r.httpSpread);
  return [
    {
      target: `PostgreSQL: payments/s through the server ÷ pgbench tpcb-like tps, ${CLIENTS} clients`,
      measured: f2(server),
      goal: "≥ 1.0",
      met: server >= 1,
      from: `${f0(perSecond(r.httpSpread))} payments/s, ${f0(tps(r.baseline))} tps (${r.workers} server processes)`,
    },
    {
      target: "PostgreSQL: one hot publisher ÷ many publishers, through the server",
      measured: f2(hot),
      goal: "≥ 0.95",
      met: hot >= 0.95,
      from: `${f0(perSecond(r.httpHot))} and ${f0(perSecond(r.httpSpread))} payments/s`,
    },
    {
      target: "peak resident memory of a server worker process (PostgreSQL load; the largest of them)",
      measured: r.rssMiB === undefined ? "n/a" : `${f0(r.rssMiB)} MiB`,
      goal: "reported",
      met: true,
      from: "VmHWM",
    },
  ];
}

function render(r: Results): string {
  const ratio = (load: Load) => f2(perSecond(load) / tps(r.baseline));
  const row = (what: string, load: Load) =>
    `| ${what} | ${load.done} | ${load.errors} | ${f0(perSecond(load))} | ${ratio(load)} |`;
  /** How much fewer (or more, on a run where noise outweighs the difference) payments/s `part` made than `whole`. */
  const share = (part: Load, whole: Load) => {
    const less = 1 - perSecond(part) / perSecond(whole);
    return `${f0(100 * Math.abs(less))} % ${less >= 0 ? "less" : "more"}`;
  };
  return [
    "## Payment server on PostgreSQL",
    "",
    `One throwaway PostgreSQL ${r.settings.version} cluster (scripts/pg-start.sh: fsync ${r.settings.fsync}, synchronous_commit ${r.settings.synchronousCommit}, read from the cluster; default settings otherwise), ${CLIENTS} clients or requests in flight throughout, server (${r.workers} worker processes sharing the port, the default on this machine), database and load generator on the same machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, Node ${process.version}, 1-minute load average ${r.loadAverage.toFixed(1)} when the run began. Payments are spread over ${USERS} prepaid users. \`node packages/server/dist/bench/postgres.bench.js\` reproduces it.`,
    "",
    "| workload | transactions | errors | per second | ÷ pgbench tps |",
    "|---|---:|---:|---:|---:|",
    `| \`pgbench -b tpcb-like -c ${CLIENTS} -j 2 -T ${PGBENCH_SECONDS}\`, scale ${PGBENCH_SCALE}, once per round (${r.baseline.rounds.map(f0).join(", ")} tps) | ${r.baseline.transactions} | ${r.baseline.failed} | ${f0(tps(r.baseline))} | 1.00 |`,
    row(`POST /v1/payments, ${PUBLISHERS} publishers`, r.httpSpread),
    row("POST /v1/payments, one publisher (hot)", r.httpHot),
    row(`POST /v1/payments, ${PUBLISHERS} publishers, a webhook endpoint registered for every event`, r.httpEndpoint),
    row(`Store.recordPayment alone, ${PUBLISHERS} publishers`, r.storeSpread),
    row("Store.recordPayment alone, one publisher (hot)", r.storeHot),
    row(
      `Store.recordPayment alone, ${PUBLISHERS} publishers, group commit off (a call and a commit per payment)`,
      r.storeSeparate,
    ),
    row(
      `Store.recordPayment alone, ${PUBLISHERS} publishers, statement by statement (each query a round trip)`,
      r.storeStatements,
    ),
    row(`Store.recordPayment alone, ${PUBLISHERS} publishers, the webhook outbox trigger switched on`, r.storeOutboxOn),
    "",
    `The workloads alternate in ${ROUNDS} rounds (pgbench ${PGBENCH_SECONDS} s, ${HTTP_ROUND_SECONDS} s for each case through the server, ${STORE_ROUND_SECONDS} s for each on the store, in reversed order every other round), so that warm-up and background work weigh on all alike; each figure sums its rounds. pgbench's errors are its failed transactions and aborted clients, read from its output. Hot publisher ÷ spread: ${f2(perSecond(r.httpHot) / perSecond(r.httpSpread))} through the server, ${f2(perSecond(r.storeHot) / perSecond(r.storeSpread))} on the store alone. A publisher's credit is an appended posting, not an update of a balance row, so payments to one publisher do not wait for each other; a ratio near 1 says so. The ledger balanced after the run (${r.transactions} transactions).`,
    "",
    `What a payment costs the database: one call of the function peage_record_payments (one round trip; at READ COMMITTED the call is its own transaction, with no BEGIN or COMMIT to send), and payments that arrive while the store's ${r.batchesInFlight} payment transactions are under way go together in the next call, one transaction and one commit for the batch (group commit). Statement by statement, as every other operation runs, a payment is a round trip for each of these statements (BEGIN, the ledger's shared advisory lock, the user's row locked, the nonce checked, the closed periods read, the payment, its ledger transaction and postings inserted, the balance updated, COMMIT): the function records ${f2(perSecond(r.storeSpread) / perSecond(r.storeStatements))} × as many payments per second as the statements in this run, and group commit ${f2(perSecond(r.storeSpread) / perSecond(r.storeSeparate))} × as many as a call per payment. A tpcb-like transaction is BEGIN, three updates, a select, an insert and END; a payment writes the payment, its ledger transaction, its postings and the user's balance (and its outbox event while an endpoint wants it), each row with its indexes.`,
    "",
    `The webhook outbox: a trigger writes an event row with each payment, in its transaction, while an endpoint wants payment events; with none registered (store/outbox-gate.ts), it is switched off and a payment writes nothing for webhooks. Switched on for its rounds, the store alone records ${f0(perSecond(r.storeOutboxOn))} payments/s against ${f0(perSecond(r.storeSpread))} without it (with ÷ without: ${f2(perSecond(r.storeOutboxOn) / perSecond(r.storeSpread))}), and PostgreSQL spends ${cpuMs(r.storeOutboxOn, "postgres")} ms of CPU per payment with it against ${cpuMs(r.storeSpread, "postgres")} without (table below), a measure less moved by the machine's other load than a rate is; with no endpoint, the server's outbox worker closes those events in one statement per pass, in PostgreSQL's figure and the server processes' one. With a webhook endpoint registered (a receiver on this machine answering 204), the server's workers also fan each event out to a delivery and send it (${r.delivered} deliveries received while ${r.httpEndpoint.done} payments were recorded in those rounds: what is not delivered by the end of a round is still owed, so the rate below leaves out part of the delivery work): ${f0(perSecond(r.httpEndpoint))} payments/s through the server against ${f0(perSecond(r.httpSpread))} with none, ${share(r.httpEndpoint, r.httpSpread)}; CPU per payment, server and PostgreSQL: ${cpuMs(r.httpEndpoint, "server")} and ${cpuMs(r.httpEndpoint, "postgres")} ms with the endpoint, ${cpuMs(r.httpSpread, "server")} and ${cpuMs(r.httpSpread, "postgres")} ms without.`,
    "",
    ...cpuTable(r),
    `Where the gap lies, from the same rounds: the store alone reaches ${f2(perSecond(r.storeSpread) / tps(r.baseline))} of pgbench (the database side), and the server reaches ${f2(perSecond(r.httpSpread) / perSecond(r.storeSpread))} of the store alone (the server side: HTTP, parsing and schema checks, the user's row read before the write when the process has not kept it, a verification and a signature per payment, in ${r.workers} processes competing with PostgreSQL and the load generator for the cores).`,
    "",
  ].join("\n");
}

/** Milliseconds of CPU per payment on one side. */
const cpuMs = (load: Load, side: keyof Cpu) => (load.done === 0 ? "n/a" : f2((1000 * load.cpu[side]) / load.done));

/** CPU per payment by side, read from /proc in the same rounds, and the bound it sets on the ratio to pgbench. */
function cpuTable(r: Results): string[] {
  const ms = (seconds: number, count: number) => (count === 0 ? "n/a" : f2((1000 * seconds) / count));
  const total = (cpu: Cpu) => cpu.server + cpu.postgres + cpu.client;
  const server = (load: Load) => `${ms(load.cpu.server, load.done)} (first process ${ms(load.cpu.primary, load.done)})`;
  const row = (what: string, load: Load, client: string) =>
    `| ${what} | ${server(load)} | ${ms(load.cpu.postgres, load.done)} | ${ms(load.cpu.client, load.done)} (${client}) | ${ms(total(load.cpu), load.done)} |`;
  const b = r.baseline;
  const perPayment = total(r.httpSpread.cpu) / r.httpSpread.done;
  const perTransaction = total(b.cpu) / b.transactions;
  return [
    "CPU per payment or transaction, in milliseconds of one core, read from /proc over the same rounds (the server's processes, PostgreSQL's postmaster and backends, this process):",
    "",
    "| workload | server processes | PostgreSQL | client | total |",
    "|---|---:|---:|---:|---:|",
    `| pgbench tpcb-like | – | ${ms(b.cpu.postgres, b.transactions)} | ${ms(b.cpu.client, b.transactions)} (pgbench) | ${ms(total(b.cpu), b.transactions)} |`,
    row(`POST /v1/payments, ${PUBLISHERS} publishers`, r.httpSpread, "load generator: node:http"),
    row("POST /v1/payments, one publisher (hot)", r.httpHot, "load generator: node:http"),
    row("POST /v1/payments, a webhook endpoint registered", r.httpEndpoint, "load generator: node:http"),
    row("Store.recordPayment alone, group commit", r.storeSpread, "the store in this process"),
    row("Store.recordPayment alone, a call per payment", r.storeSeparate, "the store in this process"),
    row("Store.recordPayment alone, statement by statement", r.storeStatements, "the store in this process"),
    row("Store.recordPayment alone, the outbox trigger on", r.storeOutboxOn, "the store in this process"),
    "",
    // Cores kept busy by each workload: its CPU over its wall-clock time (pgbench's commits wait for the disk too).
    `With the load generator, the server and PostgreSQL on the same ${cpus().length} cores, a payment through the server costs ${f2(1000 * perPayment)} ms of CPU in all and a tpcb-like transaction ${f2(1000 * perTransaction)} ms (${f2(perPayment / perTransaction)} ×). Were both held by the CPU alone, with the cores equally busy, the server would reach ${f2(perTransaction / perPayment)} of pgbench; the cores were ${f0((100 * total(r.httpSpread.cpu)) / r.httpSpread.seconds / cpus().length)} % busy during the payments and ${f0((100 * total(b.cpu)) / b.seconds / cpus().length)} % during pgbench, so the ratio measured (${f2(perSecond(r.httpSpread) / tps(b))}) is that bound scaled by how much more of the cores the payments used. Either way the ratio is held by the CPU a payment costs: pgbench's transactions are short of it by the server's whole part, its HTTP client's, and the difference in PostgreSQL's.`,
    "",
    ...loadGeneratorNote(r),
  ];
}

/** What the load generator is, how it checks the answers, and the CPU it took from the cores the server and PostgreSQL share. */
function loadGeneratorNote(r: Results): string[] {
  const spread = r.httpSpread;
  const cores = (load: Load) => f2(load.cpu.client / load.seconds);
  return [
    `The load generator is this process: node:http with ${CLIENTS} kept-alive connections, every request signed and serialised before the rounds. Each answer must be 200 and carry its own request's nonce in the acknowledgment's claims (the JWS payload decoded, no signature check); one answer in ${SAMPLE_EVERY} was also checked in full as a merchant does (verifyAcknowledgment: chain, signature, offer hash, price, nonce, date) after its round, outside the timed window: ${r.sample.verified} passed, ${r.sample.failed} failed (counted as errors). ` +
      `It spent ${cpuMs(spread, "client")} ms of CPU per payment through the server (the client column above), ${cores(spread)} cores while it ran, against ${cpuMs(spread, "server")} ms for the server's processes and ${cpuMs(spread, "postgres")} ms for PostgreSQL: of the ${cpus().length} cores, the server and PostgreSQL had what the load generator and the machine's other work left.` +
      describeProblems(r.problems),
    "",
  ];
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
