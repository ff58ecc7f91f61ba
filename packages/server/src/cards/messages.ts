/** What the card desk's routes receive and answer (docs/card.md): a card's registration, its log upload and the answers. */
import type { CurrencyCode, PartyId, Price } from "@peage/protocol";
import type { LogEntryBody } from "@peage/card";
import { HttpProblem } from "../problems.js";
import type { PaymentOutcome } from "../store/store.js";
import type { CardIncident, CardMode, CardStatusKind } from "./records.js";

/** What became of an uploaded entry: the ledger's answer, or not posted because its publisher was revoked. */
export interface Booking {
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

/** Most entries a card's log holds (its 2-byte capacity): an upload holds at most this many. */
export const MAX_UPLOAD_ENTRIES = 0xffff;
