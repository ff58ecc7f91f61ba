/**
 * The thread that owns the SQLite database when the server runs on it (sqlite-thread.ts): it runs
 * the SqliteStore's operations as they arrive and answers each, so that a transaction and its
 * fsync block this thread, never the event loop that parses requests and signs. Payments that
 * arrive while a commit is under way are recorded together in the next one (the store's group
 * commit), which the commit's wait makes larger, not smaller.
 */
import { parentPort, workerData } from "node:worker_threads";
import { SqliteStore, type SqliteStoreOptions } from "./sqlite.js";

export interface WriterRequest {
  readonly id: number;
  readonly method: string;
  readonly args: readonly unknown[];
}

export type WriterAnswer =
  | { readonly id: number; readonly value: unknown }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string; readonly code?: unknown } };

const port = parentPort!;
const { path, opts } = workerData as { path: string; opts: SqliteStoreOptions };
let store: SqliteStore;
try {
  store = SqliteStore.open(path, opts);
  port.postMessage({ id: 0, value: "ready" } satisfies WriterAnswer);
} catch (error) {
  port.postMessage(failure(0, error));
  process.exit(1);
}

function failure(id: number, error: unknown): WriterAnswer {
  const e = error as { name?: unknown; message?: unknown; code?: unknown };
  return {
    id,
    error: {
      name: String(e?.name ?? "Error"),
      message: String(e?.message ?? error),
      ...(e?.code === undefined ? {} : { code: e.code }),
    },
  };
}

port.on("message", ({ id, method, args }: WriterRequest) => {
  const operation = (store as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
  if (typeof operation !== "function") {
    port.postMessage(failure(id, new TypeError(`the store has no operation ${method}`)));
    return;
  }
  Promise.resolve()
    .then(() => operation.apply(store, [...args]))
    .then(
      (value) => port.postMessage({ id, value } satisfies WriterAnswer),
      (error: unknown) => port.postMessage(failure(id, error)),
    );
});
