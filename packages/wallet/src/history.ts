/**
 * The wallet's own record of every offer it decided on (SQLite in the data directory). It keeps
 * what only the user's side knows — the offer's description, which the payment server never
 * sees — next to what the server returned, and it is what the rules count spending from.
 * Days and months are calendar days and months in UTC, counted on the wallet's clock.
 *
 * Each paid entry keeps what the rules count in the wallet's home currency (`home_amount`), which
 * need not be the currency the account was charged in, and message 3 itself, so that an offer
 * paid once is handed back, not paid again, when the program asks for it a second time.
 */
import Database from "better-sqlite3";
import { chmodSync, existsSync } from "node:fs";
import type { Acknowledgment, Offer, Price, VerifiedAcknowledgment } from "@peage/protocol";
import type { SpendingTotals } from "./rules.js";

export const Outcomes = ["paid", "declined", "refused", "failed"] as const;
export type Outcome = (typeof Outcomes)[number];

/** How consent was given: by the rules without asking, by the user when asked, or not at all. */
export type ConsentKind = "auto" | "explicit" | "none";

export interface HistoryEntry {
  readonly id: number;
  readonly decidedAt: string;
  readonly offerId: string;
  readonly offerHash: string;
  readonly nonce: string;
  readonly description: string;
  readonly publisher: string;
  readonly price: Price;
  readonly charged?: Price;
  readonly paymentId?: string;
  readonly serverTime?: string;
  readonly consent: ConsentKind;
  readonly outcome: Outcome;
  readonly errorCode?: string;
  /** For a payment made without asking: the user's auto-accept rule that let it through. */
  readonly rule?: string;
  /** Message 1 and message 3 as received (JSON), kept so the acknowledgment can be checked again offline. */
  readonly offerMessage?: string;
  readonly acknowledgmentMessage?: string;
}

interface Row {
  id: number;
  decided_at: string;
  offer_id: string;
  offer_hash: string;
  nonce: string;
  description: string;
  publisher: string;
  price_amount: number;
  price_currency: string;
  charged_amount: number | null;
  charged_currency: string | null;
  payment_id: string | null;
  server_time: string | null;
  consent: ConsentKind;
  outcome: Outcome;
  error_code: string | null;
  offer_json: string | null;
  acknowledgment_json: string | null;
  rule: string | null;
}

const schema = `
CREATE TABLE IF NOT EXISTS payments (
  id INTEGER PRIMARY KEY,
  decided_at TEXT NOT NULL,
  offer_id TEXT NOT NULL,
  offer_hash TEXT NOT NULL,
  nonce TEXT NOT NULL,
  description TEXT NOT NULL,
  publisher TEXT NOT NULL,
  price_amount INTEGER NOT NULL CHECK (price_amount >= 0),
  price_currency TEXT NOT NULL,
  charged_amount INTEGER CHECK (charged_amount >= 0),
  charged_currency TEXT,
  payment_id TEXT,
  server_time TEXT,
  consent TEXT NOT NULL CHECK (consent IN ('auto', 'explicit', 'none')),
  outcome TEXT NOT NULL CHECK (outcome IN ('paid', 'declined', 'refused', 'failed')),
  error_code TEXT,
  home_amount INTEGER CHECK (home_amount >= 0),
  home_currency TEXT,
  offer_json TEXT,
  acknowledgment_json TEXT,
  rule TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS payments_paid_nonce ON payments (nonce) WHERE outcome = 'paid';
CREATE INDEX IF NOT EXISTS payments_publisher ON payments (publisher, decided_at);
CREATE TABLE IF NOT EXISTS session_chains (
  id TEXT PRIMARY KEY,
  seed TEXT NOT NULL,
  length INTEGER NOT NULL CHECK (length >= 1),
  given INTEGER NOT NULL CHECK (given >= 0 AND given <= length),
  opened_at TEXT NOT NULL,
  offer_nonce TEXT,
  consent TEXT CHECK (consent IN ('auto', 'explicit'))
);
`;

/** A metered session's chain as kept on disk (sessions.ts): its seed, its length and the highest word released. */
export interface StoredChain {
  readonly id: string;
  readonly seed: string;
  readonly length: number;
  readonly given: number;
  /**
   * The nonce of the offer the session pays (the consent signs the session's own nonce, which
   * commits to it): an offer presented again finds its session by it. Absent in chains kept by
   * wallets that did not record it.
   */
  readonly offerNonce?: string;
  /** How the user consented to the session, known before the consent is signed. */
  readonly consent?: Exclude<ConsentKind, "none">;
}

/**
 * Columns added since the first release, for histories made by it: their paid entries count in
 * the currency they were charged in, as they did then.
 */
const addedColumns: ReadonlyArray<[string, string]> = [
  ["home_amount", "INTEGER CHECK (home_amount >= 0)"],
  ["home_currency", "TEXT"],
  ["offer_json", "TEXT"],
  ["acknowledgment_json", "TEXT"],
  ["rule", "TEXT"],
];

/** Columns added to session_chains since it first shipped: NULL in chains kept before. */
const addedChainColumns: ReadonlyArray<[string, string]> = [
  ["offer_nonce", "TEXT"],
  ["consent", "TEXT CHECK (consent IN ('auto', 'explicit'))"],
];

const columnsOf = (db: Database.Database, table: string): Set<string> =>
  new Set((db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((column) => column.name));

function upgrade(db: Database.Database): void {
  const present = columnsOf(db, "payments");
  const missing = addedColumns.filter(([name]) => !present.has(name));
  const chainColumns = columnsOf(db, "session_chains");
  const missingInChains = addedChainColumns.filter(([name]) => !chainColumns.has(name));
  if (missing.length === 0 && missingInChains.length === 0) return;
  db.transaction(() => {
    for (const [name, type] of missing) db.exec(`ALTER TABLE payments ADD COLUMN ${name} ${type}`);
    for (const [name, type] of missingInChains) db.exec(`ALTER TABLE session_chains ADD COLUMN ${name} ${type}`);
    if (missing.length > 0)
      db.exec("UPDATE payments SET home_amount = charged_amount, home_currency = charged_currency WHERE home_amount IS NULL");
  })();
}

export interface RecordInput {
  readonly offer: Offer;
  readonly decidedAt: Date;
  readonly consent: ConsentKind;
  readonly outcome: Outcome;
  readonly acknowledgment?: VerifiedAcknowledgment;
  /** Message 3 exactly as the server (or card) sent it: kept to show and download, and to hand back if the same offer comes again. */
  readonly message?: Acknowledgment;
  /** What the rules count for a paid entry: the payment in the wallet's home currency. */
  readonly home?: Price;
  readonly errorCode?: string;
  /** consent "auto": the rule, in words, that let it through. */
  readonly rule?: string;
}

/** A paid entry's message 3 and how consent was given. */
export interface PaidEntry {
  readonly acknowledgment: Acknowledgment;
  readonly consent: Exclude<ConsentKind, "none">;
}

export class History {
  readonly #db: Database.Database;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Opens (or creates, mode 0600) the history database at `path`; ":memory:" for a throwaway one. */
  static open(path: string): History {
    const created = path !== ":memory:" && !existsSync(path);
    const db = new Database(path);
    if (created) chmodSync(path, 0o600);
    db.pragma("journal_mode = WAL");
    // Every commit reaches the disk before the call returns: a session's released word is never forgotten.
    db.pragma("synchronous = FULL");
    db.exec(schema);
    upgrade(db);
    return new History(db);
  }

  /** Keeps a new session's chain; done before its consent is signed, so the cap consented to is never lost. */
  saveChain(chain: StoredChain, openedAt: Date): void {
    this.#db
      .prepare(
        `INSERT INTO session_chains (id, seed, length, given, opened_at, offer_nonce, consent) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        chain.id,
        chain.seed,
        chain.length,
        chain.given,
        openedAt.toISOString(),
        chain.offerNonce ?? null,
        chain.consent ?? null,
      );
  }

  /** Raises a session's released index (never lowers it); committed before the word leaves the wallet. */
  releaseWord(id: string, index: number): void {
    this.#db.prepare(`UPDATE session_chains SET given = MAX(given, ?) WHERE id = ? AND ? <= length`).run(index, id, index);
  }

  /** Forgets a session whose payment failed. */
  dropChain(id: string): void {
    this.#db.prepare(`DELETE FROM session_chains WHERE id = ?`).run(id);
  }

  /** Every session chain kept, oldest first: a restarted wallet continues them. */
  chains(): StoredChain[] {
    const rows = this.#db
      .prepare(`SELECT id, seed, length, given, offer_nonce, consent FROM session_chains ORDER BY opened_at, id`)
      .all() as Array<{
      id: string;
      seed: string;
      length: number;
      given: number;
      offer_nonce: string | null;
      consent: Exclude<ConsentKind, "none"> | null;
    }>;
    return rows.map(({ offer_nonce, consent, ...chain }) => ({
      ...chain,
      ...(offer_nonce === null ? {} : { offerNonce: offer_nonce }),
      ...(consent === null ? {} : { consent }),
    }));
  }

  /** Records one decision and its outcome; returns the entry's id. */
  record(input: RecordInput): number {
    const { offer } = input;
    const claims = input.acknowledgment?.claims;
    const result = this.#db
      .prepare(
        `INSERT INTO payments (decided_at, offer_id, offer_hash, nonce, description, publisher, price_amount, price_currency,
           charged_amount, charged_currency, payment_id, server_time, consent, outcome, error_code, home_amount, home_currency, offer_json, acknowledgment_json, rule)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        input.decidedAt.toISOString(),
        offer.terms.offerId,
        offer.offerHash,
        offer.nonce,
        offer.terms.description,
        offer.terms.publisher,
        offer.terms.price.amount,
        offer.terms.price.currency,
        claims?.charged.amount ?? null,
        claims?.charged.currency ?? null,
        claims?.paymentId ?? null,
        claims?.serverTime ?? null,
        input.consent,
        input.outcome,
        input.errorCode ?? null,
        input.home?.amount ?? null,
        input.home?.currency ?? null,
        JSON.stringify(offer),
        input.message === undefined ? null : JSON.stringify(input.message),
        input.rule ?? null,
      );
    return Number(result.lastInsertRowid);
  }

  /** Whether an offer instance (its nonce) was already paid: the same offer is never paid twice. */
  wasPaid(nonce: string): boolean {
    return this.#db.prepare(`SELECT 1 FROM payments WHERE nonce = ? AND outcome = 'paid'`).get(nonce) !== undefined;
  }

  /** Whether anything was ever paid to `publisher`: the first payment to a new payee is pointed out. */
  paidBefore(publisher: string): boolean {
    return (
      this.#db.prepare(`SELECT 1 FROM payments WHERE publisher = ? AND outcome = 'paid' LIMIT 1`).get(publisher) !== undefined
    );
  }

  /** The message 3 a paid entry kept for this nonce; undefined if unpaid (or paid before messages were kept). */
  paidEntry(nonce: string): PaidEntry | undefined {
    const row = this.#db
      .prepare(`SELECT acknowledgment_json AS acknowledgment, consent FROM payments WHERE nonce = ? AND outcome = 'paid'`)
      .get(nonce) as { acknowledgment: string | null; consent: Exclude<ConsentKind, "none"> } | undefined;
    return row?.acknowledgment
      ? { acknowledgment: JSON.parse(row.acknowledgment) as Acknowledgment, consent: row.consent }
      : undefined;
  }

  /**
   * Whether a payment request for this nonce was sent and no verified answer came back (a lost
   * answer, a timeout): the payment server may have recorded the payment.
   */
  answerMissing(nonce: string): Exclude<ConsentKind, "none"> | undefined {
    const row = this.#db
      .prepare(
        `SELECT consent FROM payments WHERE nonce = ? AND outcome = 'failed' AND consent != 'none' ORDER BY id DESC LIMIT 1`,
      )
      .get(nonce) as { consent: Exclude<ConsentKind, "none"> } | undefined;
    return row?.consent;
  }

  /** What the rules count: paid amounts in `currency` (the home currency) for `publisher`, as of `now`. */
  totals(publisher: string, currency: string, now: Date): SpendingTotals {
    const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString();
    const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
    const sum = (since: string): number =>
      (
        this.#db
          .prepare(
            `SELECT COALESCE(SUM(home_amount), 0) AS total FROM payments
             WHERE outcome = 'paid' AND publisher = ? AND home_currency = ? AND decided_at >= ?`,
          )
          .get(publisher, currency, since) as { total: number }
      ).total;
    const lastConfirmation =
      (
        this.#db.prepare(`SELECT MAX(id) AS id FROM payments WHERE outcome = 'paid' AND consent = 'explicit'`).get() as {
          id: number | null;
        }
      ).id ?? 0;
    const since = this.#db
      .prepare(
        `SELECT COALESCE(SUM(CASE WHEN home_currency = ? THEN home_amount ELSE 0 END), 0) AS total, COUNT(*) AS count
         FROM payments WHERE outcome = 'paid' AND consent = 'auto' AND id > ?`,
      )
      .get(currency, lastConfirmation) as { total: number; count: number };
    return {
      publisherToday: sum(day),
      publisherThisMonth: sum(month),
      sinceConfirmation: since.total,
      consecutiveAuto: since.count,
    };
  }

  /** One entry by id. */
  get(id: number): HistoryEntry | undefined {
    const row = this.#db.prepare(`SELECT * FROM payments WHERE id = ?`).get(id) as Row | undefined;
    return row && toEntry(row);
  }

  /** The latest entries, newest first. */
  list(limit = 50): HistoryEntry[] {
    const rows = this.#db
      .prepare(`SELECT * FROM payments ORDER BY id DESC LIMIT ?`)
      .all(Math.max(1, Math.min(limit, 10_000))) as Row[];
    return rows.map(toEntry);
  }

  /** Closes the database (idempotent). */
  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function toEntry(row: Row): HistoryEntry {
  return {
    id: row.id,
    decidedAt: row.decided_at,
    offerId: row.offer_id,
    offerHash: row.offer_hash,
    nonce: row.nonce,
    description: row.description,
    publisher: row.publisher,
    price: { amount: row.price_amount, currency: row.price_currency } as Price,
    ...(row.charged_amount === null || row.charged_currency === null
      ? {}
      : { charged: { amount: row.charged_amount, currency: row.charged_currency } as Price }),
    ...(row.payment_id === null ? {} : { paymentId: row.payment_id }),
    ...(row.server_time === null ? {} : { serverTime: row.server_time }),
    consent: row.consent,
    outcome: row.outcome,
    ...(row.error_code === null ? {} : { errorCode: row.error_code }),
    ...(row.offer_json === null ? {} : { offerMessage: row.offer_json }),
    ...(row.acknowledgment_json === null ? {} : { acknowledgmentMessage: row.acknowledgment_json }),
    ...(row.rule === null ? {} : { rule: row.rule }),
  };
}
