/**
 * The card desk's records, read from its tables: a card's account and the commands signed for it.
 * Row values are parsed at the edge (store/operations/rows.ts): a corrupt row is a StoreRowError
 * naming its column, never an account with a card id or amount that is not one.
 */
import type { CurrencyCode, MinorUnits, PartyId } from "@peage/protocol";
import type { Row } from "../store/driver.js";
import {
  currency,
  int,
  json,
  minor,
  oneOf,
  optInt,
  optMinor,
  optStr,
  party,
  str,
  StoreRowError,
} from "../store/operations/rows.js";

export const CardModes = ["prepaid", "postpaid"] as const;
export const CardStatusKinds = ["active", "blocked"] as const;
export type CardMode = (typeof CardModes)[number];
export type CardStatusKind = (typeof CardStatusKinds)[number];

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

export function toAccount(row: Row): CardAccount {
  return {
    card: party("card", row["card"], "card_accounts.card"),
    user: party("user", row["user_id"], "card_accounts.user_id"),
    mode: oneOf(CardModes, row["mode"], "card_accounts.mode"),
    currency: currency(row["currency"], "card_accounts.currency"),
    chain: chainOf(row["chain"]),
    ceiling: optMinor(row["ceiling_minor"], "card_accounts.ceiling_minor"),
    deposit: minor(row["deposit_minor"], "card_accounts.deposit_minor"),
    loaded: minor(row["loaded_minor"], "card_accounts.loaded_minor"),
    syncedCounter: int(row["synced_counter"], "card_accounts.synced_counter"),
    cardSeq: int(row["card_seq"], "card_accounts.card_seq"),
    status: oneOf(CardStatusKinds, row["status"], "card_accounts.status"),
    blockedReason: optStr(row["blocked_reason"], "card_accounts.blocked_reason"),
    createdAt: str(row["created_at"], "card_accounts.created_at"),
    lastSyncAt: optStr(row["last_sync_at"], "card_accounts.last_sync_at"),
  };
}

/** The card's x5c, as registered: a JSON array of base64 certificates, card first. */
function chainOf(value: unknown): string[] {
  const chain = json(value, "card_accounts.chain");
  if (!Array.isArray(chain) || chain.length === 0 || !chain.every((c) => typeof c === "string"))
    throw new StoreRowError("card_accounts.chain", value, "a certificate chain (a JSON array of base64 certificates)");
  return chain;
}

export interface CommandRow {
  readonly seq: number;
  readonly kind: "sync" | "reload";
  readonly id: string;
  readonly token: string;
  readonly upTo: number | undefined;
  readonly ceiling: number | undefined;
  readonly applied: boolean;
}

export function toCommand(row: Row): CommandRow {
  return {
    seq: int(row["seq"], "card_commands.seq"),
    kind: oneOf(["sync", "reload"] as const, row["kind"], "card_commands.kind"),
    id: str(row["id"], "card_commands.id"),
    token: str(row["token"], "card_commands.token"),
    upTo: optInt(row["up_to"], "card_commands.up_to"),
    ceiling: optInt(row["ceiling_minor"], "card_commands.ceiling_minor"),
    applied: row["applied_at"] !== null && row["applied_at"] !== undefined,
  };
}
