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
 * Commands. Each card applies issuer commands in the order of their sequence number, once. The
 * desk keeps every command it signed, by (card, seq), and never signs another command for a seq
 * it used: a command not yet applied (the card's signed head says which were) is sent again as
 * it was, and new ones follow it. So a RELOAD can never be applied twice, whatever was lost.
 *
 * Incidents. An upload that does not verify (a forged, foreign or malformed entry, a gap, a
 * duplicate, a truncated log, a stale or forged head), a card that applied a command the desk
 * never signed, or a payment the ledger refuses to book is recorded as an incident and blocks
 * the card's account: nothing of a refused upload is recorded, and a blocked account syncs no
 * more until the operator unblocks it. A replayed upload (its challenge already used) is refused
 * and recorded, without blocking.
 */
import { createPublicKey } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  canonicalBytes,
  importPrivateKeyPem,
  isCurrencyCode,
  newId,
  parseCertificatesPem,
  PROTOCOL_VERSION,
  sha256Base64url,
  subjectAltNameUris,
  systemClock,
  toDate,
  toX5c,
  x509,
  type Clock,
  type CurrencyCode,
  type MinorUnits,
  type PartyId,
  type Price,
  type TrustStore,
} from "@peage/protocol";
import {
  cardKeyFromCertificate,
  cardKeyFromChain,
  createReloadCommand,
  createSyncCommand,
  decodeToken,
  minimumDeposit,
  newChallenge,
  revokedByCrls,
  revokedListForCards,
  verifyReceipt,
  verifyUploadedLog,
  type CardIssuer,
  type CertificateId,
  type LogEntryBody,
  type LogHeadBody,
  type LogProblem,
  type SyncBody,
} from "@peage/card";
import { checkAssurance, forksOf, rollbackOf } from "./forks.js";
import { CardDeskFiles } from "./files.js";
import { all, get, locked, num, openCardDb, optNum, run, type CardDb, type CardLogic, type CardRow } from "./storage.js";
import { DataDirFiles, type ServerIdentity } from "../data-dir.js";
import { feeFor } from "../ledger/ledger.js";
import { HttpProblem, problemFor } from "../problems.js";
import type { PaymentOutcome, PaymentRecord, Store, UserRecord } from "../store/store.js";
import { parseUserJwk, storedJwk } from "../user-keys.js";

/** How long a challenge for LOG HEAD may be used (default 5 minutes), once. */
export const DEFAULT_CHALLENGE_TTL_MS = 5 * 60_000;

/** The card desk of a running server: its tables and its card issuer. */
export interface CardDesk {
  readonly db: CardDb;
  readonly issuer: CardIssuer;
  readonly challengeTtlMs: number;
  close(): Promise<void>;
}

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

// ---------------------------------------------------------------------------------------------
// Records

export type CardMode = "prepaid" | "postpaid";
export type CardStatusKind = "active" | "blocked";

export interface CardAccount {
  readonly card: PartyId<"card">;
  readonly user: PartyId<"user">;
  readonly mode: CardMode;
  readonly currency: CurrencyCode;
  readonly chain: readonly string[];
  readonly ceiling: MinorUnits | undefined;
  readonly deposit: MinorUnits;
  /** Prepaid: everything loaded onto the card (at issue and by reloads), minor units. */
  readonly loaded: MinorUnits;
  /** The last counter of the card's log the server recorded. */
  readonly syncedCounter: number;
  /** The card's command sequence number as last seen (what its next command must carry). */
  readonly cardSeq: number;
  readonly status: CardStatusKind;
  readonly blockedReason: string | undefined;
  readonly createdAt: string;
  readonly lastSyncAt: string | undefined;
}

export interface CardIncident {
  readonly id: number;
  readonly kind: string;
  readonly detail: unknown;
  readonly createdAt: string;
}

function toAccount(row: CardRow): CardAccount {
  return {
    card: row["card"] as PartyId<"card">,
    user: row["user_id"] as PartyId<"user">,
    mode: row["mode"] as CardMode,
    currency: row["currency"] as CurrencyCode,
    chain: JSON.parse(row["chain"] as string) as string[],
    ceiling: optNum(row["ceiling_minor"]) as MinorUnits | undefined,
    deposit: num(row["deposit_minor"]) as MinorUnits,
    loaded: num(row["loaded_minor"]) as MinorUnits,
    syncedCounter: num(row["synced_counter"]),
    cardSeq: num(row["card_seq"]),
    status: row["status"] as CardStatusKind,
    blockedReason: (row["blocked_reason"] as string | null) ?? undefined,
    createdAt: row["created_at"] as string,
    lastSyncAt: (row["last_sync_at"] as string | null) ?? undefined,
  };
}

interface CommandRow {
  readonly seq: number;
  readonly kind: "sync" | "reload";
  readonly id: string;
  readonly token: string;
  readonly upTo: number | undefined;
  readonly ceiling: number | undefined;
  readonly applied: boolean;
}

function toCommand(row: CardRow): CommandRow {
  return {
    seq: num(row["seq"]),
    kind: row["kind"] as "sync" | "reload",
    id: row["id"] as string,
    token: row["token"] as string,
    upTo: optNum(row["up_to"]),
    ceiling: optNum(row["ceiling_minor"]),
    applied: row["applied_at"] !== null && row["applied_at"] !== undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs and answers

/** What became of an uploaded entry: the ledger's answer, or not posted because its publisher was revoked. */
interface Booking {
  readonly entry: LogEntryBody;
  readonly outcome: PaymentOutcome | { readonly kind: "publisher-revoked"; readonly revokedAt: string };
  readonly token: string;
}

export interface CardRegistration {
  /** The card's x5c (GET DATA DF02, or `peage card issue --json`): card first. */
  readonly chain: readonly string[];
  readonly user: PartyId<"user">;
  readonly mode: CardMode;
  readonly currency: string;
  /** Prepaid: the balance loaded at issue, received from the user (minor units). */
  readonly balance?: number;
  /** Postpaid: the ceiling personalised on the card. */
  readonly ceiling?: number;
  /** Postpaid: the deposit received from the user with the card (claim 10). */
  readonly deposit?: number;
  /** Postpaid, for a user enrolled here: the account's monthly limit (default: none but the card's ceiling). */
  readonly monthlyLimit?: number;
}

export interface LogUploadBody {
  /** The challenge the desk gave for this upload (base64url). */
  readonly challenge: string;
  /** READ LOG's entries, oldest first. */
  readonly entries: readonly string[];
  /** LOG HEAD's answer to the challenge. */
  readonly head: string;
}

export interface UnbookedEntry {
  readonly counter: number;
  readonly paymentId: string;
  /** What the ledger answered: insufficient-funds, limit-exceeded, nonce-reused, … */
  readonly reason: string;
}

export interface SyncAnswer {
  readonly card: PartyId<"card">;
  /** Entries recorded as payments by this upload. */
  readonly recorded: number;
  /** Entries recorded before (a SYNC that had not reached the card). */
  readonly alreadyRecorded: number;
  /** The last counter covered: the card may forget its log up to it. */
  readonly lastCounter: number;
  /** Signed commands for the card, in the order to apply them (SYNC, RELOAD). */
  readonly commands: string[];
  /** What this upload credited each publisher (price less the server's fee), per currency. */
  readonly credited: { readonly publisher: PartyId<"publisher">; readonly amount: Price }[];
  readonly unbooked: UnbookedEntry[];
  readonly account: CardAccountView;
}

export interface CardAccountView {
  readonly card: PartyId<"card">;
  readonly user: PartyId<"user">;
  readonly mode: CardMode;
  readonly currency: CurrencyCode;
  readonly status: CardStatusKind;
  readonly blockedReason?: string;
  readonly ceiling?: Price;
  readonly deposit: Price;
  readonly loaded?: Price;
  readonly syncedCounter: number;
  readonly cardSeq: number;
  readonly entries: number;
  readonly booked: Price;
  readonly pendingReloads: { readonly id: string; readonly amount: Price; readonly commandSeq?: number }[];
  readonly incidents: CardIncident[];
  readonly createdAt: string;
  readonly lastSyncAt?: string;
}

/** One thing wrong with an upload: a LogProblemKind of verifyUploadedLog, or foreign-user, currency, mode, unknown-command, replayed. */
export interface SyncProblem {
  readonly kind: string;
  readonly message: string;
  readonly counter?: number;
  readonly missing?: [number, number];
}

/** A sync refused: the problems found; the card's account is blocked unless `blocked` is false. */
export class SyncRefused extends HttpProblem {
  constructor(
    problem: HttpProblem["problem"],
    readonly problems: readonly SyncProblem[],
    readonly blocked: boolean,
  ) {
    super(problem);
  }
}

export interface CardServiceContext {
  readonly store: Store;
  readonly trust: TrustStore;
  readonly identity: Pick<ServerIdentity, "id">;
  readonly clock?: Clock;
  readonly feeBasisPoints?: number;
}

/** Most entries a card's log holds (its 2-byte capacity): an upload holds at most this many. */
export const MAX_UPLOAD_ENTRIES = 0xffff;

/** The card desk's operations, for the HTTP routes (cards/routes.ts). */
export class CardService {
  readonly #desk: CardDesk;
  readonly #store: Store;
  readonly #trust: TrustStore;
  readonly #server: PartyId<"server">;
  readonly #clock: Clock;
  readonly #feeBasisPoints: number;
  /** One operation per card at a time in this process (the database keeps other processes apart). */
  readonly #busy = new Map<string, Promise<unknown>>();

  constructor(desk: CardDesk, ctx: CardServiceContext) {
    this.#desk = desk;
    this.#store = ctx.store;
    this.#trust = ctx.trust;
    this.#server = ctx.identity.id;
    this.#clock = ctx.clock ?? systemClock;
    this.#feeBasisPoints = ctx.feeBasisPoints ?? 0;
  }

  #serial<T>(card: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#busy.get(card) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.#busy.set(card, tail);
    void tail.then(() => {
      if (this.#busy.get(card) === tail) this.#busy.delete(card);
    });
    return next;
  }

  get #db(): CardDb {
    return this.#desk.db;
  }

  #now(): string {
    return this.#clock.now().toISOString();
  }

  async #account(card: string): Promise<CardAccount> {
    const row = await this.#db.read(() => get("SELECT * FROM card_accounts WHERE card = ?", card));
    if (!row)
      throw HttpProblem.of("ERR_NOT_FOUND", `no card ${card} is registered at this server: register it with POST /v1/cards`);
    return toAccount(row);
  }

  *#incident(card: string, kind: string, detail: unknown, block?: string): CardLogic<void> {
    yield* run(
      "INSERT INTO card_incidents (card, kind, detail, created_at) VALUES (?, ?, ?, ?)",
      card,
      kind,
      JSON.stringify(detail),
      this.#now(),
    );
    if (block !== undefined)
      yield* run(
        "UPDATE card_accounts SET status = 'blocked', blocked_reason = ? WHERE card = ? AND status = 'active'",
        block,
        card,
      );
  }

  /**
   * Registers a card this server's card issuer certified: the chain must validate for the
   * card-acknowledgment role and lead through this server's own card-issuer CA. Records the
   * money received with it (prepaid load, postpaid deposit) on the user's account. The same
   * registration again changes nothing; a different one for the same card is a conflict.
   */
  async register(input: CardRegistration): Promise<{ kind: "created" | "existing"; account: CardAccountView }> {
    const now = this.#clock.now();
    const key = await cardKeyFromChain(input.chain, this.#trust, now);
    if (!key.ok)
      throw new HttpProblem(problemFor(key.error.code, `the card's certificate chain does not validate: ${key.error.message}`));
    if (key.value.issuer !== this.#server)
      throw HttpProblem.of(
        "ERR_WRONG_AUDIENCE",
        `the card was issued by ${key.value.issuer}, not by this server ${this.#server}`,
      );
    if (input.chain[1] !== toX5c(this.#desk.issuer.ca.certificate)) {
      throw HttpProblem.of(
        "ERR_UNKNOWN_ISSUER",
        "the card was not certified by this server's card-issuer certificate: its commands could not be signed for it",
      );
    }
    const card = key.value.card;
    // A PC store's certificate states its assurance level, which bounds its load or ceiling.
    checkAssurance(input.chain[0]!, input);
    if (!isCurrencyCode(input.currency))
      throw HttpProblem.of("ERR_MALFORMED", `currency ${input.currency} is not an active ISO 4217 currency`);
    return this.#serial(card, async () => {
      const mode = input.mode;
      if (
        mode === "prepaid" &&
        (input.ceiling !== undefined || input.deposit !== undefined || input.monthlyLimit !== undefined)
      ) {
        throw HttpProblem.of("ERR_MALFORMED", "a prepaid card has a balance, not a ceiling, deposit or monthly limit");
      }
      if (mode === "postpaid" && (input.ceiling === undefined || input.balance !== undefined)) {
        throw HttpProblem.of("ERR_MALFORMED", "a postpaid card has a ceiling and a deposit, not a balance");
      }
      const chain = JSON.stringify(input.chain);
      const existing = await this.#db.read(() => get("SELECT * FROM card_accounts WHERE card = ?", card));
      if (existing) {
        const account = toAccount(existing);
        const same =
          account.user === input.user &&
          account.mode === mode &&
          account.currency === input.currency &&
          JSON.stringify(account.chain) === chain &&
          (account.ceiling ?? undefined) === input.ceiling &&
          account.deposit === (input.deposit ?? 0) &&
          (mode === "postpaid" || account.loaded >= (input.balance ?? 0));
        if (!same) throw HttpProblem.of("ERR_CONFLICT", `${card} is already registered with other details`);
        return { kind: "existing", account: await this.view(card) };
      }
      if (mode === "postpaid" && (input.deposit ?? 0) < minimumDeposit(input.ceiling!)) {
        throw HttpProblem.of(
          "ERR_DEPOSIT_REQUIRED",
          `a postpaid card needs a deposit greater than its ceiling (claim 10): ` +
            `the ceiling is ${input.ceiling}, the deposit ${input.deposit ?? 0}; register it with a deposit of at least ${minimumDeposit(input.ceiling!)}`,
        );
      }

      const user = await this.#userFor(input, now);
      if (mode === "prepaid" && (input.balance ?? 0) > 0) {
        const outcome = await this.#store.topUp({
          id: newId("top"),
          user: user.id,
          kind: "funds",
          amount: input.balance as MinorUnits,
          currency: user.homeCurrency,
          idempotencyKey: `card:${card}:load`,
          createdAt: now.toISOString(),
        });
        if (outcome.kind !== "credited" && outcome.kind !== "repeated")
          throw HttpProblem.of("ERR_CONFLICT", `the card's load could not be credited to ${user.id}: ${outcome.kind}`);
        // The money is on the card already: it moves to the card float, out of the online balance.
        const load = await this.#store.loadCard({
          id: `card-load:${card}:issue`,
          user: user.id,
          amount: input.balance as MinorUnits,
          currency: user.homeCurrency,
          ref: `card:${card}:load`,
          createdAt: now.toISOString(),
        });
        if (load.kind !== "loaded" && load.kind !== "repeated") {
          throw HttpProblem.of("ERR_CONFLICT", `the card's load could not be moved to ${user.id}'s card float: ${load.kind}`);
        }
      }
      if (mode === "postpaid" && (input.deposit ?? 0) > 0) {
        const outcome = await this.#store.topUp({
          id: newId("dep"),
          user: user.id,
          kind: "deposit",
          amount: input.deposit as MinorUnits,
          currency: user.homeCurrency,
          idempotencyKey: `card:${card}:deposit`,
          createdAt: now.toISOString(),
        });
        if (outcome.kind !== "credited" && outcome.kind !== "repeated")
          throw HttpProblem.of("ERR_CONFLICT", `the card's deposit could not be recorded for ${user.id}: ${outcome.kind}`);
      }
      await this.#db.write(() =>
        run(
          `INSERT INTO card_accounts (card, user_id, mode, currency, chain, ceiling_minor, deposit_minor, loaded_minor, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          card,
          user.id,
          mode,
          user.homeCurrency,
          chain,
          mode === "postpaid" ? input.ceiling! : null,
          input.deposit ?? 0,
          mode === "prepaid" ? (input.balance ?? 0) : 0,
          now.toISOString(),
        ),
      );
      return { kind: "created", account: await this.view(card) };
    });
  }

  /** The card's user's ledger account: the existing one if it matches, or a new one enrolled with the card's key. */
  async #userFor(input: CardRegistration, now: Date): Promise<UserRecord> {
    const found = await this.#store.getUser(input.user);
    if (found) {
      if (found.mode !== input.mode)
        throw HttpProblem.of("ERR_CONFLICT", `${input.user} has a ${found.mode} account: a ${input.mode} card cannot draw on it`);
      if (found.homeCurrency !== input.currency)
        throw HttpProblem.of(
          "ERR_CONFLICT",
          `${input.user}'s account is in ${found.homeCurrency}, the card in ${input.currency}`,
        );
      if (found.status !== "active") throw HttpProblem.of("ERR_ACCOUNT_SUSPENDED", `${input.user}'s account is suspended`);
      return found;
    }
    const spki = createPublicKey({
      key: Buffer.from(new x509.X509Certificate(Buffer.from(input.chain[0]!, "base64")).publicKey.rawData),
      format: "der",
      type: "spki",
    });
    const parsed = await parseUserJwk(spki.export({ format: "jwk" }));
    if (!parsed.ok) throw HttpProblem.of("ERR_MALFORMED", `the card's key cannot enrol its user: ${parsed.message}`);
    const created = await this.#store.createUser({
      id: input.user,
      publicKeyJwk: storedJwk(parsed.value.jwk),
      alg: parsed.value.alg,
      kid: parsed.value.kid,
      mode: input.mode,
      homeCurrency: input.currency as CurrencyCode,
      // The card's ceiling bounds what it spends between syncs, and each sync's ceiling keeps it
      // within this limit: a payment the card made is then never refused when it is booked.
      monthlyLimit: input.mode === "postpaid" ? ((input.monthlyLimit ?? Number.MAX_SAFE_INTEGER) as MinorUnits) : undefined,
      createdAt: now.toISOString(),
      ...(input.mode === "postpaid" && input.deposit ? { depositRequired: input.deposit as MinorUnits } : {}),
    });
    if (created.kind === "created") return created.user;
    const again = await this.#store.getUser(input.user);
    if (!again) throw HttpProblem.of("ERR_CONFLICT", `the account of ${input.user} could not be created (${created.kind})`);
    return again;
  }

  /** A fresh challenge for LOG HEAD, usable once within the desk's challenge lifetime. */
  async challenge(card: string): Promise<{ challenge: string; expiresAt: string }> {
    const account = await this.#account(card);
    const challenge = Buffer.from(newChallenge()).toString("base64url");
    const now = this.#clock.now();
    const expiresAt = new Date(now.getTime() + this.#desk.challengeTtlMs).toISOString();
    await this.#db.write(function* () {
      yield* run("DELETE FROM card_challenges WHERE expires_at <= ?", now.toISOString());
      yield* run(
        "INSERT INTO card_challenges (challenge, card, expires_at) VALUES (?, ?, ?)",
        challenge,
        account.card,
        expiresAt,
      );
    });
    return { challenge, expiresAt };
  }

  /** Receives a card's uploaded log (READ LOG and LOG HEAD over a challenge of this desk). */
  sync(card: string, upload: LogUploadBody): Promise<SyncAnswer> {
    return this.#serial(card, () => this.#sync(card, upload));
  }

  async #sync(card: string, upload: LogUploadBody): Promise<SyncAnswer> {
    const account = await this.#account(card);
    const now = this.#clock.now();
    // The challenge is used up here, whatever follows: an upload is answered once.
    const consumed = await this.#db.write(() =>
      run(
        "DELETE FROM card_challenges WHERE challenge = ? AND card = ? AND expires_at > ?",
        upload.challenge,
        account.card,
        now.toISOString(),
      ),
    );
    if (consumed !== 1) {
      await this.#db.write(() =>
        this.#incident(account.card, "replayed", {
          challenge: upload.challenge,
          message: "an upload with a challenge unknown, expired or already used",
        }),
      );
      throw new SyncRefused(
        problemFor(
          "ERR_NONCE_MISMATCH",
          "this upload's challenge is unknown, expired or already used (a replayed upload): ask for a new challenge and read the card again",
          { status: 409 },
        ),
        [{ kind: "replayed", message: "the challenge is unknown, expired or already used" }],
        false,
      );
    }
    if (account.status === "blocked") {
      throw HttpProblem.of(
        "ERR_ACCOUNT_SUSPENDED",
        `${account.card} is blocked (${account.blockedReason ?? "by the operator"}): nothing was recorded; the operator must investigate and unblock it`,
      );
    }
    if (upload.entries.length > MAX_UPLOAD_ENTRIES)
      throw HttpProblem.of("ERR_MALFORMED", `an upload holds at most ${MAX_UPLOAD_ENTRIES} entries`);

    const leaf = new x509.X509Certificate(Buffer.from(account.chain[0]!, "base64"));
    const cardKey = { card: account.card, ...(await cardKeyFromCertificate(leaf)) };
    const report = await verifyUploadedLog({
      card: cardKey,
      entries: upload.entries,
      head: upload.head,
      challenge: new Uint8Array(Buffer.from(upload.challenge, "base64url")),
      recordedUpTo: account.syncedCounter,
    });
    const problems: SyncProblem[] = report.problems.map(describeProblem);
    for (const entry of report.entries) {
      if (entry.user !== account.user)
        problems.push({
          kind: "foreign-user",
          counter: entry.counter,
          message: `entry ${entry.counter} names ${entry.user}, not the card's user ${account.user}`,
        });
      else if (entry.price.currency !== account.currency)
        problems.push({
          kind: "currency",
          counter: entry.counter,
          message: `entry ${entry.counter} is in ${entry.price.currency}, not the card's ${account.currency}`,
        });
    }
    const head = report.head;
    if (head && "balance" in head.purse !== (account.mode === "prepaid")) {
      problems.push({
        kind: "mode",
        message: `the card's head shows a ${"balance" in head.purse ? "prepaid" : "postpaid"} purse, the card is registered ${account.mode}`,
      });
    }
    const issued = (await this.#db.read(() => all("SELECT * FROM card_commands WHERE card = ? ORDER BY seq", account.card))).map(
      toCommand,
    );
    const nextSeq = issued.length === 0 ? 0 : issued[issued.length - 1]!.seq + 1;
    if (head && head.seq > nextSeq) {
      problems.push({
        kind: "unknown-command",
        message: `the card applied ${head.seq} issuer commands, this desk signed only ${nextSeq}: a command not signed here reached the card`,
      });
    }
    // A copied or rolled-back device (docs/pc-store.md): nothing of the upload is booked.
    const again = report.alreadyRecorded.map((entry) => entry.counter);
    const recorded =
      again.length === 0
        ? []
        : await this.#db.read(() =>
            all(
              "SELECT counter, token FROM card_entries WHERE card = ? AND counter BETWEEN ? AND ?",
              account.card,
              Math.min(...again),
              Math.max(...again),
            ),
          );
    problems.push(
      ...forksOf(
        new Map(recorded.map((row) => [num(row["counter"]), String(row["token"])])),
        report.alreadyRecorded,
        upload.entries,
      ),
    );
    problems.push(...rollbackOf(head, account));
    if (problems.length > 0) {
      const reason = `upload refused: ${problems.map((p) => p.kind).join(", ")}`;
      await this.#db.write(() => this.#incident(account.card, "upload-refused", { problems }, reason));
      const first = problems[0]!;
      throw new SyncRefused(
        problemFor(
          codeOf(first.kind),
          `the card's log does not verify (${problems.map((p) => p.message).join("; ")}): nothing was recorded and ${account.card} is blocked`,
          { status: 422 },
        ),
        problems,
        true,
      );
    }

    // Each new entry is posted once: a retry finds it recorded (same nonce, same request hash).
    const booked: Booking[] = [];
    const tokens = new Map<number, string>();
    for (const token of upload.entries) {
      const decoded = decodeToken(token);
      const counter = (decoded?.body as { counter?: unknown } | undefined)?.counter;
      if (typeof counter === "number") tokens.set(counter, token);
    }
    const revoked = revokedByCrls(this.#trust.crls);
    for (const entry of report.entries) {
      // A publisher whose certificate was revoked before the payment is credited nothing: the
      // card could not know, so the payment is left unbooked (the user keeps the money) and reported.
      const revokedAt = entry.publisherCert === undefined ? undefined : revoked.get(entry.publisherCert);
      const outcome: Booking["outcome"] =
        revokedAt !== undefined && revokedAt.getTime() <= toDate(entry.time).getTime()
          ? { kind: "publisher-revoked", revokedAt: revokedAt.toISOString() }
          : await this.#store.recordPayment(this.#paymentOf(account, entry, tokens.get(entry.counter)!));
      booked.push({ entry, outcome, token: tokens.get(entry.counter)! });
    }
    const unbooked: UnbookedEntry[] = booked
      .filter(({ outcome }) => outcome.kind !== "recorded" && outcome.kind !== "duplicate")
      .map(({ entry, outcome }) => ({ counter: entry.counter, paymentId: entry.paymentId, reason: outcome.kind }));
    const recordedAt = now.toISOString();
    const lastCounter = report.lastCounter;
    await this.#db.write(() => this.#recordUpload(account, booked, lastCounter, head!.seq, recordedAt, unbooked));

    const commands = await this.#commandsFor(
      await this.#account(account.card),
      issued,
      head!,
      lastCounter,
      revokedListForCards(revoked),
    );
    const credited = new Map<string, { publisher: PartyId<"publisher">; amount: Price }>();
    for (const { entry, outcome } of booked) {
      if (outcome.kind !== "recorded") continue;
      const fee = outcome.payment.fee ?? 0;
      const key = `${entry.publisher} ${entry.price.currency}`;
      const previous = credited.get(key);
      credited.set(key, {
        publisher: entry.publisher,
        amount: {
          amount: ((previous?.amount.amount ?? 0) + entry.price.amount - fee) as MinorUnits,
          currency: entry.price.currency,
        },
      });
    }
    return {
      card: account.card,
      recorded: booked.filter(({ outcome }) => outcome.kind === "recorded").length,
      alreadyRecorded: report.alreadyRecorded.length + booked.filter(({ outcome }) => outcome.kind === "duplicate").length,
      lastCounter,
      commands,
      credited: [...credited.values()],
      unbooked,
      account: await this.view(account.card),
    };
  }

  #paymentOf(account: CardAccount, entry: LogEntryBody, token: string): PaymentRecord {
    return {
      // A prepaid card spends what was loaded onto it: the user's card float, never the online funds.
      fromCardFloat: account.mode === "prepaid",
      id: entry.paymentId,
      user: entry.user,
      publisher: entry.publisher,
      offerHash: entry.offerHash,
      price: entry.price,
      // The card pays only in its own currency: what the user is charged is the price.
      charged: entry.price,
      rate: "1.0000000000",
      rateDate: undefined,
      nonce: entry.nonce,
      offerDate: entry.date,
      serverTime: entry.time,
      // The entry's hash: the same entry uploaded again is the same request, recognised as a retry.
      requestHash: sha256Base64url(canonicalBytes(entry)),
      // The card's signed log entry stands where a server's acknowledgment would: it is the
      // card's proof of this debit (the acknowledgment itself went to the merchant).
      acknowledgment: { type: "peage.acknowledgment", v: PROTOCOL_VERSION, acknowledgment: token },
      fee: feeFor(entry.price, this.#feeBasisPoints),
    };
  }

  #recordUpload(
    account: CardAccount,
    booked: readonly Booking[],
    lastCounter: number,
    headSeq: number,
    at: string,
    unbooked: readonly UnbookedEntry[],
  ): CardLogic<void> {
    // The ledger's refusals block the card (it spent what its account could not pay); a revoked
    // publisher does not: the card could not know, and the payment is simply not credited.
    const refused = unbooked.filter((u) => u.reason !== "publisher-revoked");
    const why = `the ledger refused ${refused.length} payment(s) of the card: ${[...new Set(refused.map((u) => u.reason))].join(", ")}`;
    const incident = refused.length > 0 ? this.#incident(account.card, "unbooked", { entries: refused }, why) : undefined;
    const revoked = booked.flatMap(({ entry, outcome }) =>
      outcome.kind === "publisher-revoked"
        ? [
            {
              counter: entry.counter,
              paymentId: entry.paymentId,
              publisher: entry.publisher,
              publisherCert: entry.publisherCert,
              revokedAt: outcome.revokedAt,
            },
          ]
        : [],
    );
    const revokedIncident =
      revoked.length > 0 ? this.#incident(account.card, "publisher-revoked", { entries: revoked }) : undefined;
    return (function* () {
      const row = yield* locked("SELECT synced_counter, card_seq FROM card_accounts WHERE card = ?", account.card);
      for (const { entry, outcome, token } of booked) {
        const exists = yield* get(
          "SELECT 1 AS one FROM card_entries WHERE card = ? AND counter = ?",
          account.card,
          entry.counter,
        );
        if (exists) continue;
        yield* run(
          `INSERT INTO card_entries (card, counter, payment_id, publisher, price_minor, currency, token, booking, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          account.card,
          entry.counter,
          entry.paymentId,
          entry.publisher,
          entry.price.amount,
          entry.price.currency,
          token,
          outcome.kind,
          at,
        );
      }
      const synced = Math.max(num(row?.["synced_counter"] ?? 0), lastCounter);
      const seq = Math.max(num(row?.["card_seq"] ?? 0), headSeq);
      yield* run(
        "UPDATE card_accounts SET synced_counter = ?, card_seq = ?, last_sync_at = ? WHERE card = ?",
        synced,
        seq,
        at,
        account.card,
      );
      // Commands below the card's seq were applied (the card applies them in order, once).
      yield* run(
        "UPDATE card_commands SET applied_at = ? WHERE card = ? AND seq < ? AND applied_at IS NULL",
        at,
        account.card,
        headSeq,
      );
      yield* run(
        "UPDATE card_reloads SET applied_at = ? WHERE card = ? AND command_seq IS NOT NULL AND command_seq < ? AND applied_at IS NULL",
        at,
        account.card,
        headSeq,
      );
      if (incident) yield* incident;
      if (revokedIncident) yield* revokedIncident;
    })();
  }

  /**
   * The commands for the card after an upload: those signed before and not applied yet (as they
   * were), then a SYNC up to `lastCounter` if none pending covers it, then a RELOAD per pending
   * top-up of a prepaid card in good standing.
   */
  async #commandsFor(
    account: CardAccount,
    signed: readonly CommandRow[],
    head: LogHeadBody,
    lastCounter: number,
    revoked: readonly CertificateId[],
  ): Promise<string[]> {
    const issued = await this.#voidDeadCommands(account, signed, head);
    const pending = issued.filter((command) => command.seq >= head.seq);
    const purse = head.purse as { balance?: number; ceiling?: number };
    let nextSeq = issued.length === 0 ? 0 : issued[issued.length - 1]!.seq + 1;
    const ceiling = account.mode === "postpaid" ? await this.#ceilingFor(account) : undefined;
    const covered = pending.some(
      (command) => command.kind === "sync" && (command.upTo ?? 0) >= lastCounter && command.ceiling === ceiling,
    );
    const fresh: {
      seq: number;
      kind: "sync" | "reload";
      id: string;
      token: string;
      upTo?: number;
      ceiling?: number;
      amount?: number;
      reload?: string;
    }[] = [];
    // Nothing to clear (the card's log starts after lastCounter), no new ceiling and no change in
    // the revoked publishers the card will hold once it applied what it was sent: no SYNC.
    const revokedChanged = JSON.stringify(revokedListSent(issued)) !== JSON.stringify(revoked);
    const needsSync =
      revokedChanged || (!covered && (head.first <= lastCounter || (ceiling !== undefined && ceiling !== purse.ceiling)));
    if (needsSync) {
      const id = newId("sy");
      const token = await createSyncCommand({
        issuer: this.#desk.issuer,
        card: account.card,
        seq: nextSeq,
        upTo: lastCounter,
        ...(ceiling !== undefined && { ceiling }),
        revoked,
        id,
      });
      fresh.push({ seq: nextSeq++, kind: "sync", id, token, upTo: lastCounter, ...(ceiling !== undefined && { ceiling }) });
    }
    if (account.mode === "prepaid" && account.status === "active") {
      const reloads = await this.#db.read(() =>
        all("SELECT * FROM card_reloads WHERE card = ? AND command_seq IS NULL ORDER BY created_at, id", account.card),
      );
      for (const reload of reloads) {
        const id = reload["id"] as string;
        const amount = num(reload["amount_minor"]);
        if (!(await this.#loadFloat(account, id, amount))) continue;
        const token = await createReloadCommand({
          issuer: this.#desk.issuer,
          card: account.card,
          seq: nextSeq,
          amount: { amount: amount as MinorUnits, currency: account.currency },
          id,
        });
        fresh.push({ seq: nextSeq++, kind: "reload", id, token, amount, reload: id });
      }
    }
    if (fresh.length > 0) {
      const at = this.#now();
      await this.#db.write(function* () {
        for (const command of fresh) {
          yield* run(
            `INSERT INTO card_commands (card, seq, kind, id, token, up_to, ceiling_minor, amount_minor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            account.card,
            command.seq,
            command.kind,
            command.id,
            command.token,
            command.upTo ?? null,
            command.ceiling ?? null,
            command.amount ?? null,
            at,
          );
          if (command.reload !== undefined) {
            const changed = yield* run(
              "UPDATE card_reloads SET command_seq = ? WHERE id = ? AND command_seq IS NULL",
              command.seq,
              command.reload,
            );
            if (changed !== 1)
              throw HttpProblem.of("ERR_CONFLICT", "a reload was sent to the card concurrently: sync again", { retryable: true });
          }
        }
      });
    }
    return [...pending.map((command) => command.token), ...fresh.map((command) => command.token)];
  }

  /**
   * Moves a reload's money from the user's online funds to the card float before its RELOAD is
   * signed (once per reload, whatever is retried or voided). When the online funds no longer cover
   * it (spent online since the top-up) the reload is held, flagged, and tried again at the next sync.
   */
  async #loadFloat(account: CardAccount, reload: string, amount: number): Promise<boolean> {
    const load = await this.#store.loadCard({
      id: `card-load:${account.card}:${reload}`,
      user: account.user,
      amount: amount as MinorUnits,
      currency: account.currency,
      ref: reload,
      createdAt: this.#now(),
    });
    if (load.kind === "loaded" || load.kind === "repeated") return true;
    const detail = { reload, amount, reason: load.kind, ...(load.kind === "insufficient-funds" && { balance: load.balance }) };
    await this.#db.write(() => this.#incident(account.card, "reload-held", detail));
    return false;
  }

  /**
   * Claim 8: the card takes a RELOAD only when a SYNC acknowledged its log up to its counter. A
   * RELOAD signed before the card paid again (its SYNC applied, the RELOAD not, then a payment)
   * can never be applied: the log empties only by a SYNC, which would take that RELOAD's seq.
   * Such a RELOAD and every command after it are voided — their seqs are signed anew, the top-ups
   * queued again — and recorded as an incident; without this the card would be stuck on it.
   */
  async #voidDeadCommands(
    account: CardAccount,
    issued: readonly CommandRow[],
    head: LogHeadBody,
  ): Promise<readonly CommandRow[]> {
    let unacknowledged = head.first <= head.counter;
    let dead: number | undefined;
    for (const command of issued.filter((c) => c.seq >= head.seq)) {
      if (command.kind === "sync") unacknowledged = (command.upTo ?? 0) < head.counter;
      else if (unacknowledged) {
        dead = command.seq;
        break;
      }
    }
    if (dead === undefined) return issued;
    const from = dead;
    const voided = issued.filter((command) => command.seq >= from);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the generator below has a this of its own
    const self = this;
    await this.#db.write(function* () {
      yield* self.#incident(account.card, "commands-voided", {
        reason: `the card paid after the SYNC before the RELOAD of seq ${from}: it can no longer take it; signed again`,
        commands: voided.map((command) => ({ seq: command.seq, kind: command.kind, id: command.id, token: command.token })),
      });
      yield* run(
        "UPDATE card_reloads SET command_seq = NULL WHERE card = ? AND command_seq >= ? AND applied_at IS NULL",
        account.card,
        from,
      );
      yield* run("DELETE FROM card_commands WHERE card = ? AND seq >= ? AND applied_at IS NULL", account.card, from);
    });
    return issued.filter((command) => command.seq < from);
  }

  /**
   * A postpaid card's ceiling in its next SYNC: 0 when blocked; otherwise the registered ceiling,
   * lowered to what is left of the user's monthly limit so that every payment it makes can be booked.
   */
  async #ceilingFor(account: CardAccount): Promise<number> {
    if (account.status !== "active") return 0;
    const ceiling = account.ceiling ?? 0;
    const user = await this.#store.getUser(account.user);
    if (!user || user.status !== "active") return 0;
    if (user.monthlyLimit === undefined) return ceiling;
    const used = await this.#store.monthlyUsage(account.user, this.#clock.now());
    return Math.max(0, Math.min(ceiling, user.monthlyLimit - used));
  }

  /** The card's receipts for commands it applied: checked against the card's key and the command sent. */
  receipts(
    card: string,
    receipts: readonly string[],
  ): Promise<{ applied: { seq: number; kind: string; id: string }[]; account: CardAccountView }> {
    return this.#serial(card, async () => {
      const account = await this.#account(card);
      const leaf = new x509.X509Certificate(Buffer.from(account.chain[0]!, "base64"));
      const cardKey = { card: account.card, ...(await cardKeyFromCertificate(leaf)) };
      const issued = (
        await this.#db.read(() => all("SELECT * FROM card_commands WHERE card = ? ORDER BY seq", account.card))
      ).map(toCommand);
      const applied: { seq: number; kind: string; id: string }[] = [];
      for (const receipt of receipts) {
        const decoded = decodeToken(receipt);
        const id = (decoded?.body as { id?: unknown } | undefined)?.id;
        const command = issued.find((c) => c.id === id);
        if (!command) throw HttpProblem.of("ERR_NOT_FOUND", `a receipt answers no command this desk sent to ${account.card}`);
        const checked = await verifyReceipt(receipt, cardKey, { id: command.id, seq: command.seq });
        if (!checked.ok)
          throw new HttpProblem(problemFor(checked.error.code, `the card's receipt does not verify: ${checked.error.message}`));
        applied.push({ seq: command.seq, kind: command.kind, id: command.id });
      }
      const at = this.#now();
      await this.#db.write(function* () {
        for (const { seq } of applied) {
          yield* run(
            "UPDATE card_commands SET applied_at = ? WHERE card = ? AND seq = ? AND applied_at IS NULL",
            at,
            account.card,
            seq,
          );
          yield* run(
            "UPDATE card_reloads SET applied_at = ? WHERE card = ? AND command_seq = ? AND applied_at IS NULL",
            at,
            account.card,
            seq,
          );
        }
        const top = Math.max(...applied.map((a) => a.seq + 1), 0);
        yield* run("UPDATE card_accounts SET card_seq = ? WHERE card = ? AND card_seq < ?", top, account.card, top);
      });
      return { applied, account: await this.view(account.card) };
    });
  }

  /**
   * A top-up for a prepaid card: credited to the user's funds now (it is money received), and
   * sent to the card as a RELOAD at its next sync. Idempotent by key.
   */
  reload(
    card: string,
    input: { amount: number; idempotencyKey: string },
  ): Promise<{ kind: "created" | "repeated"; reload: { id: string; amount: Price }; account: CardAccountView }> {
    return this.#serial(card, async () => {
      const account = await this.#account(card);
      if (account.mode !== "prepaid")
        throw HttpProblem.of(
          "ERR_CONFLICT",
          `${account.card} is postpaid: it is not reloaded, its ceiling is restored at each sync`,
        );
      const key = `card-reload:${account.card}:${input.idempotencyKey}`;
      const previous = await this.#db.read(() => get("SELECT * FROM card_reloads WHERE idempotency_key = ?", key));
      if (previous) {
        if (num(previous["amount_minor"]) !== input.amount)
          throw HttpProblem.of("ERR_CONFLICT", `the idempotency key ${input.idempotencyKey} was used for another reload`);
        return {
          kind: "repeated",
          reload: { id: previous["id"] as string, amount: { amount: input.amount as MinorUnits, currency: account.currency } },
          account: await this.view(account.card),
        };
      }
      if (account.status !== "active")
        throw HttpProblem.of("ERR_ACCOUNT_SUSPENDED", `${account.card} is blocked: it is not reloaded`);
      const now = this.#now();
      const outcome = await this.#store.topUp({
        id: newId("top"),
        user: account.user,
        kind: "funds",
        amount: input.amount as MinorUnits,
        currency: account.currency,
        idempotencyKey: key,
        createdAt: now,
      });
      if (outcome.kind !== "credited" && outcome.kind !== "repeated")
        throw HttpProblem.of("ERR_CONFLICT", `the reload could not be credited to ${account.user}: ${outcome.kind}`);
      const id = newId("rl");
      await this.#db.write(function* () {
        yield* run(
          "INSERT INTO card_reloads (id, card, amount_minor, currency, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?)",
          id,
          account.card,
          input.amount,
          account.currency,
          key,
          now,
        );
        yield* run("UPDATE card_accounts SET loaded_minor = loaded_minor + ? WHERE card = ?", input.amount, account.card);
      });
      return {
        kind: "created",
        reload: { id, amount: { amount: input.amount as MinorUnits, currency: account.currency } },
        account: await this.view(account.card),
      };
    });
  }

  /** The operator clears a blocked card after investigating its incidents. */
  unblock(card: string, reason: string): Promise<CardAccountView> {
    return this.#serial(card, async () => {
      const account = await this.#account(card);
      // eslint-disable-next-line @typescript-eslint/no-this-alias -- the generator below has a this of its own
      const self = this;
      await this.#db.write(function* () {
        yield* self.#incident(account.card, "unblocked", { reason });
        yield* run("UPDATE card_accounts SET status = 'active', blocked_reason = NULL WHERE card = ?", account.card);
      });
      return this.view(account.card);
    });
  }

  /** A card's account as the operator sees it. */
  async view(card: string): Promise<CardAccountView> {
    const account = await this.#account(card);
    const { entries, booked, reloads, incidents } = await this.#db.read(function* () {
      const totals = yield* get(
        "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN booking IN ('recorded', 'duplicate') THEN price_minor ELSE 0 END), 0) AS booked FROM card_entries WHERE card = ?",
        account.card,
      );
      const reloadRows = yield* all(
        "SELECT * FROM card_reloads WHERE card = ? AND applied_at IS NULL ORDER BY created_at, id",
        account.card,
      );
      const incidentRows = yield* all("SELECT * FROM card_incidents WHERE card = ? ORDER BY id", account.card);
      return {
        entries: num(totals?.["n"] ?? 0),
        booked: num(totals?.["booked"] ?? 0),
        reloads: reloadRows,
        incidents: incidentRows,
      };
    });
    const money = (amount: number): Price => ({ amount: amount as MinorUnits, currency: account.currency });
    return {
      card: account.card,
      user: account.user,
      mode: account.mode,
      currency: account.currency,
      status: account.status,
      ...(account.blockedReason !== undefined && { blockedReason: account.blockedReason }),
      ...(account.ceiling !== undefined && { ceiling: money(account.ceiling) }),
      deposit: money(account.deposit),
      ...(account.mode === "prepaid" && { loaded: money(account.loaded) }),
      syncedCounter: account.syncedCounter,
      cardSeq: account.cardSeq,
      entries,
      booked: money(booked),
      pendingReloads: reloads.map((row) => ({
        id: row["id"] as string,
        amount: money(num(row["amount_minor"])),
        ...(optNum(row["command_seq"]) !== undefined && { commandSeq: num(row["command_seq"]) }),
      })),
      incidents: incidents.map((row) => ({
        id: num(row["id"]),
        kind: row["kind"] as string,
        detail: JSON.parse(row["detail"] as string) as unknown,
        createdAt: row["created_at"] as string,
      })),
      createdAt: account.createdAt,
      ...(account.lastSyncAt !== undefined && { lastSyncAt: account.lastSyncAt }),
    };
  }
}

/** The revoked publishers the card holds once it applied every SYNC sent: the last list a SYNC carried (none at issue). */
function revokedListSent(issued: readonly CommandRow[]): readonly CertificateId[] {
  for (const command of [...issued].reverse()) {
    if (command.kind !== "sync") continue;
    const body = decodeToken(command.token)?.body as SyncBody | undefined;
    if (body?.revoked !== undefined) return body.revoked;
  }
  return [];
}

function describeProblem(problem: LogProblem): SyncProblem {
  return {
    kind: problem.kind,
    message: problem.message,
    ...(problem.counter !== undefined && { counter: problem.counter }),
    ...(problem.missing !== undefined && { missing: [problem.missing[0], problem.missing[1]] }),
  };
}

/** The problem code an upload refusal is answered with, by its first problem. */
function codeOf(
  kind: string,
): "ERR_BAD_SIGNATURE" | "ERR_NONCE_MISMATCH" | "ERR_MALFORMED" | "ERR_IDENTITY_MISMATCH" | "ERR_CONFLICT" {
  switch (kind) {
    case "forged":
      return "ERR_BAD_SIGNATURE";
    case "head":
      return "ERR_NONCE_MISMATCH";
    case "malformed":
      return "ERR_MALFORMED";
    case "foreign":
    case "foreign-user":
    case "currency":
    case "mode":
      return "ERR_IDENTITY_MISMATCH";
    default:
      return "ERR_CONFLICT";
  }
}

export { openCardDb, type CardDb, type CardDbLocation } from "./storage.js";
export { cardMigrations, cardPgMigrations } from "./migrations.js";
export { CardDeskFiles, installCardIssuer } from "./files.js";
