/**
 * The issuing payment server's card desk (docs/card.md, "The issuing server's card desk"): the
 * smart cards it issued, and what happens when a card's usage log comes back (claim 8) — the
 * upload checked entry by entry against the card's key, each payment posted once to the ledger
 * through Store.recordPayment (the one way a payment enters the books, docs/ledger.md), the
 * publishers credited there, and the signed SYNC (and RELOAD, claim 8) returned for the card.
 *
 * Accounts. A card belongs to a user's ledger account: its payments debit that account's prepaid
 * funds or postpaid receivable like online payments do. Registering a card records the money the
 * user handed over with it: the prepaid load as a top-up of the account's funds, the postpaid
 * deposit (claim 10) as a deposit. A user without an account gets one, enrolled with the card's
 * own key: the card signs only its own records, never a consent, so that account is usable by
 * the card alone.
 *
 * Commands (commands.ts). Each card applies issuer commands in the order of their sequence
 * number, once; a RELOAD can never be applied twice, whatever was lost.
 *
 * Incidents. An upload that does not verify (a forged, foreign or malformed entry, a gap, a
 * duplicate, a truncated log, a stale or forged head), a card that applied a command the desk
 * never signed, or a payment the ledger refuses to book is recorded as an incident and blocks
 * the card's account: nothing of a refused upload is recorded, and a blocked account syncs no
 * more until the operator unblocks it. A replayed upload (its challenge already used) is refused
 * and recorded, without blocking.
 *
 * This module opens the desk; the operations are CardService's (service.ts), each in a module of
 * its own: registration.ts, sync.ts, commands.ts, views.ts, over the records of records.ts.
 */
import { createPublicKey } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { importPrivateKeyPem, parseCertificatesPem, subjectAltNameUris, toX5c, type PartyId } from "@peage/protocol";
import type { CardIssuer } from "@peage/card";
import { DataDirFiles, type ServerIdentity } from "../data-dir.js";
import type { CardDesk } from "./context.js";
import { CardDeskFiles } from "./files.js";
import { openCardDb, type CardDb } from "./storage.js";

/** How long a challenge for LOG HEAD may be used (default 5 minutes), once. */
export const DEFAULT_CHALLENGE_TTL_MS = 5 * 60_000;

export interface CardDeskLocation {
  readonly dataDir: string;
  readonly databaseUrl?: string | undefined;
  /** PostgreSQL: the schema the store uses, when not the URL's default. */
  readonly schema?: string;
}

/**
 * Opens the card desk of a data directory: undefined when it holds no card issuer (the server
 * then issues no cards and answers the card routes 404).
 */
export async function openCardDesk(
  location: CardDeskLocation,
  identity: Pick<ServerIdentity, "id">,
  opts: { challengeTtlMs?: number } = {},
): Promise<CardDesk | undefined> {
  if (!existsSync(join(location.dataDir, CardDeskFiles.key))) return undefined;
  const issuer = await loadCardIssuer(location.dataDir, identity.id);
  const db = await openCardDb(
    location.databaseUrl !== undefined
      ? { databaseUrl: location.databaseUrl, ...(location.schema !== undefined && { schema: location.schema }) }
      : { sqlitePath: join(location.dataDir, DataDirFiles.database) },
  );
  return createCardDesk({ db, issuer, ...opts });
}

/** A desk over a connection and an issuer already at hand (tests, the demo). */
export function createCardDesk(parts: { db: CardDb; issuer: CardIssuer; challengeTtlMs?: number }): CardDesk {
  return {
    db: parts.db,
    issuer: parts.issuer,
    challengeTtlMs: parts.challengeTtlMs ?? DEFAULT_CHALLENGE_TTL_MS,
    close: () => parts.db.close(),
  };
}

/** Reads the card issuer of a data directory, checking that its key is its certificate's and that it names this server. */
export async function loadCardIssuer(dataDir: string, server: PartyId<"server">): Promise<CardIssuer> {
  const [keyPem, chainPem] = await Promise.all([
    readFile(join(dataDir, CardDeskFiles.key), "utf8"),
    readFile(join(dataDir, CardDeskFiles.chain), "utf8"),
  ]);
  const keys = await importPrivateKeyPem(keyPem);
  const chain = parseCertificatesPem(chainPem);
  const certificate = chain[0];
  if (!certificate) throw new TypeError(`${CardDeskFiles.chain} holds no certificate`);
  const own = createPublicKey(keyPem).export({ type: "spki", format: "der" });
  if (!own.equals(Buffer.from(certificate.publicKey.rawData)))
    throw new TypeError(`${CardDeskFiles.key} is not the key certified by the first certificate of ${CardDeskFiles.chain}`);
  const names = subjectAltNameUris(certificate);
  if (names.length !== 1 || names[0] !== server)
    throw new TypeError(`the card issuer certificate names ${names.join(", ") || "no server"}, not this server ${server}`);
  return { identity: server, ca: { certificate, keys }, chain: chain.map(toX5c) };
}

export type { CardDesk, CardServiceContext } from "./context.js";
export type { CardAccount, CardIncident, CardMode, CardStatusKind } from "./records.js";
export {
  MAX_UPLOAD_ENTRIES,
  SyncRefused,
  type CardAccountView,
  type CardRegistration,
  type LogUploadBody,
  type SyncAnswer,
  type SyncProblem,
  type UnbookedEntry,
} from "./messages.js";
export { CardService } from "./service.js";
export { openCardDb, type CardDb, type CardDbLocation } from "./storage.js";
export { cardMigrations, cardPgMigrations } from "./migrations.js";
export { CardDeskFiles, installCardIssuer } from "./files.js";
