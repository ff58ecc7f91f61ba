/**
 * Periods paid by a metered session (docs/protocol.md §3.12), for a period offer whose terms carry
 * `upto` and a `tick` price, when the wallet can open sessions and the merchant knows where to
 * settle: the user consents once to the cap, each period is then paid by the next word of the
 * session's hash chain — one SHA-256 to check, no signature, no round trip to the payment server —
 * and the session is settled for the periods used when the schedule stops (or its cap is used up,
 * when a new session opens). The settlement key never leaves this process.
 */
import {
  isChainWord,
  newNonce,
  newSettlementKey,
  sessionNonce,
  settlementCommitment,
  uptoNonce,
  type CatalogEntry,
  type Offer,
} from "@peage/protocol";
import { MerchantError } from "./errors.js";
import type { Authorization, PayOptions } from "./merchant.js";
import { settleAtServer, type UsageSettlement } from "./settle.js";
import type { WalletTransport } from "./wallet-transport.js";

export interface MeteredParts {
  readonly entry: CatalogEntry;
  readonly transport: Required<Pick<WalletTransport, "openSession" | "tick">>;
  /** Makes an offer of the entry with this nonce (not yet open). */
  readonly offer: (nonce: string) => Offer;
  /** Opens `offer` and verifies `answer` against it, as the merchant does for any offer (§7.6). */
  readonly accept: (answer: unknown, offer: Offer) => Promise<Authorization>;
  readonly settleAt: string;
  readonly fetch?: typeof fetch;
  readonly timeoutMs: number;
}

interface Running {
  readonly authorization: Authorization;
  readonly offer: Offer;
  readonly key: string;
  readonly inner: string;
  readonly root: string;
  readonly length: number;
  ticks: number;
  word: string;
}

export class MeteredPeriods {
  readonly #parts: MeteredParts;
  #session: Running | undefined;

  constructor(parts: MeteredParts) {
    this.#parts = parts;
  }

  /** Pays one period: the next tick of the running session, or a new session when none runs or its cap is used up. */
  async pay(options: PayOptions): Promise<Authorization> {
    const signal = AbortSignal.any([
      AbortSignal.timeout(options.timeoutMs ?? this.#parts.timeoutMs),
      ...(options.signal ? [options.signal] : []),
    ]);
    const running = this.#session;
    if (running && running.ticks < running.length) {
      const { word } = await this.#parts.transport.tick(running.authorization.nonce, running.ticks + 1, { signal });
      if (!isChainWord(word, running.word, 1))
        throw new MerchantError(
          "ERR_INVALID_ACKNOWLEDGMENT",
          "the wallet's tick is not on the session's chain: nothing may be unlocked",
          {
            retryable: false,
          },
        );
      running.ticks++;
      running.word = word;
      return running.authorization;
    }
    if (running) await this.settle();
    return this.#open(signal);
  }

  /** Settles the running session for the ticks paid, once; undefined when none runs. */
  async settle(): Promise<UsageSettlement | undefined> {
    const running = this.#session;
    if (!running) return undefined;
    this.#session = undefined;
    return settleAtServer(this.#parts.fetch ?? fetch, this.#parts.settleAt, running.authorization.paymentId, {
      terms: running.offer.terms,
      key: running.key,
      inner: running.inner,
      chain: { root: running.root, length: running.length, ticks: running.ticks, word: running.word },
    });
  }

  async #open(signal: AbortSignal): Promise<Authorization> {
    const { entry, transport } = this.#parts;
    const key = newSettlementKey();
    const inner = newNonce();
    const offer = this.#parts.offer(uptoNonce(settlementCommitment(key), inner));
    const opened = await transport.openSession(offer, { signal });
    const { root, length } = opened.session;
    const tick = entry.terms.tick!;
    if (length !== Math.floor(entry.terms.price.amount / tick.amount))
      throw new MerchantError("ERR_INVALID_ACKNOWLEDGMENT", "the wallet opened a session of another length than the offer's", {
        retryable: false,
      });
    const consented = { ...offer, nonce: sessionNonce(offer.nonce, root, length) };
    const authorization = await this.#parts.accept(opened.acknowledgment, consented);
    const first = await transport.tick(consented.nonce, 1, { signal });
    if (!isChainWord(first.word, root, 1))
      throw new MerchantError("ERR_INVALID_ACKNOWLEDGMENT", "the wallet's first tick is not on the session's chain", {
        retryable: false,
      });
    this.#session = { authorization, offer, key, inner, root, length, ticks: 1, word: first.word };
    return authorization;
  }
}
