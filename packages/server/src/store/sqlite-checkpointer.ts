/**
 * The thread that checkpoints the server's SQLite database (copies committed pages from the WAL
 * into the database file, and fsyncs that file), so that the writer thread never does it in the
 * middle of a commit. Left to the writer (SQLite's automatic checkpoint every 1000 pages), a
 * checkpoint and its fsync land on whichever payment commits at that moment, and every payment
 * waiting behind it: the slowest requests under load. Here it runs beside the writer on a
 * connection of its own: a PASSIVE checkpoint takes no write lock, so commits go on meanwhile.
 *
 * Durability is unchanged: a commit is durable once its WAL frames are fsynced (synchronous=FULL);
 * a checkpoint only moves committed pages. The writer keeps an automatic checkpoint of its own at
 * a much higher threshold, should this thread fall behind.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSqlite } from "./driver.js";

export interface CheckpointerData {
  readonly path: string;
  /** How often to look for frames to copy, ms. */
  readonly intervalMs: number;
}

const { path, intervalMs } = workerData as CheckpointerData;
const db = openSqlite(path);
db.pragma("wal_autocheckpoint = 0");
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");

const timer = setInterval(() => {
  try {
    checkpoint.run();
  } catch {
    // Busy (another connection checkpoints, or the database is being closed): the next turn tries again.
  }
}, intervalMs);

parentPort!.on("message", (message: "stop") => {
  if (message !== "stop") return;
  clearInterval(timer);
  db.close();
  parentPort!.postMessage("stopped");
});
