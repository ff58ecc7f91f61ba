/**
 * Payment server throughput over HTTP on SQLite, against its honest ceiling, in one run:
 *
 *   - payments per second and latency (p50, p99) with 1, 8 and 32 requests in flight;
 *   - p99 latency at half the peak rate (an open-loop load: requests sent on a timer, not when
 *     the previous answer came back), the latency users see on a server not run flat out;
 *   - the crypto ceiling: the payment rate if a payment cost only its signature work, from the very
 *     calls the server makes (synchronous node:crypto sign and verify, ES256, on the server's key
 *     and a user's key, over a real acknowledgment's and consent's signing input), with the number
 *     of signatures and verifications per payment COUNTED in the server during the run (probe.ts);
 *   - where the server's time goes, from a CPU profile of the server process over the measured
 *     rounds (node:inspector, probe.ts; profile.ts sorts it into parts);
 *   - the server's CPU per payment by thread (event loop, the rest), and how busy the cores were
 *     while 32 requests were in flight (server, load generator, other work, idle): whether threads
 *     beside the event loop could have used another core;
 *   - the disk's floor under a commit: a bare write + fdatasync beside the database, timed in
 *     every round (disk-floor.ts), against which the latency target is read;
 *   - the CPU the load generator (http-load.ts) and the server spent per request on each load;
 *   - the server's peak resident memory.
 *
 * The ceiling, the floor and the loads alternate in ROUNDS rounds, so that other work on the machine
 * weighs on all alike; each figure sums its rounds. The server runs as its own process (main.js, WAL +
 * synchronous=FULL as in production), the load generator in this one, over 127.0.0.1.
 *
 *   node packages/server/dist/bench/payments.bench.js
 *
 * Writes docs/benchmarks/server.md and its targets to docs/benchmarks/server.targets.json.
 * Bounded: about a minute.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { KeyObject, sign as nodeSign, verify as nodeVerify, webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  generateKeyPair,
  price,
  signCatalog,
  systemClock,
  verifyAcknowledgment,
  writePkiDir,
  type Offer,
  type PartyId,
  type PaymentRequest,
} from "@peage/protocol";
import { initDataDir } from "../src/index.js";
import { newDiskFloor, timeFdatasync, type DiskFloor } from "./disk-floor.js";
import {
  AnswerSample,
  describeProblems,
  PaymentClient,
  preparePayment,
  type PreparedPayment,
  type Problems,
} from "./http-load.js";
import type { ProbeCommand, ProbeCounts, ProbeReply } from "./probe.js";
import { whereTheTimeGoes, type CpuProfile, type ProfileRow } from "./profile.js";
import { f0, f1, f2, percentile, publishSection, type Target } from "./report.js";
import { renderWorkersAb, startWorkersAb, type AbHarness, type WorkersAb } from "./workers-ab.js";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const PROBE = pathToFileURL(fileURLToPath(new URL("./probe.js", import.meta.url))).href;
const LEVELS = [1, 8, 32] as const;
/** The load the throughput target is read at. */
const TOP = 32;
const ROUNDS = 3;
/** Each level, in each round, runs this long (or until its requests run out). */
const LEVEL_SECONDS = 1.5;
const HALF_RATE_SECONDS = 2;
/** Each of sign and verify is timed this long per round for the ceiling. */
const CEILING_MS = 300;
/** The disk's floor (write + fdatasync beside the database) is timed this long per round. */
const FLOOR_MS = 300;
/** One answer in this many is checked in full (verifyAcknowledgment) after its load. */
const SAMPLE_EVERY = 50;
const WARMUP = 200;

interface Load {
  payments: number;
  errors: number;
  seconds: number;
  readonly latencies: number[];
  /** CPU time over the load's timed windows: the server's (every thread) and the load generator's (this process). */
  serverMs: number;
  generatorMs: number;
}

const newLoad = (): Load => ({ payments: 0, errors: 0, seconds: 0, latencies: [], serverMs: 0, generatorMs: 0 });
const rate = (load: Load) => load.payments / load.seconds;

interface Ceiling {
  signs: number;
  verifies: number;
  seconds: { sign: number; verify: number };
}

/** The server's side of a payment's signatures, as jws.ts makes them: synchronous node:crypto, ES256, IEEE P1363 signatures. */
interface SigningInputs {
  readonly ack: Buffer;
  readonly consent: Buffer;
  readonly consentSignature: Buffer;
}

function timeCrypto(ceiling: Ceiling, keys: { server: KeyObject; user: KeyObject }, signingInputs: SigningInputs): void {
  let start = performance.now();
  let count = 0;
  while (performance.now() - start < CEILING_MS) {
    nodeSign("sha256", signingInputs.ack, { key: keys.server, dsaEncoding: "ieee-p1363" });
    count++;
  }
  ceiling.signs += count;
  ceiling.seconds.sign += (performance.now() - start) / 1000;
  start = performance.now();
  count = 0;
  while (performance.now() - start < CEILING_MS) {
    const valid = nodeVerify(
      "sha256",
      signingInputs.consent,
      { key: keys.user, dsaEncoding: "ieee-p1363" },
      signingInputs.consentSignature,
    );
    if (!valid) throw new Error("the consent does not verify");
    count++;
  }
  ceiling.verifies += count;
  ceiling.seconds.verify += (performance.now() - start) / 1000;
}

async function startServer(
  dataDir: string,
  keyFile: string,
  serverArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; url: string }> {
  // PEAGE_BENCH_SERVER_NODE_OPTIONS adds node options to the server's command line (say, --cpu-prof to profile every thread).
  const extra = (process.env["PEAGE_BENCH_SERVER_NODE_OPTIONS"] ?? "").split(" ").filter(Boolean);
  const args = [
    ...extra,
    "--import",
    PROBE,
    MAIN,
    "--data",
    dataDir,
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--bootstrap-key",
    keyFile,
    ...serverArgs,
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PEAGE_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the server exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.includes('"listening"')) resolve((JSON.parse(line) as { url: string }).url);
    });
  });
  return { child, url };
}

function probe(child: ChildProcess, command: ProbeCommand): Promise<ProbeReply> {
  return new Promise((resolve) => {
    child.once("message", (reply: ProbeReply) => resolve(reply));
    child.send(command);
  });
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

interface TopLoadCpu {
  serverMs: number;
  generatorMs: number;
  wallMs: number;
  /** The machine's CPU time over the same spans, every core (/proc/stat, Linux), and the part of it that was idle. */
  machineMs: number;
  idleMs: number;
}

interface Run {
  readonly levels: Map<number, Load>;
  readonly half: Load;
  readonly ceiling: Ceiling;
  readonly counts: ProbeCounts;
  readonly profile: ProfileRow[];
  /** The server process's CPU time over the rounds, every thread, and its event loop's alone (Linux). */
  readonly cpuMs: number;
  readonly eventLoopCpuMs: number | undefined;
  /** CPU time of the server and of this process (the load generator) while 32 requests were in flight, and that load's duration. */
  readonly top: TopLoadCpu;
  /** The disk's floor under a commit, timed in each round beside the database. */
  readonly floor: DiskFloor;
  /** Answers checked in full (verifyAcknowledgment) after their load, and what was not an acknowledgment of its request. */
  readonly sample: { readonly verified: number; readonly failed: number };
  readonly problems: Problems;
  readonly rssMiB: number | undefined;
  readonly loadAverage: number;
  /** The default server (payment threads) against `--workers 1`, in the same rounds (workers-ab.ts). */
  readonly ab: WorkersAb;
}

async function main(): Promise<void> {
  const loadAverage = loadavg()[0] ?? 0;
  const root = mkdtempSync(join(tmpdir(), "peage-bench-"));
  let child: ChildProcess | undefined;
  try {
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
    await post(
      "/v1/admin/users",
      { user, publicKey: await webcrypto.subtle.exportKey("jwk", userKey.publicKey), mode: "prepaid", homeCurrency: "EUR" },
      operator,
    );
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
    // Signed and serialised before the timed window that sends them.
    const makeRequests = async (count: number): Promise<PreparedPayment[]> => {
      const payments: PreparedPayment[] = [];
      for (let i = 0; i < count; i++) {
        // Half the offers need a currency conversion (USD price, EUR account).
        const offer = createOffer(catalog.offers[i % 2]!, systemClock);
        const request: PaymentRequest = await createPaymentRequest({
          offer,
          user,
          server: pki.server.identity,
          userKey,
          clock: systemClock,
          ttlMs: 15 * 60_000,
        });
        payments.push(preparePayment(request, offer));
      }
      return payments;
    };
    const warmup = new PaymentClient(url, 1);
    for (const payment of await makeRequests(WARMUP)) await warmup.post(payment);
    warmup.close();

    // The ceiling's inputs: a real consent (its signing input and signature) and a real acknowledgment's signing input.
    const [last] = await makeRequests(1);
    const consent = (JSON.parse(last!.body.toString("utf8")) as PaymentRequest).consent;
    const answer = await post("/v1/payments", JSON.parse(last!.body.toString("utf8")));
    const ack = ((await answer.json()) as { acknowledgment: string }).acknowledgment;
    const signingInputs = {
      consent: Buffer.from(consent.slice(0, consent.lastIndexOf(".")), "ascii"),
      consentSignature: Buffer.from(consent.slice(consent.lastIndexOf(".") + 1), "base64url"),
      ack: Buffer.from(ack.slice(0, ack.lastIndexOf(".")), "ascii"),
    };
    const keys = { server: KeyObject.from(pki.server.keys.privateKey), user: KeyObject.from(userKey.publicKey) };

    const trust = pki.trustStore();
    const ab = await startWorkersAb(abHarness(makeRequests), {
      root,
      pkiDir: join(root, "pki"),
      user,
      userKey,
      concurrency: TOP,
      seconds: LEVEL_SECONDS,
    });
    const pooled = child;
    const run = await measure({
      child,
      url,
      makeRequests,
      timeCeiling: (ceiling) => timeCrypto(ceiling, keys, signingInputs),
      timeFloor: (floor) => timeFdatasync(floor, dataDir, FLOOR_MS),
      check: async (answer, offer) =>
        (await verifyAcknowledgment(answer, offer, { trust, clock: systemClock, server: pki.server.identity })).ok,
      eachRound: (round) => ab.round(round, url, () => processCpu(pooled)),
    });
    await ab.stop();
    const rssMiB = peakRssMiB(child.pid!);
    child.kill("SIGTERM");
    await new Promise((resolve) => child!.once("exit", resolve));
    publish({ ...run, rssMiB, loadAverage, ab });
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  }
}

/** What measure() needs from the set-up: the server, how to prepare requests, the baselines to time, the full check of an answer. */
interface Harness {
  readonly child: ChildProcess;
  readonly url: string;
  readonly makeRequests: (count: number) => Promise<PreparedPayment[]>;
  readonly timeCeiling: (ceiling: Ceiling) => void;
  readonly timeFloor: (floor: DiskFloor) => void;
  readonly check: (answer: unknown, offer: Offer) => Promise<boolean>;
  /** Run at the end of each round: the --workers A/B (workers-ab.ts). */
  readonly eachRound: (round: number) => Promise<void>;
}

/** What the --workers A/B needs of this benchmark: its server start, its closed load, its requests. */
function abHarness(makeRequests: (count: number) => Promise<PreparedPayment[]>): AbHarness<PreparedPayment> {
  return {
    async startServer(dataDir, keyFile, extra) {
      const started = await startServer(dataDir, keyFile, extra);
      return {
        url: started.url,
        cpu: () => processCpu(started.child),
        stop: async () => {
          started.child.kill("SIGTERM");
          await new Promise((resolve) => started.child.once("exit", resolve));
        },
      };
    },
    async load(side, url, payments, concurrency, seconds) {
      const load = newLoad();
      const client = new PaymentClient(url, concurrency);
      await closedLoop(load, concurrency, payments, seconds, client);
      client.close();
      side.payments += load.payments;
      side.errors += load.errors;
      side.seconds += load.seconds;
    },
    makeRequests,
  };
}

/** `concurrency` requests in flight, on as many kept-alive connections, until the requests run out or `seconds` pass. */
async function closedLoop(
  load: Load,
  concurrency: number,
  payments: readonly PreparedPayment[],
  seconds: number,
  client: PaymentClient,
): Promise<void> {
  let next = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    while (next < payments.length && performance.now() < deadline) {
      const payment = payments[next++]!;
      const sent = performance.now();
      if ((await client.post(payment)) === "acknowledged") {
        load.payments++;
        load.latencies.push(performance.now() - sent);
      } else load.errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  load.seconds += (performance.now() - start) / 1000;
}

/**
 * Requests sent on a timer at `perSecond` for `seconds`, whatever the answers: each latency runs
 * from the time the request was due, so a server that falls behind shows it (no coordinated
 * omission). The client's connections are not limited, so no request waits for one.
 */
async function openLoop(
  load: Load,
  perSecond: number,
  payments: readonly PreparedPayment[],
  seconds: number,
  client: PaymentClient,
): Promise<void> {
  const interval = 1000 / perSecond;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < payments.length && i * interval < seconds * 1000; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      client.post(payments[i]!).then((outcome) => {
        if (outcome === "acknowledged") {
          load.payments++;
          load.latencies.push(performance.now() - due);
        } else load.errors++;
      }),
    );
  }
  await Promise.all(inFlight);
  load.seconds += (performance.now() - start) / 1000;
}

/**
 * Runs one load between two readings of the server's and this process's CPU time, adds them to
 * the load, then checks the sampled answers in full (outside the timed window): an answer that
 * fails the check moves from the load's payments to its errors.
 */
async function timed(h: Harness, load: Load, sample: AnswerSample, run: () => Promise<void>): Promise<[CpuNow, CpuNow]> {
  const before = await cpuNow(h.child);
  await run();
  const after = await cpuNow(h.child);
  load.serverMs += after.server - before.server;
  load.generatorMs += after.generator - before.generator;
  const failed = await sample.drain(h.check);
  load.payments -= failed;
  load.errors += failed;
  return [before, after];
}

async function measure(h: Harness): Promise<Omit<Run, "rssMiB" | "loadAverage" | "ab">> {
  const levels = new Map<number, Load>(LEVELS.map((level) => [level, newLoad()]));
  const half = newLoad();
  const ceiling: Ceiling = { signs: 0, verifies: 0, seconds: { sign: 0, verify: 0 } };
  const floor = newDiskFloor();
  const sample = new AnswerSample(SAMPLE_EVERY);
  const problems: Problems = new Map();
  const lastRate = new Map<number, number>();
  const top: TopLoadCpu = { serverMs: 0, generatorMs: 0, wallMs: 0, machineMs: 0, idleMs: 0 };
  const profileFile = join(tmpdir(), `peage-bench-${process.pid}.cpuprofile`);
  const drive = async (load: Load, maxSockets: number, run: (client: PaymentClient) => Promise<void>) => {
    const client = new PaymentClient(h.url, maxSockets, sample);
    const span = await timed(h, load, sample, () => run(client));
    client.close();
    for (const [kind, seen] of client.problems) {
      const known = problems.get(kind);
      if (known) known.count += seen.count;
      else problems.set(kind, { ...seen });
    }
    return span;
  };
  await probe(h.child, { cmd: "start" });
  for (let round = 0; round < ROUNDS; round++) {
    process.stdout.write(`round ${round + 1} of ${ROUNDS}: ceiling`);
    h.timeCeiling(ceiling);
    const syncs = floor.latencies.length;
    h.timeFloor(floor);
    const roundFloor = floor.latencies.slice(syncs).sort((x, y) => x - y);
    process.stdout.write(`, fdatasync p50 ${f2(percentile(roundFloor, 0.5))} ms p99 ${f2(percentile(roundFloor, 0.99))} ms`);
    let peak = 0;
    for (const level of LEVELS) {
      const load = levels.get(level)!;
      const payments = await h.makeRequests(Math.ceil((lastRate.get(level) ?? 3000) * LEVEL_SECONDS * 1.5));
      const [done, seconds] = [load.payments, load.seconds];
      const span = await drive(load, level, (client) => closedLoop(load, level, payments, LEVEL_SECONDS, client));
      if (level === TOP) addCpu(top, ...span);
      const roundRate = (load.payments - done) / (load.seconds - seconds);
      lastRate.set(level, roundRate);
      peak = Math.max(peak, roundRate);
      process.stdout.write(`, ${level} in flight ${f0(roundRate)}/s`);
    }
    const payments = await h.makeRequests(Math.ceil((peak / 2) * HALF_RATE_SECONDS) + 1);
    await drive(half, Number.POSITIVE_INFINITY, (client) => openLoop(half, peak / 2, payments, HALF_RATE_SECONDS, client));
    process.stdout.write(`, ${f0(peak / 2)}/s on a timer, then --workers A/B\n`);
    await h.eachRound(round);
  }
  const stopped = await probe(h.child, { cmd: "stop", profileFile });
  if (stopped.event !== "stopped") throw new Error("the probe did not stop");
  const profile = whereTheTimeGoes(JSON.parse(readFileSync(profileFile, "utf8")) as CpuProfile);
  rmSync(profileFile, { force: true });
  return {
    levels,
    half,
    ceiling,
    floor,
    sample: { verified: sample.verified, failed: sample.failed },
    problems,
    counts: stopped.counts,
    profile,
    cpuMs: stopped.cpuMs,
    eventLoopCpuMs: stopped.eventLoopCpuMs,
    top,
  };
}

interface CpuNow {
  readonly server: number;
  readonly generator: number;
  readonly wall: number;
  readonly machine: { readonly total: number; readonly idle: number };
}

/** All cores' time and idle time (idle and iowait) since boot, ms, from /proc/stat (clock ticks of 10 ms); zeros elsewhere. */
function machineCpu(): { total: number; idle: number } {
  try {
    const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: ticks.reduce((a, b) => a + b, 0) * 10, idle: (ticks[3]! + ticks[4]!) * 10 };
  } catch {
    return { total: 0, idle: 0 };
  }
}

async function cpuNow(child: ChildProcess): Promise<CpuNow> {
  const reply = await probe(child, { cmd: "cpu" });
  if (reply.event !== "cpu") throw new Error("the probe did not report its CPU time");
  const own = process.cpuUsage();
  return { server: reply.cpuMs, generator: (own.user + own.system) / 1000, wall: performance.now(), machine: machineCpu() };
}

/** A server's CPU time so far, every thread and its event loop's alone, ms. */
async function processCpu(child: ChildProcess): Promise<{ all: number; eventLoop: number | undefined }> {
  const reply = await probe(child, { cmd: "cpu" });
  if (reply.event !== "cpu") throw new Error("the probe did not report its CPU time");
  return { all: reply.cpuMs, eventLoop: reply.eventLoopCpuMs };
}

function addCpu(top: TopLoadCpu, before: CpuNow, after: CpuNow): void {
  top.serverMs += after.server - before.server;
  top.generatorMs += after.generator - before.generator;
  top.wallMs += after.wall - before.wall;
  top.machineMs += after.machine.total - before.machine.total;
  top.idleMs += after.machine.idle - before.machine.idle;
}

function publish(run: Run): void {
  // Every payment the server acknowledged while the probe ran: the levels', and its side of the A/B.
  const payments = [...run.levels.values(), run.half].reduce((sum, load) => sum + load.payments, 0) + run.ab.sides[0].payments;
  const verifiesPerPayment = (run.counts.verifies + run.counts.webCryptoVerifies) / payments;
  const signsPerPayment = (run.counts.signs + run.counts.webCryptoSigns) / payments;
  const signRate = run.ceiling.signs / run.ceiling.seconds.sign;
  const verifyRate = run.ceiling.verifies / run.ceiling.seconds.verify;
  // One core's ceiling, times the cores the server used: its CPU time (every thread) over the
  // duration of the 32-in-flight loads, at most the machine's cores.
  const ceiling = 1 / (verifiesPerPayment / verifyRate + signsPerPayment / signRate);
  const cores = Math.min(cpus().length, run.top.serverMs / run.top.wallMs);
  const top = run.levels.get(TOP)!;
  for (const load of [...run.levels.values(), run.half]) load.latencies.sort((a, b) => a - b);
  const halfP99 = percentile(run.half.latencies, 0.99);
  const floor = [...run.floor.latencies].sort((a, b) => a - b);
  const targets: Target[] = [
    {
      target: "SQLite, HTTP, 32 in flight, default workers: payments/s ÷ (crypto ceiling × cores the server used)",
      measured: f2(rate(top) / (ceiling * cores)),
      goal: "≥ 0.5",
      met: rate(top) / (ceiling * cores) >= 0.5,
      from: `${f0(rate(top))} payments/s, ceiling ${f0(ceiling)}/s per core × ${f2(cores)} cores`,
    },
    {
      target: "p99 latency at half the peak rate",
      measured: `${f1(halfP99)} ms`,
      goal: "< 10 ms",
      met: halfP99 < 10,
      from: `${run.half.payments} payments at ${f0(rate(run.half))}/s; the disk's fdatasync in the same rounds: p50 ${f2(percentile(floor, 0.5))} ms, p99 ${f2(percentile(floor, 0.99))} ms`,
    },
    {
      target: "peak resident memory of the server (SQLite load)",
      measured: run.rssMiB === undefined ? "n/a" : `${f0(run.rssMiB)} MiB`,
      goal: "reported",
      met: true,
      from: "VmHWM",
    },
  ];
  publishSection(
    "server",
    render(run, { payments, verifiesPerPayment, signsPerPayment, signRate, verifyRate, ceiling, halfP99, cores }),
    targets,
  );
}

function render(
  run: Run,
  f: {
    payments: number;
    verifiesPerPayment: number;
    signsPerPayment: number;
    signRate: number;
    verifyRate: number;
    ceiling: number;
    halfP99: number;
    cores: number;
  },
): string {
  const webCrypto = run.counts.webCryptoSigns + run.counts.webCryptoVerifies;
  const profileTotal = run.profile.reduce((sum, row) => sum + row.ms, 0);
  const mainBusy = run.profile.filter((row) => !row.part.startsWith("idle")).reduce((sum, row) => sum + row.ms, 0);
  return [
    "## Payment server",
    "",
    `POST /v1/payments over HTTP on 127.0.0.1, SQLite in WAL mode with synchronous=FULL (an fsync per commit; payments that arrive together share a commit; a thread of its own checkpoints the WAL), server (one process) and load generator as two processes on the same machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, Node ${process.version}, 1-minute load average ${run.loadAverage.toFixed(1)} when the run began. Half the payments convert USD to EUR. ${ROUNDS} rounds, each: the crypto ceiling (${CEILING_MS} ms of signatures, ${CEILING_MS} ms of verifications), the disk's floor (${FLOOR_MS} ms of fdatasync), then each level for ${LEVEL_SECONDS} s, then ${HALF_RATE_SECONDS} s at half that round's peak rate on a timer; each figure sums its rounds. The server's CPU profiler ran throughout the rounds, so every figure includes its cost. \`node packages/server/dist/bench/payments.bench.js\` reproduces it.`,
    "",
    ...loadsSection(run, f.halfP99),
    `Peak resident memory of the server process (VmHWM): ${run.rssMiB === undefined ? "not available" : `${f0(run.rssMiB)} MiB`}.`,
    "",
    "### Against the crypto ceiling",
    "",
    `Counted in the server during the rounds: ${run.counts.verifies} node:crypto verifications and ${run.counts.signs} signatures for ${f.payments} payments acknowledged, so ${f2(f.verifiesPerPayment)} verifications and ${f2(f.signsPerPayment)} signatures per payment${webCrypto === 0 ? " (no WebCrypto call)" : `, WebCrypto calls included (${webCrypto})`}. The publisher's offer signature is checked once per distinct token and remembered, and this catalog has two, so a payment verifies the consent only. Timed in this process in the same rounds, with the calls jws.ts makes (synchronous node:crypto, ES256, IEEE P1363), the server's key and a user's key, over a real acknowledgment's and consent's signing input:`,
    "",
    "| node:crypto, ES256, one core | per second |",
    "|---|---:|",
    `| sign (the acknowledgment) | ${f0(f.signRate)} |`,
    `| verify (the consent) | ${f0(f.verifyRate)} |`,
    `| ceiling: 1 / (${f2(f.verifiesPerPayment)} / verifies + ${f2(f.signsPerPayment)} / signs), payments/s | ${f0(f.ceiling)} |`,
    `| cores the server used at 32 in flight: its CPU time, every thread, over those loads' duration | ${f2(f.cores)} |`,
    `| 32 in flight ÷ (ceiling × cores) | ${f2(rate(run.levels.get(32)!) / (f.ceiling * f.cores))} |`,
    "",
    "### Where the time goes",
    "",
    `From the server process's CPU profile over the ${ROUNDS} rounds (node:inspector, ${f0(profileTotal)} ms sampled): each sample is charged to the innermost frame on its stack that belongs to a known part, so a native call counts for the part that made it (an fsync inside a SQLite commit counts for the store). µs per payment divides by the ${f.payments} payments acknowledged in the same window; idle is the time the process waited (for requests, or between loads while this process prepared requests, timed the ceiling and the disk's floor, and checked the sampled answers).`,
    "",
    "| part | ms | share | µs per payment |",
    "|---|---:|---:|---:|",
    ...run.profile.map(
      (row) => `| ${row.part} | ${f0(row.ms)} | ${(row.share * 100).toFixed(1)} % | ${f0((row.ms * 1000) / f.payments)} |`,
    ),
    "",
    `The profile is the event loop's thread; the profiler samples wall-clock time, so a thread that the machine's other work kept off the CPU counts as busy where it stood. Over the same ${f0(profileTotal)} ms the process used ${f0(run.cpuMs)} ms of CPU on all its threads (${f0((run.cpuMs * 1000) / f.payments)} µs per payment, ${f0((run.cpuMs / profileTotal) * 100)} % of one core) while the event loop was sampled busy for ${f0(mainBusy)} ms (${f0((mainBusy / profileTotal) * 100)} % of the window). ` +
      (mainBusy > run.cpuMs
        ? "Sampled busy time above the CPU time the process got means it waited for a core held by other work: on this run the machine's load, not the server's code, stands in the way first; the table's shares still say how the server's own time divides."
        : `The CPU beyond the event loop's, about ${f0(run.cpuMs - mainBusy)} ms (${f0(((run.cpuMs - mainBusy) * 1000) / f.payments)} µs per payment), is the payment threads' (with the default workers: parsing, checks, signatures), the SQLite writer thread's (its statements and commits; waiting for the disk costs no CPU) and libuv's and V8's helper threads'. ` +
          (mainBusy / profileTotal > 0.9
            ? "The event loop was busy nearly throughout: its work, the rows above, is what stands in the way."
            : "The event loop was often idle: requests waited on the writer thread and the disk, or on the load generator.")),
    "",
    ...threadsSection(run, f.payments),
    ...renderWorkersAb(run.ab, ROUNDS, TOP, LEVEL_SECONDS),
  ].join("\n");
}

/**
 * The loads' rates and latencies, with the CPU the server and the load generator spent on each,
 * and the disk's floor under a commit taken in the same rounds.
 */
function loadsSection(run: Run, halfP99: number): string[] {
  const perRequest = (ms: number, load: Load) => f0((ms * 1000) / (load.payments + load.errors));
  const row = (what: string, load: Load) =>
    `| ${what} | ${load.payments} | ${load.errors} | ${f0(rate(load))} | ${f1(percentile(load.latencies, 0.5))} | ` +
    `${f1(percentile(load.latencies, 0.99))} | ${perRequest(load.serverMs, load)} | ${perRequest(load.generatorMs, load)} |`;
  const floor = [...run.floor.latencies].sort((a, b) => a - b);
  const top = run.levels.get(TOP)!;
  const topWallMs = top.seconds * 1000;
  return [
    "| load | payments | errors | payments/s | p50 latency (ms) | p99 latency (ms) | server CPU per request (µs) | load generator CPU per request (µs) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...[...run.levels.entries()].map(([level, load]) => row(`${level} in flight`, load)),
    row("on a timer at half the peak (latency from the time each request was due)", run.half),
    `| the disk's floor: one 4 KiB page written and fdatasync'ed beside the database, ${FLOOR_MS} ms per round | ${floor.length} syncs | – | – | ${f1(percentile(floor, 0.5))} | ${f1(percentile(floor, 0.99))} | – | – |`,
    "",
    `A commit cannot take less than the disk's fdatasync, timed in every round between the loads on a file in the data directory (the database's file system): p50 ${f2(percentile(floor, 0.5))} ms, p99 ${f2(percentile(floor, 0.99))} ms, max ${f1(floor.at(-1) ?? Number.NaN)} ms over ${floor.length} syncs. The latency target (p99 under 10 ms at half the peak) is read against it: p99 at half the peak was ${f1(halfP99)} ms, ${f1(halfP99 / percentile(floor, 0.99))} × the disk's p99.`,
    "",
    `The load generator is this process: node:http with kept-alive connections (as many as requests in flight; unlimited on the timer), every request signed and serialised before its timed window. Each answer must be 200 and carry its own request's nonce in the acknowledgment's claims (the JWS payload decoded, no signature check); one answer in ${SAMPLE_EVERY} was also checked in full as a merchant does (verifyAcknowledgment: chain, signature, offer hash, price, nonce, date) after its load, outside the timed window: ${run.sample.verified} passed, ${run.sample.failed} failed (counted as errors). ` +
      `Its CPU per request is in the last column, the server's (every thread) in the one before, both read over the same timed windows: at ${TOP} in flight the load generator took ${f2(top.generatorMs / topWallMs)} of the machine's ${cpus().length} cores (more under «More than one core»).` +
      describeProblems(run.problems),
    "",
  ];
}

/** Where the server's CPU went by thread, and whether more threads could have used another core in this run. */
function threadsSection(run: Run, payments: number): string[] {
  const perPayment = (ms: number) => f0((ms * 1000) / payments);
  const split =
    run.eventLoopCpuMs === undefined
      ? "(the split by thread needs Linux's /proc)"
      : `: the event loop's thread ${perPayment(run.eventLoopCpuMs)} µs, the other threads (the payment threads, the SQLite writer, the WAL checkpointer, V8's and libuv's helpers) ${perPayment(run.cpuMs - run.eventLoopCpuMs)} µs`;
  const cores = cpus().length;
  const { serverMs, generatorMs, wallMs, machineMs, idleMs } = run.top;
  const share = (ms: number) => `${f0((ms / machineMs) * 100)} %`;
  const others = Math.max(0, machineMs - idleMs - serverMs - generatorMs);
  return [
    "### More than one core",
    "",
    `CPU per payment acknowledged over the rounds, every thread of the server: ${perPayment(run.cpuMs)} µs${split}. ` +
      `While ${TOP} requests were in flight (${f1(wallMs / 1000)} s over the rounds), the server used ${f0(serverMs)} ms of CPU ` +
      `(${f2(serverMs / wallMs)} cores) and the load generator ${f0(generatorMs)} ms (${f2(generatorMs / wallMs)} cores). ` +
      (machineMs === 0
        ? "The machine's own CPU figures (/proc/stat) were not available."
        : `Of the ${cores} cores' time over those spans (${f0(machineMs)} ms), the server took ${share(serverMs)}, the load generator ${share(generatorMs)}, ` +
          `other work on the machine ${share(others)}, and ${share(idleMs)} was idle. ` +
          (idleMs / machineMs < 0.15 && others > serverMs + generatorMs
            ? "Other work held most of the cores: this run cannot tell what held the rate; rerun it on a quiet machine."
            : idleMs / machineMs < 0.15
              ? `The cores were busy: the rate was held by the CPU the server and the load generator spend per payment, on ${cores} cores; a cheaper payment is what would raise it here (the A/B below compares the payment threads with the event loop alone).`
              : "The cores were not all busy: the rate was held by waits (the disk, the load generator's answers), not by the CPU.")),
    "",
  ];
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
