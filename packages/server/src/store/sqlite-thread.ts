/**
 * The SQLite store as the server uses it: writes go to the same SqliteStore run on a thread of its
 * own (sqlite-writer.ts), so that their synchronous transactions and fsync never hold the event
 * loop that parses requests and signs acknowledgments, and the two use two cores. Reads run here,
 * at once, on a read-only connection to the same file: WAL lets it read the last commit while the
 * writer writes, and an answer from the writer means its commit is visible to the next read. The
 * write transactions re-check everything a read decided beforehand (nonce, balance, limit), as
 * they do with one connection. The errors callers tell apart (busy, schema, ledger state) come
 * back from the thread as the same classes. A third thread checkpoints the WAL
 * (sqlite-checkpointer.ts), so that no commit waits for a checkpoint.
 */
import { Worker } from "node:worker_threads";
import { batchPerTurn } from "../turn-batch.js";
import { SqliteStore, type SqliteStoreOptions } from "./sqlite.js";
import { StoreBusyError, StoreSchemaError, StoreStateError, type Store, type StoreStateErrorCode } from "./store.js";
import type { CheckpointerData } from "./sqlite-checkpointer.js";
import type { WriterAnswer, WriterRequest } from "./sqlite-writer.js";

type Pending = {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** recordPayment's payment, kept to rebuild its "recorded" outcome from the fee alone (sqlite-writer.ts). */
  sent?: unknown;
};

/** The Store methods, read from SqliteStore so that one added there is forwarded too (to the writer unless listed in READS). */
const OPERATIONS = Object.getOwnPropertyNames(SqliteStore.prototype).filter(
  (name) =>
    name !== "constructor" &&
    name !== "close" &&
    typeof Object.getOwnPropertyDescriptor(SqliteStore.prototype, name)?.value === "function",
);

/** Operations that only read (SqliteStore runs them in a deferred transaction): served by this thread's connection. */
const READS = new Set([
  "getUser",
  "monthlyUsage",
  "findPaymentByNonce",
  "getPayment",
  "listPayments",
  "getPublisher",
  "listPublishers",
  "ratesOn",
  "ledgerTransactions",
  "auditLedger",
  "closedPeriods",
  "periodsWithTransactions",
  "periodActivity",
  "periodSums",
  "statementEntries",
  "getSettlement",
  "findApiKeyByHash",
  "counts",
  "ping",
]);

/** The writer's automatic checkpoint, a safety net: the checkpointer thread normally copies the WAL long before. */
const WRITER_AUTOCHECKPOINT_PAGES = 10_000;
/**
 * How often the checkpointer thread copies the WAL's committed pages into the database file. A
 * page that every commit changes (an index's last leaf, a user's row) is copied once per
 * checkpoint however many commits changed it, so a longer interval copies less: measured with
 * payments in batches of 32, 8.8 µs of the checkpointer's CPU per payment every 100 ms, 3.0 every
 * 500 ms, and 20 against 5 with a commit per payment. Longer still, the WAL written between two
 * checkpoints at the highest rates would near WRITER_AUTOCHECKPOINT_PAGES, and the writer would
 * checkpoint in the middle of a commit.
 */
const CHECKPOINT_INTERVAL_MS = 500;

/** Stops the checkpointer thread once its connection is closed (or at once if it is gone). */
async function stopCheckpointer(checkpointer: Worker): Promise<void> {
  const stopped = new Promise((resolve) => {
    checkpointer.once("message", resolve);
    checkpointer.once("exit", resolve);
  });
  checkpointer.postMessage("stop");
  await stopped;
  await checkpointer.terminate();
}

function revive(error: { name: string; message: string; code?: unknown }): Error {
  if (error.name === "StoreBusyError") return new StoreBusyError(error.message);
  if (error.name === "StoreSchemaError") return new StoreSchemaError(error.message);
  // The worker thread serialised a StoreStateError: its code is one of StoreStateErrorCodes.
  if (error.name === "StoreStateError") return new StoreStateError(error.code as StoreStateErrorCode, error.message);
  const revived = error.name === "TypeError" ? new TypeError(error.message) : new Error(error.message);
  if (error.code !== undefined) Object.assign(revived, { code: error.code });
  return revived;
}

/** Opens the database on its own thread (migrating it there) and resolves once it is ready. */
export async function openSqliteOnThread(path: string, opts: SqliteStoreOptions = {}): Promise<Store> {
  const writerOpts: SqliteStoreOptions = { ...opts, walAutocheckpointPages: WRITER_AUTOCHECKPOINT_PAGES };
  const worker = new Worker(new URL("./sqlite-writer.js", import.meta.url), { workerData: { path, opts: writerOpts } });
  const pending = new Map<number, Pending>();
  let next = 1;
  let failed: Error | undefined;
  const ready = new Promise<void>((resolve, reject) => pending.set(0, { resolve: () => resolve(), reject }));
  worker.on("message", (answers: readonly WriterAnswer[]) => {
    for (const answer of answers) {
      const waiting = pending.get(answer.id);
      pending.delete(answer.id);
      if ("error" in answer) waiting?.reject(revive(answer.error));
      else if ("recordedFee" in answer)
        waiting?.resolve({ kind: "recorded", payment: { ...(waiting.sent as object), fee: answer.recordedFee } });
      else waiting?.resolve(answer.value);
    }
  });
  const fail = (error: Error) => {
    failed = error;
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
  };
  worker.on("error", (error) => fail(new StoreBusyError(`the database thread failed: ${error.message}`)));
  worker.on("exit", (code) => fail(new StoreBusyError(`the database thread exited (${code})`)));
  await ready;
  // The calls of one turn of the event loop go in one message (turn-batch.ts).
  const send = batchPerTurn<WriterRequest>((requests) => {
    if (!failed) worker.postMessage(requests);
  });
  const call = (method: string, args: unknown[]): Promise<unknown> => {
    if (failed) return Promise.reject(failed);
    const id = next++;
    return new Promise((resolve, reject) => {
      pending.set(id, method === "recordPayment" ? { resolve, reject, sent: args[0] } : { resolve, reject });
      send({ id, method, args });
    });
  };
  // Opened once the writer has migrated the file and put it in WAL mode.
  const reader = SqliteStore.open(path, { ...opts, readonly: true });
  const checkpointer = new Worker(new URL("./sqlite-checkpointer.js", import.meta.url), {
    workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS } satisfies CheckpointerData,
  });
  // Should it fail, the writer's own automatic checkpoint takes over: nothing to do here but not crash.
  checkpointer.on("error", () => undefined);
  const read = reader as unknown as Record<string, (...args: unknown[]) => unknown>;
  const store: Record<string, unknown> = Object.fromEntries(
    OPERATIONS.map((name) => [
      name,
      READS.has(name) ? (...args: unknown[]) => read[name]!.apply(reader, args) : (...args: unknown[]) => call(name, args),
    ]),
  );
  store["importRates"] = async (...args: unknown[]) => {
    const result = await call("importRates", args);
    reader.forgetRates();
    return result;
  };
  let closing: Promise<void> | undefined;
  store["close"] = () =>
    (closing ??= (async () => {
      await reader.close();
      await stopCheckpointer(checkpointer);
      if (!failed) await call("close", []);
      await worker.terminate();
    })());
  return store as unknown as Store;
}
