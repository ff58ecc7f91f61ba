/**
 * The resource server's book of open metered sessions (docs/protocol.md §3.12, docs/http.md §8).
 * A session opens with a paid credential carrying the PayWord chain's root and length (which the
 * user's consent signed, through the nonce) and the word of tick 1; each later request carries the
 * next word, checked with as many SHA-256 as ticks were skipped (one for the next), no signature and
 * no call to the payment server. The book keeps, per session, the highest tick and its word: what
 * the session is settled for, once, at the payment server.
 */
import { isChainWord, isPlainObject, type OfferTerms } from "@peage/protocol";
import type { Receipt } from "./gate.js";
import type { UsageSettlement } from "@peage/merchant";

/** A tick as the client sends it: the session (the nonce its consent signed), the tick number, its word. */
export interface TickProof {
  readonly session: string;
  readonly ticks: number;
  readonly word: string;
}

/** The chain part of a session-opening credential. */
export interface ChainProof {
  readonly root: string;
  readonly length: number;
  readonly ticks: number;
  readonly word: string;
}

export interface OpenSession {
  readonly id: string;
  readonly offerId: string;
  readonly root: string;
  readonly length: number;
  readonly terms: OfferTerms;
  readonly key: string;
  readonly inner: string;
  readonly receipt: Receipt;
  ticks: number;
  word: string;
  settled?: Promise<UsageSettlement>;
}

const WORD = /^[A-Za-z0-9_-]{43}$/;

/** The header of a request paid by the next tick of an open metered session (docs/http.md §8). */
export const TICK_HEADER = "peage-tick";

/** The chain proof of a credential, if well-formed. */
export function chainProof(value: unknown): ChainProof | undefined {
  if (!isPlainObject(value) || Object.keys(value).length !== 4) return undefined;
  const { root, length, ticks, word } = value;
  if (typeof root !== "string" || !WORD.test(root) || typeof word !== "string" || !WORD.test(word)) return undefined;
  if (!Number.isSafeInteger(length) || !Number.isSafeInteger(ticks) || (ticks as number) < 1) return undefined;
  return { root, length: length as number, ticks: ticks as number, word };
}

/** The tick proof of a `Peage-Tick` header (base64url of JSON), if well-formed. */
export function tickProof(header: string): TickProof | undefined {
  let value: unknown;
  try {
    value = /^[A-Za-z0-9_-]{1,1024}$/.test(header) ? JSON.parse(Buffer.from(header, "base64url").toString("utf8")) : undefined;
  } catch {
    return undefined;
  }
  if (!isPlainObject(value) || Object.keys(value).length !== 3) return undefined;
  const { session, ticks, word } = value;
  if (typeof session !== "string" || session.length > 86 || typeof word !== "string" || !WORD.test(word)) return undefined;
  return Number.isSafeInteger(ticks) ? { session, ticks: ticks as number, word } : undefined;
}

/** The `Peage-Tick` header value of a tick. */
export function tickHeader(proof: TickProof): string {
  return Buffer.from(JSON.stringify(proof), "utf8").toString("base64url");
}

export type TickOutcome =
  | { readonly ok: true; readonly session: OpenSession }
  | { readonly ok: false; readonly code: "ERR_UNKNOWN_SESSION" | "ERR_NOT_ON_CHAIN"; readonly detail: string };

export class SessionBook {
  readonly #open = new Map<string, OpenSession>();

  open(session: OpenSession): void {
    if (!this.#open.has(session.id)) this.#open.set(session.id, session);
  }

  get(id: string): OpenSession | undefined {
    return this.#open.get(id);
  }

  all(): OpenSession[] {
    return [...this.#open.values()];
  }

  /** Accepts the word of a later tick of session `proof.session` on route `offerId`: one hash per tick it moves on. */
  tick(offerId: string, proof: TickProof): TickOutcome {
    const session = this.#open.get(proof.session);
    if (!session || session.offerId !== offerId || session.settled)
      return { ok: false, code: "ERR_UNKNOWN_SESSION", detail: "no open session of this route has this id: pay the offer again" };
    if (proof.ticks <= session.ticks || proof.ticks > session.length)
      return {
        ok: false,
        code: "ERR_NOT_ON_CHAIN",
        detail: `tick ${proof.ticks} is not after tick ${session.ticks} within the session's ${session.length}: send the next tick`,
      };
    if (!isChainWord(proof.word, session.word, proof.ticks - session.ticks))
      return { ok: false, code: "ERR_NOT_ON_CHAIN", detail: `this word is not tick ${proof.ticks} of the session's chain` };
    session.ticks = proof.ticks;
    session.word = proof.word;
    return { ok: true, session };
  }

  /** Settles a session once: later calls get the first call's answer, and the session takes no more ticks. */
  settle(id: string, send: (session: OpenSession) => Promise<UsageSettlement>): Promise<UsageSettlement> {
    const session = this.#open.get(id);
    if (!session) return Promise.reject(new RangeError(`no open session ${id}`));
    session.settled ??= send(session);
    return session.settled;
  }
}
