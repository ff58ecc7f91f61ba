/**
 * The disk's floor under a durable commit, measured beside the database in the same run: a bare
 * write of one page followed by fdatasync, on a file in the data directory (so on the database's
 * file system), timed one by one. A commit on SQLite with synchronous=FULL cannot be quicker than
 * this, so the latency targets are read against it rather than against a figure from elsewhere.
 *
 * The file is written once in full and synced before the timing, and the timed writes overwrite
 * it page by page, as SQLite reuses its write-ahead log after a checkpoint: each fdatasync then
 * flushes data only, the least a commit asks of the disk.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

const PAGE = 4096;
const PAGES = 256;

export interface DiskFloor {
  /** Milliseconds of each write + fdatasync, in the order taken. */
  readonly latencies: number[];
}

export const newDiskFloor = (): DiskFloor => ({ latencies: [] });

/** Times write + fdatasync of one page for `ms` milliseconds, on a scratch file in `dir`, and adds the latencies to `floor`. */
export function timeFdatasync(floor: DiskFloor, dir: string, ms: number): void {
  const path = join(dir, "bench-fdatasync.tmp");
  const fd = openSync(path, "w");
  try {
    const page = Buffer.alloc(PAGE, 0x5a);
    for (let i = 0; i < PAGES; i++) writeSync(fd, page, 0, PAGE, i * PAGE);
    fsyncSync(fd);
    const start = performance.now();
    for (let i = 0; performance.now() - start < ms; i++) {
      const before = performance.now();
      page.writeUInt32LE(i, 0);
      writeSync(fd, page, 0, PAGE, (i % PAGES) * PAGE);
      fdatasyncSync(fd);
      floor.latencies.push(performance.now() - before);
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}
