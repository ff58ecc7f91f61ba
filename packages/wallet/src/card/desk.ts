/**
 * The wallet's side of the issuing server's card desk (docs/card.md, "The issuing server's card
 * desk"): the HTTP client of its routes, and `syncCard`, which connects the card and the server —
 * READ LOG and LOG HEAD over the server's challenge, the upload, then the signed SYNC (and RELOAD)
 * applied on the card and its receipts handed back. The card clears its log only up to what the
 * server acknowledged it recorded.
 */
import { CardError, decodeToken, readLogForSync, type CardStatus } from "@peage/card";
import { isPlainObject, parseStrictJson, PaymentCodes, VerificationCodes, type Price, type ProblemCode } from "@peage/protocol";
import { WalletError } from "../errors.js";
import { fromCardError } from "./errors.js";
import type { CardSessions } from "./reader.js";

export interface CardAccountView {
  readonly card: string;
  readonly user: string;
  readonly mode: "prepaid" | "postpaid";
  readonly currency: string;
  readonly status: "active" | "blocked";
  readonly blockedReason?: string;
  readonly ceiling?: Price;
  readonly deposit: Price;
  readonly loaded?: Price;
  readonly syncedCounter: number;
  readonly cardSeq: number;
  readonly entries: number;
  readonly booked: Price;
  readonly pendingReloads: readonly { readonly id: string; readonly amount: Price }[];
  readonly incidents: readonly {
    readonly id: number;
    readonly kind: string;
    readonly detail: unknown;
    readonly createdAt: string;
  }[];
}

export interface SyncAnswer {
  readonly card: string;
  readonly recorded: number;
  readonly alreadyRecorded: number;
  readonly lastCounter: number;
  readonly commands: readonly string[];
  readonly credited: readonly { readonly publisher: string; readonly amount: Price }[];
  readonly unbooked: readonly { readonly counter: number; readonly paymentId: string; readonly reason: string }[];
  readonly account: CardAccountView;
}

export interface CardRegistration {
  readonly chain: readonly string[];
  readonly user: string;
  readonly mode: "prepaid" | "postpaid";
  readonly currency: string;
  readonly balance?: number;
  readonly ceiling?: number;
  readonly deposit?: number;
  readonly monthlyLimit?: number;
}

const knownCodes = new Set<string>([...PaymentCodes, ...VerificationCodes]);

/** The card desk's HTTP API, with an operator API key. */
export class CardDeskClient {
  readonly #base: string;
  readonly #apiKey: string;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, apiKey: string, options: { timeoutMs?: number } = {}) {
    this.#base = baseUrl.replace(/\/+$/, "");
    this.#apiKey = apiKey;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  async #call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; value: T }> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.#base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#apiKey}`,
          accept: "application/json, application/problem+json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: "error",
      });
      text = await response.text();
    } catch (cause) {
      throw new WalletError(
        "ERR_SERVER_UNAVAILABLE",
        `the payment server at ${this.#base} cannot be reached (${(cause as Error).message}): try again when it is online`,
        503,
        true,
      );
    }
    let value: unknown;
    try {
      value = parseStrictJson(text);
    } catch {
      value = undefined;
    }
    if (response.ok) return { status: response.status, value: value as T };
    if (isPlainObject(value) && typeof value["code"] === "string" && knownCodes.has(value["code"])) {
      const detail = typeof value["detail"] === "string" ? value["detail"] : `answered ${response.status}`;
      const extra = {
        ...(Array.isArray(value["problems"]) ? { problems: value["problems"] } : {}),
        ...(typeof value["blocked"] === "boolean" ? { blocked: value["blocked"] } : {}),
      };
      throw new WalletError(
        value["code"] as ProblemCode,
        `payment server: ${detail}`,
        response.status,
        value["retryable"] === true,
        extra,
      );
    }
    throw new WalletError(
      "ERR_SERVER_UNAVAILABLE",
      `the payment server answered ${method} ${path} with ${response.status} and no problem document`,
      502,
      response.status >= 500,
    );
  }

  /** POST /v1/cards: the issued card, with the money received for it. */
  async register(registration: CardRegistration): Promise<{ created: boolean; account: CardAccountView }> {
    const { status, value } = await this.#call<CardAccountView>("POST", "/v1/cards", registration);
    return { created: status === 201, account: value };
  }

  async account(card: string): Promise<CardAccountView> {
    return (await this.#call<CardAccountView>("GET", `/v1/cards/${encodeURIComponent(card)}`)).value;
  }

  async challenge(card: string): Promise<string> {
    return (await this.#call<{ challenge: string }>("POST", `/v1/cards/${encodeURIComponent(card)}/challenges`)).value.challenge;
  }

  async sync(card: string, upload: { challenge: string; entries: readonly string[]; head: string }): Promise<SyncAnswer> {
    return (await this.#call<SyncAnswer>("POST", `/v1/cards/${encodeURIComponent(card)}/sync`, upload)).value;
  }

  async receipts(
    card: string,
    receipts: readonly string[],
  ): Promise<{ applied: readonly { seq: number; kind: string; id: string }[]; account: CardAccountView }> {
    return (
      await this.#call<{ applied: { seq: number; kind: string; id: string }[]; account: CardAccountView }>(
        "POST",
        `/v1/cards/${encodeURIComponent(card)}/receipts`,
        { receipts },
      )
    ).value;
  }

  async reload(
    card: string,
    amount: number,
    idempotencyKey: string,
  ): Promise<{ reload: { id: string; amount: Price }; account: CardAccountView }> {
    return (
      await this.#call<{ reload: { id: string; amount: Price }; account: CardAccountView }>(
        "POST",
        `/v1/cards/${encodeURIComponent(card)}/reloads`,
        { amount, idempotencyKey },
      )
    ).value;
  }
}

export interface CardSyncOptions {
  readonly card: CardSessions;
  readonly desk: CardDeskClient;
  /** Checked by the card first when given: the holder is there (the card needs no PIN to sync). */
  readonly pin?: string;
}

export interface CardSyncResult {
  readonly card: string;
  readonly uploaded: number;
  readonly recorded: number;
  readonly alreadyRecorded: number;
  readonly lastCounter: number;
  /** The commands the card applied, in order. */
  readonly applied: readonly { readonly kind: "sync" | "reload"; readonly id: string }[];
  /** The SYNC and RELOAD commands as the payment server signed them (card tokens), in order: for an independent check. */
  readonly commands: readonly string[];
  /** The card's signed receipts of the commands it applied, as sent back to the server. */
  readonly receipts: readonly string[];
  readonly credited: SyncAnswer["credited"];
  readonly unbooked: SyncAnswer["unbooked"];
  readonly before: CardStatus;
  readonly after: CardStatus;
  readonly account: CardAccountView;
}

/**
 * Synchronises the card with its issuing server in one exclusive session: challenge, READ LOG,
 * LOG HEAD, upload; then each command the server signed applied in order, and the receipts sent.
 * The server records each payment once, so running it again after any failure is safe.
 */
export async function syncCard(options: CardSyncOptions): Promise<CardSyncResult> {
  const { desk } = options;
  const outcome = await options.card.session(async (card) => {
    try {
      await card.select();
      const before = await card.status();
      if (options.pin !== undefined) await card.verifyPin(options.pin);
      const challenge = await desk.challenge(before.card);
      const upload = await readLogForSync(card, new Uint8Array(Buffer.from(challenge, "base64url")));
      const answer = await desk.sync(before.card, { challenge, entries: upload.entries, head: upload.head });
      const receipts: string[] = [];
      const applied: { kind: "sync" | "reload"; id: string }[] = [];
      let refused: WalletError | undefined;
      for (const command of answer.commands) {
        const body = decodeToken(command)?.body as { type?: string; id?: string } | undefined;
        const kind = body?.type === "peage.card-reload" ? "reload" : body?.type === "peage.card-sync" ? "sync" : undefined;
        if (kind === undefined)
          throw new WalletError("ERR_MALFORMED", "the payment server sent something that is not a card command", 502, false);
        try {
          receipts.push(kind === "reload" ? await card.reload(command) : await card.sync(command));
        } catch (error) {
          if (!(error instanceof CardError)) throw error;
          // What was applied still gets its receipt; the rest is sent again at the next sync.
          refused = new WalletError(
            "ERR_CONFLICT",
            `the card refused the payment server's ${kind.toUpperCase()} (${error.message}); what it applied before is reported`,
            409,
            false,
          );
          break;
        }
        applied.push({ kind, id: body?.id ?? "" });
      }
      const after = await card.status();
      return { before, after, answer, receipts, applied, refused, uploaded: upload.entries.length };
    } catch (error) {
      throw fromCardError(error);
    }
  });
  const account =
    outcome.receipts.length > 0 ? (await desk.receipts(outcome.before.card, outcome.receipts)).account : outcome.answer.account;
  if (outcome.refused) throw outcome.refused;
  return {
    card: outcome.before.card,
    uploaded: outcome.uploaded,
    recorded: outcome.answer.recorded,
    alreadyRecorded: outcome.answer.alreadyRecorded,
    lastCounter: outcome.answer.lastCounter,
    applied: outcome.applied,
    commands: outcome.answer.commands,
    receipts: outcome.receipts,
    credited: outcome.answer.credited,
    unbooked: outcome.answer.unbooked,
    before: outcome.before,
    after: outcome.after,
    account,
  };
}
