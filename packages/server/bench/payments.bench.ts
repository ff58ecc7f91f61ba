/**
 * Payment server throughput over HTTP on SQLite: payments per second and latency (p50, p99) at
 * concurrency 1, 8 and 32, the server's peak resident memory, and how close that comes to the
 * "crypto ceiling", the rate the machine could reach doing nothing but each payment's signature
 * work (verify the consent and the publisher's signature, sign the acknowledgment).
 *
 *   node packages/server/dist/bench/payments.bench.js
 *
 * The server runs as its own process (main.js, WAL + synchronous=FULL, as in production), the
 * load generator in this one; all traffic stays on 127.0.0.1. Bounded: about 40 s in all.
 * Prints a table and writes the same as markdown to docs/benchmarks/server.md.
 *
 * PEAGE_BENCH_SERVER_ARGS passes Node options to the server process only, e.g.
 * `PEAGE_BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=prof"` to profile it under this load
 * (Node refuses --cpu-prof in NODE_OPTIONS).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
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
  price,
  signCatalog,
  systemClock,
  writePkiDir,
  type PartyId,
  type PaymentRequest,
} from "@peage/protocol";
import { initDataDir } from "../src/index.js";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const REPORT = fileURLToPath(new URL("../../../../docs/benchmarks/server.md", import.meta.url));
const LEVELS = [1, 8, 32] as const;
/** Each level stops after this many payments or this long, whichever comes first. */
const MAX_PAYMENTS = 1500;
const MAX_SECONDS = 5;
const WARMUP = 40;

interface LevelResult {
  readonly concurrency: number;
  readonly payments: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

interface CryptoRates {
  readonly signs: number;
  readonly verifies: number;
}

/** ECDSA P-256 signs and verifies per second, as `openssl speed -seconds 3 ecdsap256` measures them. */
function opensslSpeed(): CryptoRates | undefined {
  const result = spawnSync("openssl", ["speed", "-seconds", "3", "ecdsap256"], { encoding: "utf8", timeout: 30_000 });
  const match = /256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)/.exec(result.stdout ?? "");
  return match ? { signs: Number(match[1]), verifies: Number(match[2]) } : undefined;
}

/** The same operations through Node's WebCrypto, which the server uses, for one second each. */
async function webCryptoSpeed(): Promise<CryptoRates> {
  const keys = await generateKeyPair("ES256");
  const data = new TextEncoder().encode("x".repeat(300));
  const params = { name: "ECDSA", hash: "SHA-256" };
  const signature = await webcrypto.subtle.sign(params, keys.privateKey, data);
  const rate = async (op: () => Promise<unknown>) => {
    const start = performance.now();
    let count = 0;
    // Two in flight: WebCrypto runs on libuv's thread pool, as it does in the server.
    while (performance.now() - start < 1000) {
      await Promise.all([op(), op()]);
      count += 2;
    }
    return count / ((performance.now() - start) / 1000);
  };
  return {
    signs: await rate(() => webcrypto.subtle.sign(params, keys.privateKey, data)),
    verifies: await rate(() => webcrypto.subtle.verify(params, keys.publicKey, signature, data)),
  };
}

/** Payments per second if a payment cost only its signature work: two verifications and one signature. */
const ceiling = (rates: CryptoRates) => 1 / (2 / rates.verifies + 1 / rates.signs);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

async function startServer(dataDir: string, keyFile: string): Promise<{ child: ChildProcess; url: string }> {
  const nodeArgs = (process.env["PEAGE_BENCH_SERVER_ARGS"] ?? "").split(" ").filter((arg) => arg !== "");
  const child = spawn(process.execPath, [...nodeArgs, MAIN, "--data", dataDir, "--port", "0", "--host", "127.0.0.1", "--bootstrap-key", keyFile], {
    env: { ...process.env, PEAGE_LOG_LEVEL: "warn" },
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

/** Peak resident set size of a process, from /proc (Linux), in MiB. */
function peakRssMiB(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  // Other work on the machine lowers every figure: the report states how busy it was.
  const loadAverage = loadavg()[0] ?? 0;
  const root = mkdtempSync(join(tmpdir(), "peage-bench-"));
  let child: ChildProcess | undefined;
  try {
    process.stdout.write("measuring openssl speed ecdsap256 (6 s)…\n");
    const openssl = opensslSpeed();
    const node = await webCryptoSpeed();

    const pki = await createDemoPki();
    await writePkiDir(join(root, "pki"), pki);
    const dataDir = join(root, "data");
    await initDataDir({ dataDir, pkiDir: join(root, "pki") });
    const keyFile = join(root, "operator.key");
    const server = await startServer(dataDir, keyFile);
    child = server.child;
    const url = server.url;
    const operator = { "content-type": "application/json", authorization: `Bearer ${readFileSync(keyFile, "utf8").trim()}` };

    const userKey = await generateKeyPair("ES256");
    const user = "urn:peage:user:bench" as PartyId<"user">;
    const post = (path: string, body: unknown, headers: Record<string, string> = { "content-type": "application/json" }) =>
      fetch(`${url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
    await post("/v1/admin/users", { user, publicKey: await webcrypto.subtle.exportKey("jwk", userKey.publicKey), mode: "prepaid", homeCurrency: "EUR" }, operator);
    await post(`/v1/admin/users/${user}/topups`, { amount: 1_000_000_000_000, idempotencyKey: "bench-initial" }, operator);
    const catalog = await signCatalog(
      pki.publisher.identity,
      [
        { offerId: "launch", description: "One launch", price: price(100, "EUR"), grant: { kind: "launch" } },
        { offerId: "level", description: "A level", price: price(250, "USD"), grant: { kind: "event", event: "level" } },
      ],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    const makeRequests = async (count: number): Promise<string[]> => {
      const bodies: string[] = [];
      for (let i = 0; i < count; i++) {
        // Half the offers need a currency conversion (USD price, EUR account).
        const offer = createOffer(catalog.offers[i % 2]!, systemClock);
        const request: PaymentRequest = await createPaymentRequest({ offer, user, server: pki.server.identity, userKey, clock: systemClock, ttlMs: 15 * 60_000 });
        bodies.push(JSON.stringify(request));
      }
      return bodies;
    };
    const send = async (body: string): Promise<boolean> => {
      const response = await fetch(`${url}/v1/payments`, { method: "POST", headers: { "content-type": "application/json" }, body });
      await response.arrayBuffer();
      return response.status === 200;
    };

    for (const body of await makeRequests(WARMUP)) await send(body);

    const results: LevelResult[] = [];
    for (const concurrency of LEVELS) {
      const bodies = await makeRequests(MAX_PAYMENTS);
      const latencies: number[] = [];
      let next = 0;
      let errors = 0;
      const start = performance.now();
      const deadline = start + MAX_SECONDS * 1000;
      const worker = async () => {
        while (next < bodies.length && performance.now() < deadline) {
          const body = bodies[next++]!;
          const sent = performance.now();
          if (await send(body)) latencies.push(performance.now() - sent);
          else errors++;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      const seconds = (performance.now() - start) / 1000;
      latencies.sort((a, b) => a - b);
      results.push({
        concurrency,
        payments: latencies.length,
        errors,
        seconds,
        perSecond: latencies.length / seconds,
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
      });
      process.stdout.write(`concurrency ${concurrency}: ${(latencies.length / seconds).toFixed(0)} payments/s\n`);
    }
    const rss = peakRssMiB(child.pid!);
    child.kill("SIGTERM");
    await new Promise((resolve) => child!.once("exit", resolve));

    const report = render(results, rss, openssl, node, loadAverage);
    process.stdout.write(`\n${report}`);
    mkdirSync(join(REPORT, ".."), { recursive: true });
    writeFileSync(REPORT, report);
    process.stdout.write(`\nwritten to ${REPORT}\n`);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Not measured by this run: a CPU profile of the server process under this benchmark
 * (PEAGE_BENCH_SERVER_ARGS="--cpu-prof"), each stage's inclusive time divided by the payments
 * recorded. Update it by hand when the payment path changes.
 */
const WHERE_THE_TIME_GOES = [
  "### Where the time goes",
  "",
  "Server CPU (and, for the commit, fsync wait) per payment over the whole run, from a CPU profile of the server process under this benchmark (`PEAGE_BENCH_SERVER_ARGS=\"--cpu-prof --cpu-prof-dir=prof\"`), each stage's inclusive time divided by the payments recorded; the commit is shared by the payments of a batch, so its share falls with concurrency. Figures from a shared 2-core machine whose load varied between the two runs (stages the changes did not touch, such as the signature, moved too): the store row is the one the changes aimed at.",
  "",
  "| stage | before | after |",
  "|---|---:|---:|",
  "| store transaction and commit (statements, savepoints, fsync) | 1569 | 1078 |",
  "| verifyPaymentRequest (consent verify, cached offer check, user lookup) | 466 | 210 |",
  "| signAcknowledgment (ES256 signature, JWS) | 200 | 91 |",
  "| canonicalHash of the body | 82 | 63 |",
  "| replay lookup (findPaymentByNonce) | 93 | 82 |",
  "| response write (serialization, socket) | 243 | 68 |",
  "| garbage collection | 132 | 69 |",
  "| other: HTTP parsing, routing, schema validation, rates, precheck | 903 | 434 |",
];

function render(results: readonly LevelResult[], rssMiB: number | undefined, openssl: CryptoRates | undefined, node: CryptoRates, loadAverage: number): string {
  const best = Math.max(...results.map((r) => r.perSecond));
  const f0 = (n: number) => n.toFixed(0);
  const f1 = (n: number) => n.toFixed(1);
  const lines = [
    "## Payment server",
    "",
    `POST /v1/payments over HTTP on 127.0.0.1, SQLite in WAL mode with synchronous=FULL (an fsync per commit; payments that arrive together share a commit), server and load generator as two processes on the same machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, Node ${process.version}, 1-minute load average ${loadAverage.toFixed(1)} when the run began. Half the payments convert USD to EUR. Each level runs ${MAX_PAYMENTS} payments or ${MAX_SECONDS} s, whichever ends first. \`node packages/server/dist/bench/payments.bench.js\` reproduces it.`,
    "",
    "| concurrency | payments | errors | payments/s | p50 latency (ms) | p99 latency (ms) |",
    "|---:|---:|---:|---:|---:|---:|",
    ...results.map((r) => `| ${r.concurrency} | ${r.payments} | ${r.errors} | ${f0(r.perSecond)} | ${f1(r.p50)} | ${f1(r.p99)} |`),
    "",
    `Peak resident memory of the server process (VmHWM): ${rssMiB === undefined ? "not available" : `${f0(rssMiB)} MiB`}.`,
    "",
    "### Against the crypto ceiling",
    "",
    "A payment's signature work is two ECDSA P-256 verifications (the user's consent, the publisher's offer signature; the publisher's chain is validated once and then cached) and one signature (the acknowledgment). The ceiling is the payment rate if that were all the server did: 1 / (2 / verifies + 1 / signs).",
    "",
    "| ECDSA P-256 | signs/s | verifies/s | ceiling (payments/s) | best payments/s ÷ ceiling |",
    "|---|---:|---:|---:|---:|",
    openssl
      ? `| \`openssl speed -seconds 3 ecdsap256\` (one core) | ${f0(openssl.signs)} | ${f0(openssl.verifies)} | ${f0(ceiling(openssl))} | ${(best / ceiling(openssl)).toFixed(3)} |`
      : "| `openssl speed` | not available | | | |",
    `| Node WebCrypto, as the server calls it (two in flight) | ${f0(node.signs)} | ${f0(node.verifies)} | ${f0(ceiling(node))} | ${(best / ceiling(node)).toFixed(3)} |`,
    "",
    "The rest of a payment's cost is HTTP, JSON and schema checks, RFC 8785 hashing, the x5c chain lookup, and the synchronous SQLite transaction with its fsync, which holds the event loop for its duration (group commit shares it among the payments that arrive together, which is why throughput grows with concurrency).",
    "",
    ...WHERE_THE_TIME_GOES,
    "",
  ];
  return lines.join("\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
