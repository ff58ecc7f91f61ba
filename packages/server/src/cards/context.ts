/**
 * What the card desk's operations work with: the desk (its tables and card issuer), the ledger's
 * store, the trust store, this server's identity and the clock; and the few steps they all take
 * (a card's account read, an incident recorded).
 */
import type { Clock, PartyId, TrustStore } from "@peage/protocol";
import type { CardIssuer } from "@peage/card";
import type { ServerIdentity } from "../data-dir.js";
import { HttpProblem } from "../problems.js";
import type { Store } from "../store/store.js";
import { get, run, type CardDb, type CardLogic } from "./storage.js";
import type { DeskCrls } from "./crls.js";
import { toAccount, type CardAccount } from "./records.js";

/** The card desk of a running server: its tables and its card issuer. */
export interface CardDesk {
  readonly db: CardDb;
  readonly issuer: CardIssuer;
  readonly challengeTtlMs: number;
  close(): Promise<void>;
}

export interface CardServiceContext {
  readonly store: Store;
  readonly trust: TrustStore;
  readonly identity: Pick<ServerIdentity, "id">;
  readonly clock?: Clock;
  readonly feeBasisPoints?: number;
  /** Where the desk says what an operator should know (a CRL refused). */
  readonly log?: (fields: object, message: string) => void;
}

/** The context every operation of the desk receives (CardService builds it once). */
export interface DeskContext {
  readonly desk: CardDesk;
  readonly db: CardDb;
  readonly store: Store;
  readonly trust: TrustStore;
  readonly server: PartyId<"server">;
  readonly clock: Clock;
  readonly feeBasisPoints: number;
  /** The CRLs in force, each checked before use. */
  readonly crls: DeskCrls;
}

export const nowOf = (ctx: DeskContext): string => ctx.clock.now().toISOString();

/** A registered card's account, or a 404 problem that says how to register it. */
export async function accountOf(ctx: DeskContext, card: string): Promise<CardAccount> {
  const row = await ctx.db.read(() => get("SELECT * FROM card_accounts WHERE card = ?", card));
  if (!row)
    throw HttpProblem.of("ERR_NOT_FOUND", `no card ${card} is registered at this server: register it with POST /v1/cards`);
  return toAccount(row);
}

/** Records an incident on a card; with `block`, blocks its account (if active) for that reason. */
export function* incident(card: string, kind: string, detail: unknown, at: string, block?: string): CardLogic<void> {
  yield* run(
    "INSERT INTO card_incidents (card, kind, detail, created_at) VALUES (?, ?, ?, ?)",
    card,
    kind,
    JSON.stringify(detail),
    at,
  );
  if (block !== undefined)
    yield* run(
      "UPDATE card_accounts SET status = 'blocked', blocked_reason = ? WHERE card = ? AND status = 'active'",
      block,
      card,
    );
}
