/**
 * The thread that owns the SQLite database when the server runs on it (sqlite-thread.ts): it runs
 * the SqliteStore's operations as they arrive and answers each, so that a transaction and its
 * fsync block this thread, never the event loop that parses requests and signs. Payments that
 * arrive while a commit is under way are recorded together in the next one (the store's group
 * commit), which the commit's wait makes larger, not smaller.
 */
import { parentPort, workerData } from "node:worker_threads";
import { batchPerTurn } from "../turn-batch.js";
import { SqliteStore, type SqliteStoreOptions } from "./sqlite.js";

export interface WriterRequest {
  readonly id: number;
  readonly method: string;
  readonly args: readonly unknown[];
}

export type WriterAnswer =
  | { readonly id: number; readonly value: unknown }
  /** recordPayment's "recorded": the payment sent, with this fee (the caller rebuilds it: see recordedFee). */
  | { readonly id: number; readonly recordedFee: number }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string; readonly code?: unknown } };

/**
 * The fee of a recorded payment whose outcome is the payment as it was sent plus its fee (what
 * logic.recordPayment returns): then only the fee goes back, not a clone of the whole record and
 * its acknowledgment, which would cost a serialisation here and a deserialisation on the event
 * loop for an object the caller holds already. Undefined for any other outcome, sent whole.
 */
export function recordedFee(sent: unknown, outcome: unknown): number | undefined {
  const answer = outcome as { kind?: unknown; payment?: Record<string, unknown> } | undefined;
  if (answer?.kind !== "recorded" || typeof sent !== "object" || sent === null) return undefined;
  const payment = answer.payment;
  const fee = payment?.["fee"];
  if (typeof fee !== "number") return undefined;
  const given = sent as Record<string, unknown>;
  const keys = Object.keys(payment!);
  // Every member the same value (by reference: a spread copies them), and no member added or lost but the fee.
  if (!keys.every((key) => key === "fee" || payment![key] === given[key])) return undefined;
  const sentKeys = Object.keys(given);
  return sentKeys.every((key) => key in payment!) && keys.length === sentKeys.length + (sentKeys.includes("fee") ? 0 : 1)
    ? fee
    : undefined;
}

const port = parentPort!;
const { path, opts } = workerData as { path: string; opts: SqliteStoreOptions };
let store: SqliteStore;
try {
  store = SqliteStore.open(path, opts);
  port.postMessage([{ id: 0, value: "ready" }] satisfies WriterAnswer[]);
} catch (error) {
  port.postMessage([failure(0, error)]);
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

// Requests come in batches (one message per turn of the caller's event loop) and so do answers:
// those ready in one turn of this thread's loop (a group commit's payments) go back in one message.
const answer = batchPerTurn<WriterAnswer>((replies) => port.postMessage(replies));

port.on("message", (requests: readonly WriterRequest[]) => {
  for (const { id, method, args } of requests) {
    const operation = (store as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
    if (typeof operation !== "function") {
      answer(failure(id, new TypeError(`the store has no operation ${method}`)));
      continue;
    }
    Promise.resolve()
      .then(() => operation.apply(store, [...args]))
      .then(
        (value) => {
          const fee = method === "recordPayment" ? recordedFee(args[0], value) : undefined;
          answer(fee === undefined ? { id, value } : { id, recordedFee: fee });
        },
        (error: unknown) => answer(failure(id, error)),
      );
  }
});
