/**
 * The wallet's metered sessions (docs/protocol.md §3.12): for an offer with a tick price, the wallet
 * makes a PayWord hash chain as long as the cap holds ticks, signs the consent over a nonce that
 * commits to the chain's root, and then gives the program the next word for each tick, with no
 * signature and no round trip to the payment server. The chain's seed never leaves the wallet, so
 * nobody can produce a word the wallet did not give; the user consented to the cap once, so any
 * word up to the chain's length is within that consent. Chains live in memory: a session does not
 * outlive the wallet, and the merchant settles for the highest word it was given.
 */
import { payWordChain, sessionNonce, type Offer } from "@peage/protocol";
import { WalletError } from "./errors.js";

export interface SessionInfo {
  /** The nonce the consent signed: the session's id. */
  readonly id: string;
  readonly root: string;
  readonly length: number;
}

interface Chain extends SessionInfo {
  readonly words: readonly string[];
  given: number;
}

export class Sessions {
  readonly #chains = new Map<string, Chain>();

  /** A new chain for a session offer, and the offer as the consent signs it (its nonce committing to the chain). */
  open(offer: Offer): { session: SessionInfo; offer: Offer } {
    const tick = offer.terms.tick;
    if (tick === undefined) throw new TypeError("not a session offer");
    const length = Math.floor(offer.terms.price.amount / tick.amount);
    const words = payWordChain(length);
    const session: SessionInfo = { id: sessionNonce(offer.nonce, words[0]!, length), root: words[0]!, length };
    this.#chains.set(session.id, { ...session, words, given: 0 });
    return { session, offer: { ...offer, nonce: session.id } };
  }

  /** Forgets a session whose payment failed. */
  drop(id: string): void {
    this.#chains.delete(id);
  }

  /** The word paying tick `ticks` of session `id` (1 … length). */
  word(id: string, ticks: number): { ticks: number; word: string } {
    const chain = this.#chains.get(id);
    if (!chain)
      throw new WalletError(
        "ERR_NOT_FOUND",
        "this wallet has no such session (it may have restarted): pay a new session offer",
        404,
        false,
      );
    if (!Number.isSafeInteger(ticks) || ticks < 1 || ticks > chain.length) {
      throw new WalletError(
        "ERR_LIMIT_EXCEEDED",
        `the session's cap holds ${chain.length} ticks, not ${ticks}: pay a new session offer to go on`,
        402,
        false,
      );
    }
    chain.given = Math.max(chain.given, ticks);
    return { ticks, word: chain.words[ticks]! };
  }

  /** How many ticks of a session were given so far. */
  given(id: string): number | undefined {
    return this.#chains.get(id)?.given;
  }
}
