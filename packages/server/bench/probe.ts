/**
 * Loaded into the benchmarked server process (`node --import probe.js main.js …`, with an IPC
 * channel): counts the signatures the server makes and checks, and records a CPU profile
 * (node:inspector), between a "start" and a "stop" message from the benchmark. The benchmark
 * then divides by the payments it saw acknowledged in that window, so that "signatures per
 * payment" and "where the time goes" are measured in the run, not assumed.
 *
 * It counts node:crypto's sign and verify (what protocol/src/jws.ts calls) and WebCrypto's, in
 * case any path still uses it: the counters wrap the functions and update the ES module bindings
 * (module.syncBuiltinESMExports), so `import { sign } from "node:crypto"` calls the wrapper too.
 */
import crypto from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { syncBuiltinESMExports } from "node:module";
import workerThreads, { BroadcastChannel, isMainThread } from "node:worker_threads";

export interface ProbeCounts {
  signs: number;
  verifies: number;
  webCryptoSigns: number;
  webCryptoVerifies: number;
}

export type ProbeCommand =
  | { readonly cmd: "start" }
  | { readonly cmd: "stop"; readonly profileFile: string }
  /** The process's CPU time so far, every thread, ms: the benchmark takes differences over one load. */
  | { readonly cmd: "cpu" };
/**
 * `cpuMs`: the process's CPU time over the window, every thread (user + system); `eventLoopCpuMs`:
 * the main thread's alone, from /proc (Linux; undefined elsewhere), so the rest is the SQLite
 * writer's and checkpointer's threads and V8's and libuv's helpers.
 */
export type ProbeReply =
  | { readonly event: "started" }
  /** `eventLoopCpuMs`: the main thread's alone, as below. */
  | { readonly event: "cpu"; readonly cpuMs: number; readonly eventLoopCpuMs: number | undefined }
  | {
      readonly event: "stopped";
      readonly counts: ProbeCounts;
      readonly cpuMs: number;
      readonly eventLoopCpuMs: number | undefined;
    };

const counts: ProbeCounts = { signs: 0, verifies: 0, webCryptoSigns: 0, webCryptoVerifies: 0 };
let cpuAtStart = process.cpuUsage();
let eventLoopAtStart = eventLoopCpuMs();

/** The main thread's CPU time (utime + stime of /proc/self/task/<pid>/stat), ms; undefined where /proc is not. */
function eventLoopCpuMs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of proc(5), counted from the state (field 3), in clock ticks of 10 ms (USER_HZ = 100).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

function wrap<T extends (...args: never[]) => unknown>(fn: T, count: () => void): T {
  return function (this: unknown, ...args: Parameters<T>) {
    count();
    return fn.apply(this, args);
  } as T;
}

const mutable = crypto as unknown as Record<"sign" | "verify", (...args: never[]) => unknown>;
mutable.sign = wrap(crypto.sign, () => counts.signs++);
mutable.verify = wrap(crypto.verify, () => counts.verifies++);
syncBuiltinESMExports();
const subtle = Object.getPrototypeOf(crypto.webcrypto.subtle) as Record<"sign" | "verify", (...args: never[]) => unknown>;
subtle.sign = wrap(subtle.sign, () => counts.webCryptoSigns++);
subtle.verify = wrap(subtle.verify, () => counts.webCryptoVerifies++);

/** The threads' side: counts reset and reported on request. */
const channel = new BroadcastChannel("peage-bench-probe");
channel.unref();

if (isMainThread) {
  // Every thread the server starts runs this probe, then its own module.
  const Original = workerThreads.Worker;
  const probe = import.meta.url;
  workerThreads.Worker = class extends Original {
    constructor(filename: string | URL, options: workerThreads.WorkerOptions = {}) {
      const target = filename instanceof URL ? filename.href : filename;
      super(`import(${JSON.stringify(probe)}).then(() => import(${JSON.stringify(target)}))`, { ...options, eval: true });
    }
  };
  syncBuiltinESMExports();
  listenOnMainThread();
} else {
  channel.onmessage = (event) => {
    const asked = (event as { data: "reset" | "report" }).data;
    if (asked === "reset") Object.assign(counts, { signs: 0, verifies: 0, webCryptoSigns: 0, webCryptoVerifies: 0 });
    else if (asked === "report") channel.postMessage({ ...counts });
  };
}

/** The counts of every other thread, added up: each answers within a moment. */
async function threadCounts(): Promise<ProbeCounts> {
  const total: ProbeCounts = { signs: 0, verifies: 0, webCryptoSigns: 0, webCryptoVerifies: 0 };
  channel.onmessage = (event) => {
    const counted = (event as { data: ProbeCounts }).data;
    for (const name of Object.keys(total) as (keyof ProbeCounts)[]) total[name] += counted[name];
  };
  channel.postMessage("report");
  await new Promise((resolve) => setTimeout(resolve, 250));
  return total;
}

function listenOnMainThread(): void {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => {
      session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result)));
    });

  const handle = async (command: ProbeCommand): Promise<ProbeReply> => {
    if (command.cmd === "cpu") {
      const cpu = process.cpuUsage();
      return { event: "cpu", cpuMs: (cpu.user + cpu.system) / 1000, eventLoopCpuMs: eventLoopCpuMs() };
    }
    if (command.cmd === "start") {
      Object.assign(counts, { signs: 0, verifies: 0, webCryptoSigns: 0, webCryptoVerifies: 0 });
      channel.postMessage("reset");
      cpuAtStart = process.cpuUsage();
      eventLoopAtStart = eventLoopCpuMs();
      await post("Profiler.enable");
      await post("Profiler.start");
      return { event: "started" };
    }
    const { profile } = (await post("Profiler.stop")) as { profile: unknown };
    writeFileSync(command.profileFile, JSON.stringify(profile));
    const cpu = process.cpuUsage(cpuAtStart);
    const eventLoop = eventLoopCpuMs();
    const threads = await threadCounts();
    return {
      event: "stopped",
      counts: {
        signs: counts.signs + threads.signs,
        verifies: counts.verifies + threads.verifies,
        webCryptoSigns: counts.webCryptoSigns + threads.webCryptoSigns,
        webCryptoVerifies: counts.webCryptoVerifies + threads.webCryptoVerifies,
      },
      cpuMs: (cpu.user + cpu.system) / 1000,
      eventLoopCpuMs: eventLoop === undefined || eventLoopAtStart === undefined ? undefined : eventLoop - eventLoopAtStart,
    };
  };

  process.on("message", (command: ProbeCommand) => {
    handle(command).then(
      (reply) => process.send?.(reply),
      (error: unknown) => process.stderr.write(`bench probe: ${(error as Error).message}\n`),
    );
  });
}
