/**
 * `--workers` on SQLite, A/B at the same moment: the server as users start it (one payment thread
 * per core, payment-pool.ts) against the same server with `--workers 1` (everything on the event
 * loop), each in its own process with its own data directory made from the same PKI, so that the
 * same requests are valid for both. In every round of the benchmark, each side takes the same
 * closed load (32 in flight) twice, in the order A B B A, then B A A B in the next round; each side's
 * figures sum its rounds: payments/s, and the CPU its process spent per payment (every thread,
 * process.cpuUsage in the server) over exactly its loads.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { initDataDir } from "../src/index.js";
import type { KeyPair, PartyId } from "@peage/protocol";
import { f0, f2 } from "./report.js";

export interface AbSide {
  readonly label: string;
  payments: number;
  errors: number;
  seconds: number;
  cpuMs: number;
  /** The event loop's thread alone (Linux /proc; NaN elsewhere). */
  eventLoopMs: number;
}

/** A server's CPU time so far, ms: every thread, and its event loop's alone where /proc tells. */
export interface ServerCpu {
  readonly all: number;
  readonly eventLoop: number | undefined;
}

/** What the benchmark hands over: its way to start a server, load it and read its CPU time, and its requests. */
export interface AbHarness<P> {
  startServer(
    dataDir: string,
    keyFile: string,
    extra: readonly string[],
  ): Promise<{ url: string; cpu(): Promise<ServerCpu>; stop(): Promise<void> }>;
  /** `concurrency` requests in flight for `seconds` to the server at `url`; adds to the side's payments, errors and seconds. */
  load(side: AbSide, url: string, payments: readonly P[], concurrency: number, seconds: number): Promise<void>;
  makeRequests(count: number): Promise<P[]>;
}

export interface WorkersAb {
  readonly threads: number;
  readonly sides: readonly [AbSide, AbSide];
  /** One round: each side twice, A B B A (B A A B in odd rounds), so that neither is always first or last. */
  round(index: number, pooledUrl: string, pooledCpu: () => Promise<ServerCpu>): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the `--workers 1` server beside the benchmark's, with the same user and balance. */
export async function startWorkersAb<P>(
  harness: AbHarness<P>,
  opts: { root: string; pkiDir: string; user: PartyId<"user">; userKey: KeyPair; concurrency: number; seconds: number },
): Promise<WorkersAb> {
  const dataDir = join(opts.root, "data-workers-1");
  await initDataDir({ dataDir, pkiDir: opts.pkiDir });
  const keyFile = join(opts.root, "operator-workers-1.key");
  const single = await harness.startServer(dataDir, keyFile, ["--workers", "1"]);
  const headers = { "content-type": "application/json", authorization: `Bearer ${readFileSync(keyFile, "utf8").trim()}` };
  const publicKey = await webcrypto.subtle.exportKey("jwk", opts.userKey.publicKey);
  for (const [path, body] of [
    ["/v1/admin/users", { user: opts.user, publicKey, mode: "prepaid", homeCurrency: "EUR" }],
    [`/v1/admin/users/${opts.user}/topups`, { amount: 1_000_000_000_000, idempotencyKey: "bench-initial" }],
  ] as const) {
    const response = await fetch(`${single.url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
    if (response.status !== 201)
      throw new Error(`${path} on the --workers 1 server: ${response.status} ${await response.text()}`);
  }
  const threads = availableParallelism();
  const sides: [AbSide, AbSide] = [
    {
      label: `default (${threads} payment thread${threads === 1 ? "" : "s"})`,
      payments: 0,
      errors: 0,
      seconds: 0,
      cpuMs: 0,
      eventLoopMs: 0,
    },
    { label: "--workers 1 (the event loop)", payments: 0, errors: 0, seconds: 0, cpuMs: 0, eventLoopMs: 0 },
  ];
  const run = async (side: AbSide, url: string, cpu: () => Promise<ServerCpu>) => {
    const bodies = await harness.makeRequests(Math.ceil(4000 * opts.seconds));
    const before = await cpu();
    await harness.load(side, url, bodies, opts.concurrency, opts.seconds);
    const after = await cpu();
    side.cpuMs += after.all - before.all;
    side.eventLoopMs += (after.eventLoop ?? Number.NaN) - (before.eventLoop ?? Number.NaN);
  };
  return {
    threads,
    sides,
    async round(index, pooledUrl, pooledCpu) {
      const order = index % 2 === 0 ? [0, 1, 1, 0] : [1, 0, 0, 1];
      for (const which of order) {
        if (which === 0) await run(sides[0], pooledUrl, pooledCpu);
        else await run(sides[1], single.url, () => single.cpu());
      }
    },
    stop: () => single.stop(),
  };
}

/** The A/B's section of the report. */
export function renderWorkersAb(ab: WorkersAb, rounds: number, concurrency: number, seconds: number): string[] {
  const [pooled, single] = ab.sides;
  const perPayment = (side: AbSide) => (side.cpuMs * 1000) / side.payments;
  const row = (side: AbSide) =>
    `| ${side.label} | ${side.payments} | ${side.errors} | ${f0(side.payments / side.seconds)} | ${f0(perPayment(side))} | ` +
    `${f0((side.eventLoopMs * 1000) / side.payments)} | ${f2(side.cpuMs / 1000 / side.seconds)} |`;
  const cpuRatio = perPayment(pooled) / perPayment(single);
  const rateRatio = pooled.payments / pooled.seconds / (single.payments / single.seconds);
  return [
    "### Payment threads against the event loop alone (`--workers` on SQLite)",
    "",
    `The server as users start it (one payment thread per core: ${ab.threads} here) and the same server with \`--workers 1\`, each its own process and data directory, took ${concurrency} requests in flight for ${seconds} s twice in each of the ${rounds} rounds, in the order A B B A then B A A B, so that the machine's other work weighed on both alike. CPU per payment is the server process's CPU time over its loads, every thread (process.cpuUsage), divided by its payments, and the event loop's thread's alone (/proc, in ticks of 10 ms); cores is that CPU time over the loads' duration.`,
    "",
    "| server | payments | errors | payments/s | CPU per payment (µs) | of which the event loop's (µs) | cores used |",
    "|---|---:|---:|---:|---:|---:|---:|",
    row(pooled),
    row(single),
    "",
    `With the threads, the server spent ${f2(cpuRatio)} × the CPU per payment of the event loop alone and reached ${f2(rateRatio)} × its rate, in this run on this machine.`,
    "",
  ];
}
