/**
 * The wallet's metered sessions (docs/protocol.md §3.12): for an offer with a tick price, the wallet
 * makes a PayWord hash chain as long as the cap holds ticks, signs the consent over a nonce that
 * commits to the chain's root, and then gives the program the next word for each tick, with no
 * signature and no round trip to the payment server. The chain's seed never leaves the wallet, so
 * nobody can produce a word the wallet did not give; the user consented to the cap once, so any
 * word up to the chain's length is within that consent.
 *
 * Chains outlive the wallet: each is written to the history's database before its consent is
 * signed (a crash cannot lose the cap the user consented to), and the highest word released is
 * committed before the word leaves the wallet (a crash cannot make the wallet forget a word it
 * gave). A restarted wallet rebuilds the chains from their seeds and continues the sessions; the
 * merchant settles for the highest word it was given.
 */
import { payWordChain, sessionNonce, type Offer } from "@peage/protocol";
import { WalletError } from "./errors.js";
import type { ConsentKind, StoredChain } from "./history.js";

export interface SessionInfo {
  /** The nonce the consent signed: the session's id. */
  readonly id: string;
  readonly root: string;
  readonly length: number;
}

/** Where chains are kept (the wallet's history); every call commits before it returns. */
export interface ChainStore {
  saveChain(chain: StoredChain, openedAt: Date): void;
  releaseWord(id: string, index: number): void;
  dropChain(id: string): void;
  chains(): StoredChain[];
}

interface Chain extends SessionInfo {
  readonly words: readonly string[];
  given: number;
  readonly offerNonce: string | undefined;
  readonly consent: Exclude<ConsentKind, "none"> | undefined;
}

/** A session kept for an offer, with how the user consented to it. */
export interface KeptSession {
  readonly session: SessionInfo;
  readonly consent: Exclude<ConsentKind, "none">;
}

/** A store that keeps nothing: sessions then end with the process (tests of the chain alone). */
const memoryOnly: ChainStore = { saveChain() {}, releaseWord() {}, dropChain() {}, chains: () => [] };

export class Sessions {
  readonly #chains = new Map<string, Chain>();
  readonly #store: ChainStore;

  /** Opens the sessions kept in `store`, their chains rebuilt from their seeds. */
  constructor(store: ChainStore = memoryOnly) {
    this.#store = store;
    for (const kept of store.chains()) {
      const words = payWordChain(kept.length, Buffer.from(kept.seed, "base64url"));
      const { id, length, given, offerNonce, consent } = kept;
      this.#chains.set(id, { id, root: words[0]!, length, words, given, offerNonce, consent });
    }
  }

  /**
   * A new chain for a session offer, and the offer as the consent signs it (its nonce committing to
   * the chain). The offer's own nonce and the kind of consent are kept with it, so that the offer
   * presented again finds this session rather than opening (and paying for) another.
   */
  open(
    offer: Offer,
    now: Date = new Date(),
    consent: Exclude<ConsentKind, "none"> = "explicit",
  ): { session: SessionInfo; offer: Offer } {
    const tick = offer.terms.tick;
    if (tick === undefined) throw new TypeError("not a session offer");
    const length = Math.floor(offer.terms.price.amount / tick.amount);
    const words = payWordChain(length);
    const session: SessionInfo = { id: sessionNonce(offer.nonce, words[0]!, length), root: words[0]!, length };
    // The seed (the chain's last word) is written before the consent is signed.
    this.#store.saveChain({ id: session.id, seed: words[length]!, length, given: 0, offerNonce: offer.nonce, consent }, now);
    this.#chains.set(session.id, { ...session, words, given: 0, offerNonce: offer.nonce, consent });
    return { session, offer: { ...offer, nonce: session.id } };
  }

  /**
   * The sessions opened for the offer whose nonce is `offerNonce`, newest first: a payment whose
   * answer was lost leaves its session here, paid or not, until the offer comes again.
   */
  ofOffer(offerNonce: string): KeptSession[] {
    return [...this.#chains.values()]
      .filter((chain) => chain.offerNonce === offerNonce)
      .reverse()
      .map(({ id, root, length, consent }) => ({ session: { id, root, length }, consent: consent ?? "explicit" }));
  }

  /** Forgets a session whose payment failed. */
  drop(id: string): void {
    this.#store.dropChain(id);
    this.#chains.delete(id);
  }

  /** The word paying tick `ticks` of session `id` (1 … length); asking again for a tick gives its word again. */
  word(id: string, ticks: number): { ticks: number; word: string } {
    const chain = this.#chains.get(id);
    if (!chain) throw new WalletError("ERR_NOT_FOUND", "this wallet has no such session: pay a new session offer", 404, false);
    if (!Number.isSafeInteger(ticks) || ticks < 1 || ticks > chain.length) {
      throw new WalletError(
        "ERR_LIMIT_EXCEEDED",
        `the session's cap holds ${chain.length} ticks, not ${ticks}: pay a new session offer to go on`,
        402,
        false,
      );
    }
    if (ticks > chain.given) {
      // Committed first: if the wallet stops right after, it still knows this word was given.
      this.#store.releaseWord(id, ticks);
      chain.given = ticks;
    }
    return { ticks, word: chain.words[ticks]! };
  }

  /** How many ticks of a session were given so far. */
  given(id: string): number | undefined {
    return this.#chains.get(id)?.given;
  }
}
