/**
 * Payment ids that begin with the time they were made. A payment's id is the key of three unique
 * indexes written with it (the payment's id, its ledger transaction's id, the one transaction per
 * payment), and a random key sends each insert to a leaf page of its own: in a commit of 32
 * payments, about 25 pages per index, each written to the WAL and copied again by the checkpoint.
 * Ids made together sort together, so a commit's payments share a page or two of each index.
 *
 * The id keeps the form of the others (a prefix, then 22 base64url characters: 16 bytes): 6 bytes
 * of milliseconds since 1970 (enough until the year 10889), then 10 bytes from the CSPRNG, 80 bits
 * that nobody can guess and that two ids of the same millisecond never share by chance.
 */
import { randomBytes } from "node:crypto";

const TIME_BYTES = 6;

export function orderedId(prefix: string, now: number = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Math.trunc(now), 0, TIME_BYTES);
  return `${prefix}_${bytes.toString("base64url")}`;
}
