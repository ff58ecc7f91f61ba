/**
 * Settlement of a large period: PAYMENTS payments (default 1,000,000) by USERS users to
 * PUBLISHERS publishers in one month, settled by `settle` (close, plan, record, write every
 * statement, payout report and bank file), in a process of its own so that its peak resident
 * memory is the settlement's alone. The same is done at a tenth of the size, so that the two
 * peaks say whether memory stays bounded (streamed) or grows with the period (loaded whole).
 *
 *   node packages/server/dist/bench/settlement.bench.js
 *   PEAGE_BENCH_SETTLE_PAYMENTS=100000 node packages/server/dist/bench/settlement.bench.js
 *
 * The books are written through Store.recordPayment (group commit) on SQLite, each payment with a
 * real signed acknowledgment's bytes. Writes docs/benchmarks/settlement.md and its targets.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  FixedClock,
  generateKeyPair,
  price,
  signAcknowledgment,
  signCatalog,
  verifyPaymentRequest,
  type CurrencyCode,
  type MinorUnits,
  type PartyId,
} from "@peage/protocol";
import { DEMO_BANK, settle, SqliteStore, type PaymentRecord } from "../src/index.js";
import { f0, f1, f2, publishSection } from "./report.js";

const PAYMENTS = Number(process.env["PEAGE_BENCH_SETTLE_PAYMENTS"] ?? 1_000_000);
const USERS = 10_000;
const PUBLISHERS = 1_000;
const PERIOD = "2026-03";
const SELF = fileURLToPath(import.meta.url);
/**
 * Where the books are written: tmpfs when there is one, where a commit's fsync costs nothing, so
 * that a million payments are written in minutes (the settlement's own reads are page-cache reads
 * either way). PEAGE_BENCH_DIR chooses another place.
 */
const BOOKS_DIR = process.env["PEAGE_BENCH_DIR"] ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());

interface Settled {
  readonly payments: number;
  readonly seconds: number;
  readonly peakMiB: number;
  readonly files: number;
  readonly error?: string;
}

/** A real acknowledgment, signed once: every payment of the books carries bytes of its size. */
async function sampleAcknowledgment(): Promise<PaymentRecord["acknowledgment"]> {
  const pki = await createDemoPki();
  const userKey = await generateKeyPair("ES256");
  const user = "urn:peage:user:sample" as PartyId<"user">;
  const entry = { offerId: "x", description: "x", price: price(100, "EUR"), grant: { kind: "launch" } } as const;
  const catalog = await signCatalog(pki.publisher.identity, [entry], pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
  const clock = new FixedClock(new Date());
  const request = await createPaymentRequest({
    offer: createOffer(catalog.offers[0]!, clock),
    user,
    server: pki.server.identity,
    userKey,
    clock,
  });
  const verified = await verifyPaymentRequest(request, {
    trust: pki.trustStore(),
    clock,
    server: pki.server.identity,
    userKey: async () => ({ alg: "ES256", publicKey: userKey.publicKey }),
  });
  if (!verified.ok) throw new Error(verified.error.message);
  const { consent } = verified.value;
  const x5c = pki.chainOf(pki.server.certificate);
  return signAcknowledgment({
    consent,
    paymentId: "pay_sample",
    server: pki.server.identity,
    charged: price(100, "EUR"),
    key: pki.server.keys,
    x5c,
    clock,
  });
}

/** The books' parties: USERS prepaid users with funds, PUBLISHERS publishers with bank details. */
async function writeParties(path: string): Promise<void> {
  const store = SqliteStore.open(path);
  for (let p = 0; p < PUBLISHERS; p++) {
    const id = `urn:peage:publisher:p${p}` as PartyId<"publisher">;
    await store.putPublisher(
      { id, name: `Publisher ${p}`, country: "FR", iban: DEMO_BANK.iban, bic: DEMO_BANK.bic },
      "2026-01-01T00:00:00.000Z",
    );
  }
  for (let u = 0; u < USERS; u++) {
    const id = `urn:peage:user:u${u}` as PartyId<"user">;
    const currency = "EUR" as CurrencyCode;
    const createdAt = "2026-01-01T00:00:00.000Z";
    await store.createUser({
      id,
      publicKeyJwk: "{}",
      alg: "ES256",
      kid: `k${u}`,
      mode: "prepaid",
      homeCurrency: currency,
      monthlyLimit: undefined,
      createdAt,
    });
    // Funded in the period itself: an earlier period with transactions would have to be settled first.
    const fundedAt = `${PERIOD}-01T00:00:00.000Z`;
    await store.topUp({
      id: `top_${u}`,
      user: id,
      kind: "funds",
      amount: 1_000_000_000 as MinorUnits,
      currency,
      idempotencyKey: `k${u}`,
      createdAt: fundedAt,
    });
  }
  await store.close();
}

/** Adds `payments` payments of the period, spread over the users, publishers and days. */
async function writePayments(path: string, payments: number, acknowledgment: PaymentRecord["acknowledgment"]): Promise<void> {
  const store = SqliteStore.open(path);
  const CHUNK = 2000;
  for (let start = 0; start < payments; start += CHUNK) {
    const chunk: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(payments, start + CHUNK); i++) {
      const at = new Date(Date.UTC(2026, 2, 1 + (i % 28), 10, 0, 0, i % 1000)).toISOString();
      const record: PaymentRecord = {
        id: `pay_${i}`,
        user: `urn:peage:user:u${i % USERS}` as PartyId<"user">,
        publisher: `urn:peage:publisher:p${(i * 7) % PUBLISHERS}` as PartyId<"publisher">,
        offerHash: `h${i % 100}`,
        price: price(100 + (i % 50), "EUR"),
        charged: price(100 + (i % 50), "EUR"),
        rate: "1.0000000000",
        rateDate: undefined,
        nonce: `n${i}`,
        offerDate: at,
        serverTime: at,
        requestHash: `r${i}`,
        acknowledgment,
        fee: 0 as MinorUnits,
      };
      chunk.push(store.recordPayment(record));
    }
    await Promise.all(chunk);
    if ((start / CHUNK) % 50 === 0) process.stdout.write(`  ${start + chunk.length} payments written\n`);
  }
  await store.close();
}

/** In a child process: settles the period and prints time, peak memory and files as JSON. */
async function settleHere(path: string, outDir: string): Promise<void> {
  const store = SqliteStore.open(path);
  const start = performance.now();
  const config = { minimumPayouts: {}, bank: DEMO_BANK };
  const result = await settle({ store, period: PERIOD, outDir, config, now: new Date("2026-04-02T08:00:00.000Z") });
  const seconds = (performance.now() - start) / 1000;
  await store.close();
  const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  process.stdout.write(
    `${JSON.stringify({ seconds, peakMiB: peak ? Number(peak[1]) / 1024 : Number.NaN, files: result.files.length })}\n`,
  );
}

/**
 * Runs the settlement in a child process, watching its peak resident memory from outside as well,
 * so that a settlement that fails (out of memory) still reports how long it ran and how high it got.
 */
async function settleInChild(path: string, outDir: string, payments: number): Promise<Settled> {
  const start = performance.now();
  const child = spawn(process.execPath, [SELF, "--settle", path, outDir], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
  let watchedPeak = 0;
  const watch = setInterval(() => {
    const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSafe(`/proc/${child.pid}/status`));
    if (peak) watchedPeak = Math.max(watchedPeak, Number(peak[1]) / 1024);
  }, 250);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearInterval(watch);
  const seconds = (performance.now() - start) / 1000;
  if (code !== 0) {
    const error = (stderr.split("\n").find((l) => /heap|memory|Error/i.test(l)) ?? `exit ${code}`).trim();
    return {
      payments,
      seconds,
      peakMiB: watchedPeak,
      files: 0,
      error: `${error} (after ${f0(seconds)} s at ${f0(watchedPeak)} MiB)`,
    };
  }
  return {
    payments,
    ...(JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { seconds: number; peakMiB: number; files: number }),
  };
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

async function measure(parties: string, payments: number, acknowledgment: PaymentRecord["acknowledgment"]): Promise<Settled> {
  const root = mkdtempSync(join(BOOKS_DIR, "peage-settle-bench-"));
  try {
    const path = join(root, "peage.db");
    copyFileSync(parties, path);
    process.stdout.write(`writing ${payments} payments…\n`);
    const start = performance.now();
    await writePayments(path, payments, acknowledgment);
    process.stdout.write(`  in ${f0((performance.now() - start) / 1000)} s\n`);
    process.stdout.write(`settling ${payments} payments…\n`);
    return await settleInChild(path, join(root, "out"), payments);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === "--settle") return settleHere(process.argv[3]!, process.argv[4]!);
  const root = mkdtempSync(join(BOOKS_DIR, "peage-settle-parties-"));
  let small: Settled;
  let large: Settled;
  try {
    const parties = join(root, "parties.db");
    process.stdout.write(`writing ${USERS} users and ${PUBLISHERS} publishers…\n`);
    await writeParties(parties);
    const acknowledgment = await sampleAcknowledgment();
    small = await measure(parties, Math.round(PAYMENTS / 10), acknowledgment);
    large = await measure(parties, PAYMENTS, acknowledgment);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const growth = small.error || large.error ? Number.NaN : large.peakMiB / small.peakMiB;
  const row = (s: Settled) =>
    `| ${s.payments} | ${s.error ? "" : f1(s.seconds)} | ${s.error ? "" : f0(s.peakMiB)} | ${s.files} | ${s.error ?? ""} |`;
  const markdown = [
    "## Settlement of a large period",
    "",
    `A month of payments by ${USERS} prepaid users to ${PUBLISHERS} publishers on SQLite, settled by \`settle\` (close the period, plan, record the settlement, write every statement, payout report and bank file), in a process of its own whose peak resident memory (VmHWM, read by the process at its end and sampled from outside every 250 ms) is the settlement's alone. The books are written first through Store.recordPayment (group commit), each payment with a real acknowledgment's bytes, on tmpfs where there is one (a commit's fsync then costs nothing; the settlement's reads are page-cache reads either way). The same at a tenth of the size, to see whether memory grows with the period. ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, Node ${process.version}, 1-minute load average ${loadavg()[0]!.toFixed(1)} at the end. \`node packages/server/dist/bench/settlement.bench.js\` reproduces it (\`PEAGE_BENCH_SETTLE_PAYMENTS\` sets the size).`,
    "",
    "| payments | seconds | peak memory (MiB) | files | failure |",
    "|---:|---:|---:|---:|---|",
    row(small),
    row(large),
    "",
    `Peak memory at ${large.payments} ÷ at ${small.payments}: ${f2(growth)}` +
      (Number.isNaN(growth)
        ? ": a settlement failed, so the two cannot be compared; its failure and what it reached are in the table."
        : growth < 1.25
          ? ": memory stays bounded as the period grows."
          : ". Memory grew with the period: something in the settlement still holds the period whole."),
    "",
    "How it stays bounded: the plan is made from sums grouped in the database (Store.periodSums: one row per account and currency, however many payments), and the statements from the period's transactions read in pages of 5,000 in (user, position) order by a keyset cursor (Store.statementEntries, served by the index on period, user and position), each user's statement written as soon as the next user's first transaction shows it complete. What remains in memory grows with the parties (users and publishers: the payout reports, the bank files, the list of files written), which are the same at both sizes here.",
    "",
  ].join("\n");
  publishSection("settlement", markdown, [
    {
      target: `settlement of ${large.payments} payments, ${USERS} users, ${PUBLISHERS} publishers: time and peak memory`,
      measured: large.error ? `failed: ${large.error}` : `${f1(large.seconds)} s, ${f0(large.peakMiB)} MiB`,
      goal: "bounded memory (streamed)",
      // Bounded: ten times the payments for at most a quarter more memory.
      met: !large.error && growth < 1.25,
      from: `${f0(small.peakMiB)} MiB at ${small.payments} payments`,
    },
  ]);
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
