/**
 * Migration 14: SQLite's webhook events get ids that begin with their time (milliseconds since
 * 1970, 12 hex digits), then 80 random bits (20 hex digits): the same form as before ("evt_" and
 * 32 hex digits, which receivers check). The event's id is the key of its table's primary key,
 * written in the payment's own transaction; a random key sends each event of a commit to a leaf
 * page of its own (about 27 pages for a commit of 32 payments, each written to the WAL and copied
 * again by the checkpoint), where ids made together share one or two.
 *
 * PostgreSQL keeps its ids (version 14 changes nothing there): its outbox is written by its own
 * triggers and function (pg-migrations.ts).
 */
import type { Migration } from "./migrations.js";
import { sqliteOutboxTriggers } from "./self-service-migration.js";

const NAME = "webhook event ids that begin with their time";
const TIMED_ID = `'evt_' || printf('%012x', CAST(unixepoch('subsec') * 1000 AS INTEGER)) || lower(hex(randomblob(10)))`;

export const ORDERED_EVENT_IDS_SQLITE: Migration = {
  version: 14,
  name: NAME,
  sql: `
DROP TRIGGER payments_outbox;
DROP TRIGGER refunds_outbox;
DROP TRIGGER payouts_outbox;
${sqliteOutboxTriggers(TIMED_ID)}`,
};

export const ORDERED_EVENT_IDS_PG: Migration = { version: 14, name: NAME, sql: "SELECT 1" };
