/**
 * The card desk's operations, for the HTTP routes (cards/routes.ts): registration, challenges,
 * log uploads, receipts, reloads and the operator's unblocking. Operations on one card run one at
 * a time in this process (the database keeps other processes apart); each is written in a module
 * of its own (registration.ts, sync.ts, commands.ts, views.ts) over one DeskContext.
 */
import { DeskCrls } from "./crls.js";
import { newChallenge, cardKeyFromCertificate, decodeToken, verifyReceipt } from "@peage/card";
import { newId, systemClock, x509, type MinorUnits, type Price } from "@peage/protocol";
import { HttpProblem, problemFor } from "../problems.js";
import { int, str } from "../store/operations/rows.js";
import { accountOf, incident, nowOf, type CardDesk, type CardServiceContext, type DeskContext } from "./context.js";
import type { CardAccountView, CardRegistration, LogUploadBody, SyncAnswer } from "./messages.js";
import { toCommand } from "./records.js";
import { register, registeredCard } from "./registration.js";
import { all, get, run } from "./storage.js";
import { syncCard } from "./sync.js";
import { viewOf } from "./views.js";
import { blockCard, listCards, setCeiling, syncedEntries } from "./operator.js";

export class CardService {
  readonly #ctx: DeskContext;
  /** One operation per card at a time in this process (the database keeps other processes apart). */
  readonly #busy = new Map<string, Promise<unknown>>();

  constructor(desk: CardDesk, ctx: CardServiceContext) {
    this.#ctx = {
      desk,
      db: desk.db,
      store: ctx.store,
      trust: ctx.trust,
      server: ctx.identity.id,
      clock: ctx.clock ?? systemClock,
      feeBasisPoints: ctx.feeBasisPoints ?? 0,
      crls: new DeskCrls(ctx.log),
    };
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

  /**
   * Registers a card this server's card issuer certified, recording the money received with it
   * (registration.ts). The same registration again changes nothing; a different one for the same
   * card is a conflict.
   */
  async register(input: CardRegistration): Promise<{ kind: "created" | "existing"; account: CardAccountView }> {
    const now = this.#ctx.clock.now();
    const card = await registeredCard(this.#ctx, input, now);
    return this.#serial(card, async () => {
      const kind = await register(this.#ctx, card, input, now);
      return { kind, account: await viewOf(this.#ctx, card) };
    });
  }

  /** A fresh challenge for LOG HEAD, usable once within the desk's challenge lifetime. */
  async challenge(card: string): Promise<{ challenge: string; expiresAt: string }> {
    const account = await accountOf(this.#ctx, card);
    const challenge = Buffer.from(newChallenge()).toString("base64url");
    const now = this.#ctx.clock.now();
    const expiresAt = new Date(now.getTime() + this.#ctx.desk.challengeTtlMs).toISOString();
    await this.#ctx.db.write(function* () {
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

  /** The card's receipts for commands it applied: checked against the card's key and the command sent. */
  receipts(
    card: string,
    receipts: readonly string[],
  ): Promise<{ applied: { seq: number; kind: string; id: string }[]; account: CardAccountView }> {
    return this.#serial(card, async () => {
      const account = await accountOf(this.#ctx, card);
      const leaf = new x509.X509Certificate(Buffer.from(account.chain[0]!, "base64"));
      const cardKey = { card: account.card, ...(await cardKeyFromCertificate(leaf)) };
      const issued = (
        await this.#ctx.db.read(() => all("SELECT * FROM card_commands WHERE card = ? ORDER BY seq", account.card))
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
      const at = nowOf(this.#ctx);
      await this.#ctx.db.write(function* () {
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
      return { applied, account: await viewOf(this.#ctx, account.card) };
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
      const account = await accountOf(this.#ctx, card);
      if (account.mode !== "prepaid")
        throw HttpProblem.of(
          "ERR_CONFLICT",
          `${account.card} is postpaid: it is not reloaded, its ceiling is restored at each sync`,
        );
      const key = `card-reload:${account.card}:${input.idempotencyKey}`;
      const previous = await this.#ctx.db.read(() => get("SELECT * FROM card_reloads WHERE idempotency_key = ?", key));
      if (previous) {
        if (int(previous["amount_minor"], "card_reloads.amount_minor") !== input.amount)
          throw HttpProblem.of("ERR_CONFLICT", `the idempotency key ${input.idempotencyKey} was used for another reload`);
        return {
          kind: "repeated",
          reload: {
            id: str(previous["id"], "card_reloads.id"),
            amount: { amount: input.amount as MinorUnits, currency: account.currency },
          },
          account: await viewOf(this.#ctx, account.card),
        };
      }
      if (account.status !== "active")
        throw HttpProblem.of("ERR_ACCOUNT_SUSPENDED", `${account.card} is blocked: it is not reloaded`);
      const now = nowOf(this.#ctx);
      const outcome = await this.#ctx.store.topUp({
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
      await this.#ctx.db.write(function* () {
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
        account: await viewOf(this.#ctx, account.card),
      };
    });
  }

  /** The operator clears a blocked card after investigating its incidents; an active card is a conflict. */
  unblock(card: string, reason: string): Promise<CardAccountView> {
    return this.#serial(card, async () => {
      const account = await accountOf(this.#ctx, card);
      const at = nowOf(this.#ctx);
      const cleared = await this.#ctx.db.write(function* () {
        const changed = yield* run(
          "UPDATE card_accounts SET status = 'active', blocked_reason = NULL WHERE card = ? AND status = 'blocked'",
          account.card,
        );
        if (changed === 1) yield* incident(account.card, "unblocked", { reason }, at);
        return changed === 1;
      });
      if (!cleared) throw HttpProblem.of("ERR_CONFLICT", `${account.card} is not blocked: block it with peage admin card-block`);
      return viewOf(this.#ctx, account.card);
    });
  }

  /** The operator blocks a card (operator.ts). */
  block(card: string, reason: string): Promise<CardAccountView> {
    return this.#serial(card, async () => {
      await blockCard(this.#ctx, card, reason);
      return viewOf(this.#ctx, card);
    });
  }

  /** The operator changes a postpaid card's ceiling (operator.ts). */
  setCeiling(card: string, ceiling: number): Promise<CardAccountView> {
    return this.#serial(card, async () => {
      await setCeiling(this.#ctx, card, ceiling);
      return viewOf(this.#ctx, card);
    });
  }

  /** The cards, a page at a time (operator.ts). */
  list(query: Parameters<typeof listCards>[1]): ReturnType<typeof listCards> {
    return listCards(this.#ctx, query);
  }

  /** A card's log as synced, a page at a time (operator.ts). */
  entries(card: string, query: Parameters<typeof syncedEntries>[2]): ReturnType<typeof syncedEntries> {
    return syncedEntries(this.#ctx, card, query);
  }

  /** Receives a card's uploaded log (READ LOG and LOG HEAD over a challenge of this desk). */
  sync(card: string, upload: LogUploadBody): Promise<SyncAnswer> {
    return this.#serial(card, () => syncCard(this.#ctx, card, upload));
  }

  /** A card's account as the operator sees it. */
  view(card: string): Promise<CardAccountView> {
    return viewOf(this.#ctx, card);
  }
}
