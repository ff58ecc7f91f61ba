/**
 * The issuer commands a card is sent after an upload (docs/card.md, "Commands"). Each card applies
 * them in the order of their sequence number, once. The desk keeps every command it signed, by
 * (card, seq), and never signs another command for a seq it used: a command not yet applied (the
 * card's signed head says which were) is sent again as it was, and new ones follow it. So a
 * RELOAD can never be applied twice, whatever was lost.
 */
import { newId, type MinorUnits } from "@peage/protocol";
import {
  createReloadCommand,
  createSyncCommand,
  decodeToken,
  type CertificateId,
  type LogHeadBody,
  type SyncBody,
} from "@peage/card";
import { HttpProblem } from "../problems.js";
import { minor, str } from "../store/operations/rows.js";
import { incident, nowOf, type DeskContext } from "./context.js";
import type { CardAccount, CommandRow } from "./records.js";
import { all, run, type CardLogic } from "./storage.js";

/** A command signed by this upload, to be stored with the reload it carries, if any. */
interface FreshCommand {
  readonly seq: number;
  readonly kind: "sync" | "reload";
  readonly id: string;
  readonly token: string;
  readonly upTo?: number;
  readonly ceiling?: number;
  readonly amount?: number;
  readonly reload?: string;
}

/**
 * The commands for the card after an upload: those signed before and not applied yet (as they
 * were), then a SYNC up to `lastCounter` if none pending covers it, then a RELOAD per pending
 * top-up of a prepaid card in good standing.
 */
export async function commandsFor(
  ctx: DeskContext,
  account: CardAccount,
  signed: readonly CommandRow[],
  head: LogHeadBody,
  lastCounter: number,
  revoked: readonly CertificateId[],
): Promise<string[]> {
  const issued = await voidDeadCommands(ctx, account, signed, head);
  const pending = issued.filter((command) => command.seq >= head.seq);
  const nextSeq = issued.length === 0 ? 0 : issued[issued.length - 1]!.seq + 1;
  const sync = await syncCommand(ctx, account, { issued, pending, head, lastCounter, revoked, seq: nextSeq });
  const reloads = await reloadCommands(ctx, account, nextSeq + (sync === undefined ? 0 : 1));
  const fresh = [...(sync === undefined ? [] : [sync]), ...reloads];
  if (fresh.length > 0) {
    const at = nowOf(ctx);
    await ctx.db.write(() => storeCommands(account, fresh, at));
  }
  return [...pending.map((command) => command.token), ...fresh.map((command) => command.token)];
}

/**
 * A SYNC up to `lastCounter`, unless there is nothing to clear (the card's log starts after it), no
 * new ceiling and no change in the revoked publishers the card will hold once it applied what it
 * was sent, or a pending SYNC covers it already.
 */
async function syncCommand(
  ctx: DeskContext,
  account: CardAccount,
  at: {
    issued: readonly CommandRow[];
    pending: readonly CommandRow[];
    head: LogHeadBody;
    lastCounter: number;
    revoked: readonly CertificateId[];
    seq: number;
  },
): Promise<FreshCommand | undefined> {
  const { issued, pending, head, lastCounter, revoked, seq } = at;
  const purse = head.purse as { balance?: number; ceiling?: number };
  const ceiling = account.mode === "postpaid" ? await ceilingFor(ctx, account) : undefined;
  const covered = pending.some(
    (command) => command.kind === "sync" && (command.upTo ?? 0) >= lastCounter && command.ceiling === ceiling,
  );
  const revokedChanged = JSON.stringify(revokedListSent(issued)) !== JSON.stringify(revoked);
  const needsSync =
    revokedChanged || (!covered && (head.first <= lastCounter || (ceiling !== undefined && ceiling !== purse.ceiling)));
  if (!needsSync) return undefined;
  const id = newId("sy");
  const token = await createSyncCommand({
    issuer: ctx.desk.issuer,
    card: account.card,
    seq,
    upTo: lastCounter,
    ...(ceiling !== undefined && { ceiling }),
    revoked,
    id,
  });
  return { seq, kind: "sync", id, token, upTo: lastCounter, ...(ceiling !== undefined && { ceiling }) };
}

/** A RELOAD per pending top-up of a prepaid card in good standing whose money could move to the card float. */
async function reloadCommands(ctx: DeskContext, account: CardAccount, firstSeq: number): Promise<FreshCommand[]> {
  if (account.mode !== "prepaid" || account.status !== "active") return [];
  const reloads = await ctx.db.read(() =>
    all("SELECT * FROM card_reloads WHERE card = ? AND command_seq IS NULL ORDER BY created_at, id", account.card),
  );
  const fresh: FreshCommand[] = [];
  let seq = firstSeq;
  for (const reload of reloads) {
    const id = str(reload["id"], "card_reloads.id");
    const amount = minor(reload["amount_minor"], "card_reloads.amount_minor");
    if (!(await loadFloat(ctx, account, id, amount))) continue;
    const token = await createReloadCommand({
      issuer: ctx.desk.issuer,
      card: account.card,
      seq,
      amount: { amount, currency: account.currency },
      id,
    });
    fresh.push({ seq: seq++, kind: "reload", id, token, amount, reload: id });
  }
  return fresh;
}

function* storeCommands(account: CardAccount, fresh: readonly FreshCommand[], at: string): CardLogic<void> {
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
}

/**
 * Moves a reload's money from the user's online funds to the card float before its RELOAD is
 * signed (once per reload, whatever is retried or voided). When the online funds no longer cover
 * it (spent online since the top-up) the reload is held, flagged, and tried again at the next sync.
 */
async function loadFloat(ctx: DeskContext, account: CardAccount, reload: string, amount: MinorUnits): Promise<boolean> {
  const load = await ctx.store.loadCard({
    id: `card-load:${account.card}:${reload}`,
    user: account.user,
    amount,
    currency: account.currency,
    ref: reload,
    createdAt: nowOf(ctx),
  });
  if (load.kind === "loaded" || load.kind === "repeated") return true;
  const detail = { reload, amount, reason: load.kind, ...(load.kind === "insufficient-funds" && { balance: load.balance }) };
  await ctx.db.write(() => incident(account.card, "reload-held", detail, nowOf(ctx)));
  return false;
}

/**
 * Claim 8: the card takes a RELOAD only when a SYNC acknowledged its log up to its counter. A
 * RELOAD signed before the card paid again (its SYNC applied, the RELOAD not, then a payment)
 * can never be applied: the log empties only by a SYNC, which would take that RELOAD's seq.
 * Such a RELOAD and every command after it are voided — their seqs are signed anew, the top-ups
 * queued again — and recorded as an incident; without this the card would be stuck on it.
 */
async function voidDeadCommands(
  ctx: DeskContext,
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
  const at = nowOf(ctx);
  await ctx.db.write(function* () {
    yield* incident(
      account.card,
      "commands-voided",
      {
        reason: `the card paid after the SYNC before the RELOAD of seq ${from}: it can no longer take it; signed again`,
        commands: voided.map((command) => ({ seq: command.seq, kind: command.kind, id: command.id, token: command.token })),
      },
      at,
    );
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
async function ceilingFor(ctx: DeskContext, account: CardAccount): Promise<number> {
  if (account.status !== "active") return 0;
  const ceiling = account.ceiling ?? 0;
  const user = await ctx.store.getUser(account.user);
  if (!user || user.status !== "active") return 0;
  if (user.monthlyLimit === undefined) return ceiling;
  const used = await ctx.store.monthlyUsage(account.user, ctx.clock.now());
  return Math.max(0, Math.min(ceiling, user.monthlyLimit - used));
}

/** The revoked publishers the card holds once it applied every SYNC sent: the last list a SYNC carried (none at issue). */
export function revokedListSent(issued: readonly CommandRow[]): readonly CertificateId[] {
  for (const command of [...issued].reverse()) {
    if (command.kind !== "sync") continue;
    const body = decodeToken(command.token)?.body as SyncBody | undefined;
    if (body?.revoked !== undefined) return body.revoked;
  }
  return [];
}
