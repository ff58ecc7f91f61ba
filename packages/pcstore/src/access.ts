/**
 * The PC store as the wallet reaches a card (the wallet's CardAccess and CardSessions, matched
 * by shape so this package needs no wallet): `find()` answers the store, every session runs
 * alone and ends with a reset, as a PC/SC session ends with a card reset, so the PIN verified for
 * one payment is gone for the next.
 */
import type { CardClient } from "@peage/card";
import type { OpenedPcStore } from "./store.js";

export interface PcStoreSessions {
  session<T>(work: (card: CardClient) => Promise<T>): Promise<T>;
}

export class PcStoreAccess {
  readonly #store: OpenedPcStore;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(store: OpenedPcStore) {
    this.#store = store;
  }

  async find(): Promise<PcStoreSessions | undefined> {
    return this.#closed ? undefined : this;
  }

  session<T>(work: (card: CardClient) => Promise<T>): Promise<T> {
    const run = async () => {
      try {
        return await work(this.#store.client);
      } finally {
        await this.#store.transport.reset();
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.#closed = true;
  }
}
