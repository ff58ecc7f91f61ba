/**
 * How the wallet reaches the user's card: through PC/SC (pcscd), in the reader the config names
 * or, by default, in the first reader whose card answers SELECT of the Péage application (AID
 * F0 50 45 41 47 45 01, docs/card.md). Every use is a session with exclusive access, ended with a
 * card reset (PcscCardClient), so the PIN verified for one payment is gone for the next.
 */
import { CardError, PcscCardClient, SW, type CardClient } from "@peage/card";

/** Runs work with the card, one session at a time. */
export interface CardSessions {
  session<T>(work: (card: CardClient) => Promise<T>): Promise<T>;
}

/** Where the wallet finds a card when an offer comes: undefined when none is there. */
export interface CardAccess {
  find(): Promise<CardSessions | undefined>;
  close(): void;
}

export interface CardReaderOptions {
  /** The reader's exact name; by default the first reader holding a Péage card. */
  readonly reader?: string;
  /** How long to look for a card, ms (default 1500). */
  readonly waitMs?: number;
  /** How long a session may wait for exclusive access to the card, ms (default 10 s). */
  readonly timeoutMs?: number;
  readonly extendedLength?: boolean;
}

const DEFAULT_WAIT_MS = 1500;

/** The card in a PC/SC reader. */
export class PcscCardAccess implements CardAccess {
  readonly #options: CardReaderOptions;
  #client: PcscCardClient | undefined;
  #closed = false;

  constructor(options: CardReaderOptions = {}) {
    this.#options = options;
  }

  async find(): Promise<CardSessions | undefined> {
    if (this.#closed) return undefined;
    const waitMs = this.#options.waitMs ?? DEFAULT_WAIT_MS;
    if (this.#client) {
      try {
        await this.#client.waitForCard(waitMs);
        return this.#client;
      } catch {
        // The card was taken out: look again (it may be in another reader now).
        if (this.#options.reader !== undefined) return undefined;
        this.#client.close();
        this.#client = undefined;
      }
    }
    const name =
      this.#options.reader ??
      (await findPeageReader({ waitMs, ...(this.#options.timeoutMs !== undefined && { timeoutMs: this.#options.timeoutMs }) }));
    if (name === undefined) return undefined;
    let client: PcscCardClient;
    try {
      client = await PcscCardClient.open({
        reader: name,
        timeoutMs: this.#options.timeoutMs ?? 10_000,
        ...(this.#options.extendedLength !== undefined && { extendedLength: this.#options.extendedLength }),
      });
      await client.waitForCard(waitMs);
    } catch {
      return undefined;
    }
    if (this.#closed) {
      client.close();
      return undefined;
    }
    this.#client = client;
    return client;
  }

  close(): void {
    this.#closed = true;
    this.#client?.close();
    this.#client = undefined;
  }
}

/**
 * The name of the first PC/SC reader holding a card that answers SELECT of the Péage AID, or
 * undefined (no pcscd, no reader, no card, or only other cards) after at most about `waitMs`.
 */
export async function findPeageReader(options: { waitMs?: number; timeoutMs?: number } = {}): Promise<string | undefined> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  let scout: PcscCardClient;
  try {
    scout = await PcscCardClient.open({ timeoutMs: waitMs });
  } catch {
    return undefined;
  }
  try {
    try {
      await scout.waitForCard(waitMs);
    } catch {
      return undefined;
    }
    for (const reader of scout.readers.filter((r) => r.present)) {
      const probe = await PcscCardClient.open({ reader: reader.name, timeoutMs: options.timeoutMs ?? 5_000 });
      try {
        const peage = await probe.session(async (card) => {
          try {
            await card.select();
            return true;
          } catch (error) {
            if (error instanceof CardError && error.sw === SW.NOT_FOUND) return false;
            throw error;
          }
        });
        if (peage) return reader.name;
      } catch {
        // A card that cannot be talked to is not the one.
      } finally {
        probe.close();
      }
    }
    return undefined;
  } finally {
    scout.close();
  }
}
