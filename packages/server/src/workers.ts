/**
 * The server on several processes sharing one listening port (node:cluster), so that parsing,
 * signatures and HTTP use every core: `--workers N` on PostgreSQL. On SQLite, whose file has one
 * writer, the server stays one process and the N workers are threads that check and sign payment
 * requests (payment-pool.ts, started by start.ts). Each worker process is a whole server (its own pool, caches,
 * trust store and rates); what must hold across them (a nonce recorded once, a balance never
 * overdrawn) is held by the database's locks and unique keys, as between machines
 * (docs/scaling.md).
 *
 * The same script runs in the primary and in each worker (cluster.fork re-runs it with the same
 * arguments): `serve` starts the workers in the primary and resolves once all listen; in a worker
 * it starts one server, reports to the primary and never resolves, the worker living until the
 * primary stops it.
 */
import cluster, { type Worker } from "node:cluster";
import type { ServerConfig } from "./config.js";
import { startServer, type RunningServer } from "./start.js";

/** The server as its caller sees it, whatever the number of processes. */
export interface Serving {
  /** http://host:port of the listening socket (shared by every worker). */
  readonly url: string;
  readonly serverId: string;
  /** Processes (PostgreSQL) or payment threads (SQLite). */
  readonly workers: number;
  /** http://host:port of the metrics listener, when it has one of its own (each worker answers for itself). */
  readonly metricsUrl: string | undefined;
  /** Re-reads the rates, the TLS certificate and key, and the CRLs in every process, each logging the outcome. */
  reload(): void;
  /** Stops every process gracefully (each finishes its requests in flight). */
  close(): Promise<void>;
}

interface ListeningMessage {
  readonly event: "listening";
  readonly url: string;
  readonly server: string;
  readonly metricsUrl: string | undefined;
}

/** True in a process forked by `serve` to be one of the workers. */
export const isWorkerProcess = (): boolean => cluster.isWorker;

/** Starts the server on `config.workers` processes (PostgreSQL), or in this one when it is 1 or on SQLite (threads). */
export async function serve(config: ServerConfig): Promise<Serving> {
  if (cluster.isWorker) return runWorker(config);
  if (config.workers <= 1 || config.databaseUrl === undefined) return single(await startServer(config), config.workers);
  return startPrimary(config);
}

function single(running: RunningServer, workers: number): Serving {
  return {
    url: running.url,
    serverId: running.identity.id,
    workers,
    metricsUrl: running.metricsUrl,
    // Each part logs its own result; a part that fails keeps what was in force.
    reload: () => void running.reload(),
    close: () => running.close(),
  };
}

/** A worker: one server, stopped by SIGTERM from the primary, or when the primary is gone. */
async function runWorker(config: ServerConfig): Promise<never> {
  const running = await startServer(config);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", stop);
  // The primary is gone (killed): nobody would stop this worker any more.
  process.on("disconnect", stop);
  // A terminal's Ctrl-C reaches the whole process group: the primary decides, and sends SIGTERM.
  process.on("SIGINT", () => undefined);
  process.on("SIGHUP", () => void running.reload());
  const message: ListeningMessage = {
    event: "listening",
    url: running.url,
    server: running.identity.id,
    metricsUrl: running.metricsUrl,
  };
  process.send!(message);
  return new Promise<never>(() => undefined);
}

/** A replacement for a worker that died before it could listen waits this long: no tight restart loop. */
const RESTART_DELAY_MS = 1000;

async function startPrimary(config: ServerConfig): Promise<Serving> {
  const workers = new Set<Worker>();
  let serving = false;
  let stopping = false;
  const fork = (): Promise<ListeningMessage> => {
    const worker = cluster.fork();
    workers.add(worker);
    let listening = false;
    return new Promise((resolve, reject) => {
      worker.on("message", (message: ListeningMessage) => {
        if (message?.event !== "listening") return;
        listening = true;
        resolve(message);
      });
      worker.once("exit", (code, signal) => {
        workers.delete(worker);
        reject(new Error(`a worker process exited (${signal ?? code}) before listening: see its message above`));
        // Once the server is up, a worker that dies is replaced; its requests in flight failed
        // with it and their clients retry (an acknowledged payment is committed, a retry gets it back).
        if (!serving || stopping) return;
        process.stderr.write(`${JSON.stringify({ event: "worker-exit", pid: worker.process.pid, code, signal })}\n`);
        const replace = () => {
          if (!stopping) fork().catch(() => undefined);
        };
        if (listening) replace();
        else setTimeout(replace, RESTART_DELAY_MS).unref();
      });
    });
  };
  let first: ListeningMessage;
  try {
    const started = await Promise.all(Array.from({ length: config.workers }, fork));
    first = started[0]!;
    serving = true;
  } catch (error) {
    stopping = true;
    for (const worker of workers) worker.process.kill("SIGKILL");
    throw error;
  }
  return {
    url: first.url,
    serverId: first.server,
    workers: config.workers,
    metricsUrl: first.metricsUrl,
    reload: () => {
      for (const worker of workers) worker.process.kill("SIGHUP");
    },
    close: async () => {
      stopping = true;
      await Promise.all(
        [...workers].map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              worker.once("exit", () => resolve());
              worker.process.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}
