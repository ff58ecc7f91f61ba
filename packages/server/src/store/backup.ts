/**
 * An online backup of the SQLite database while the server runs: VACUUM INTO writes a
 * consistent copy from one read transaction (WAL lets payments go on meanwhile; the copy holds
 * exactly what was committed when it started), to a temporary file that is checked, synced and
 * then renamed, so a backup file is whole or absent. PostgreSQL is backed up with pg_dump
 * (docs/operations.md).
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";

export interface BackupResult {
  readonly file: string;
  readonly bytes: number;
  /** Payments in the copy: everything acknowledged before the backup started is among them. */
  readonly payments: number;
}

export function backupSqlite(source: string, destination: string): BackupResult {
  const temporary = join(dirname(destination), `.${randomBytes(6).toString("hex")}.backup-tmp`);
  // Created empty and owner-only first: VACUUM INTO fills an empty file, and keeps its mode.
  closeSync(openSync(temporary, "wx", 0o600));
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 10000");
    db.prepare("VACUUM INTO ?").run(temporary);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  } finally {
    db.close();
  }
  try {
    const copy = new Database(temporary, { readonly: true, fileMustExist: true });
    let payments: number;
    try {
      const check = copy.pragma("integrity_check", { simple: true });
      if (check !== "ok") throw new Error(`the backup copy fails its integrity check: ${String(check)}`);
      payments = (copy.prepare("SELECT COUNT(*) AS n FROM payments").get() as { n: number }).n;
    } finally {
      copy.close();
    }
    const fd = openSync(temporary, "r");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temporary, destination);
    return { file: destination, bytes: statSync(destination).size, payments };
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
