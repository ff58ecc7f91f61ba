/**
 * The wallet's transport to a card in a PC/SC reader (pcscd, through @pokusew/pcsclite): the
 * same code for a physical reader and for the emulator in vpcd's virtual reader.
 *
 * A payment is several commands (SELECT, VERIFY, PAY and its chained parts, GET RESPONSE), and
 * the card holds one session: interleaving two programs' commands would mix their chains and let
 * one use the PIN the other verified. So every {@link PcscCardClient.session} connects in
 * exclusive mode (SCardConnect with SCARD_SHARE_EXCLUSIVE): another program's connection
 * waits (retried on SCARD_E_SHARING_VIOLATION) until this one ends, which is what
 * SCardBeginTransaction would give and the binding does not offer. The session ends with
 * SCARD_RESET_CARD, so the next one starts with the PIN unverified.
 */
import { PeageError } from "@peage/protocol";
import { CardClient, type CardClientOptions, type CardTransport } from "../client.js";
import type { CardErrorCode } from "../errors.js";

/** The subset of @pokusew/pcsclite used here (its own typings lack the constructor's shape). */
interface PcscLite {
  on(event: "reader", listener: (reader: Reader) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  close(): void;
}

/**
 * The PC/SC binding is an optional peer dependency: it is a native build (libpcsclite-dev, a C++
 * compiler) that people paying online only never need, so it is loaded on first use of a reader.
 */
export class PcscUnavailableError extends PeageError<CardErrorCode> {
  override readonly name = "PcscUnavailableError";
  constructor(cause: unknown) {
    super(
      "ERR_PCSC_UNAVAILABLE",
      "the smart-card feature needs the optional PC/SC binding, which is not installed: run `npm install @pokusew/pcsclite` " +
        "(it builds against libpcsclite-dev, e.g. `apt-get install libpcsclite-dev pcscd`), then try again",
      { cause },
    );
  }
}

async function loadPcscLite(): Promise<() => PcscLite> {
  const name = "@pokusew/pcsclite";
  let loaded: { default: unknown };
  try {
    // A variable specifier keeps TypeScript from requiring the optional package's typings.
    loaded = (await import(name)) as { default: unknown };
  } catch (error) {
    throw new PcscUnavailableError(error);
  }
  return loaded.default as () => PcscLite;
}

interface Reader {
  readonly name: string;
  readonly SCARD_SHARE_EXCLUSIVE: number;
  readonly SCARD_SHARE_SHARED: number;
  readonly SCARD_PROTOCOL_T0: number;
  readonly SCARD_PROTOCOL_T1: number;
  readonly SCARD_STATE_PRESENT: number;
  readonly SCARD_RESET_CARD: number;
  readonly SCARD_LEAVE_CARD: number;
  on(event: "status", listener: (status: { state: number; atr?: Buffer }) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  connect(
    options: { share_mode: number; protocol: number },
    callback: (error: Error | null | undefined, protocol: number) => void,
  ): void;
  disconnect(disposition: number, callback: (error: Error | null | undefined) => void): void;
  transmit(
    data: Buffer,
    responseLength: number,
    protocol: number,
    callback: (error: Error | null | undefined, response: Buffer) => void,
  ): void;
  close(): void;
}

export interface PcscOptions extends CardClientOptions {
  /** The reader: its exact name or a pattern. By default the first reader that holds a card. */
  readonly reader?: string | RegExp;
  /** How long to wait for the reader, for a card, and for exclusive access; default 10 s. */
  readonly timeoutMs?: number;
}

/** Largest response accepted from SCardTransmit: an extended response (65536 bytes) and SW1-SW2. */
const RESPONSE_BUFFER = 65538;

interface ReaderState {
  readonly reader: Reader;
  present: boolean;
  atr?: Buffer;
}

/** The first command of a session failed: no card received it. */
class CardSwapped extends PeageError<CardErrorCode> {
  constructor(override readonly cause: Error) {
    super("ERR_CARD_SWAPPED", cause.message);
  }
}

export class PcscCardClient {
  readonly #pcsc: PcscLite;
  readonly #readers = new Map<string, ReaderState>();
  readonly #match: (name: string) => boolean;
  readonly #timeoutMs: number;
  readonly #clientOptions: CardClientOptions;
  #waiters: Array<() => void> = [];
  #error: Error | undefined;
  #sessions: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(pcsc: PcscLite, options: PcscOptions) {
    this.#pcsc = pcsc;
    const wanted = options.reader;
    this.#match =
      wanted === undefined ? () => true : typeof wanted === "string" ? (name) => name === wanted : (name) => wanted.test(name);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#clientOptions = { ...(options.extendedLength !== undefined && { extendedLength: options.extendedLength }) };
    pcsc.on("error", (error) => {
      this.#error = error;
      this.#wake();
    });
    pcsc.on("reader", (reader) => {
      const state: ReaderState = { reader, present: false };
      this.#readers.set(reader.name, state);
      reader.on("error", (error) => {
        this.#error = error;
        this.#wake();
      });
      reader.on("status", (status) => {
        state.present = (status.state & reader.SCARD_STATE_PRESENT) !== 0;
        if (status.atr) state.atr = status.atr;
        this.#wake();
      });
      reader.on("end", () => {
        this.#readers.delete(reader.name);
        this.#wake();
      });
      this.#wake();
    });
  }

  /** Establishes a PC/SC context (pcscd must be running). Close it when done. */
  static async open(options: PcscOptions = {}): Promise<PcscCardClient> {
    const pcsclite = await loadPcscLite();
    return new PcscCardClient(pcsclite(), options);
  }

  /** The readers seen so far and whether each holds a card. */
  get readers(): ReadonlyArray<{ name: string; present: boolean }> {
    return [...this.#readers.values()].map((state) => ({ name: state.reader.name, present: state.present }));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits for a matching reader holding a card. */
  async waitForCard(timeoutMs = this.#timeoutMs): Promise<{ name: string; atr?: Buffer }> {
    const state = await this.#waitFor((s) => s.present, timeoutMs, "no card in a matching PC/SC reader");
    return { name: state.reader.name, ...(state.atr && { atr: state.atr }) };
  }

  /** Waits until no matching reader holds a card (the card was taken out). */
  async waitForRemoval(timeoutMs = this.#timeoutMs): Promise<void> {
    await this.#waitFor(
      () => ![...this.#readers.values()].some((s) => s.present && this.#match(s.reader.name)),
      timeoutMs,
      "the card is still in the reader",
    );
  }

  async #waitFor(done: (state: ReaderState) => boolean, timeoutMs: number, failure: string): Promise<ReaderState> {
    const deadline = Date.now() + timeoutMs;
    const placeholder = { present: false } as ReaderState;
    for (;;) {
      if (this.#closed) throw new Error("the PC/SC client is closed");
      const matching = [...this.#readers.values()].filter((state) => this.#match(state.reader.name));
      const found = matching.find(done) ?? (matching.length === 0 && done(placeholder) ? placeholder : undefined);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.readers.map((r) => `${r.name}${r.present ? " (card)" : ""}`).join(", ") || "none";
        throw new Error(
          `${failure} after ${timeoutMs} ms (readers: ${seen})${this.#error ? `; last error: ${this.#error.message}` : ""}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Runs `work` with exclusive use of the card, then resets it. Sessions of this client run one
   * after the other; other programs' wait for the exclusive connection. If the card was swapped
   * between connecting and the first command (pcscd had not seen it yet), nothing reached a card
   * and `work` runs again on the new connection.
   */
  session<T>(work: (card: CardClient) => Promise<T>): Promise<T> {
    const run = this.#sessions.then(() => this.#session(work));
    this.#sessions = run.catch(() => undefined);
    return run;
  }

  async #session<T>(work: (card: CardClient) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    let lastError: Error | undefined;
    for (;;) {
      const { name } = await this.waitForCard(Math.max(1, deadline - Date.now()));
      const state = this.#readers.get(name);
      if (!state) continue;
      const reader = state.reader;
      const protocol = await new Promise<number | Error>((resolve) => {
        reader.connect(
          { share_mode: reader.SCARD_SHARE_EXCLUSIVE, protocol: reader.SCARD_PROTOCOL_T0 | reader.SCARD_PROTOCOL_T1 },
          (error, chosen) => resolve(error ? error : chosen),
        );
      });
      if (protocol instanceof Error) {
        // Sharing violation (another program's session), or the card just reset: wait and retry.
        lastError = protocol;
        if (Date.now() >= deadline) throw new Error(`could not get exclusive use of the card in ${name}: ${lastError.message}`);
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.floor(Math.random() * 20)));
        continue;
      }
      let answered = 0;
      const transport: CardTransport = {
        transmit: (apdu) =>
          new Promise((resolve, reject) => {
            reader.transmit(Buffer.from(apdu), RESPONSE_BUFFER, protocol, (error, response) => {
              if (!error) {
                answered++;
                resolve(new Uint8Array(response));
              } else {
                reject(answered === 0 ? new CardSwapped(error) : error);
              }
            });
          }),
      };
      try {
        return await work(new CardClient(transport, this.#clientOptions));
      } catch (cause) {
        if (!(cause instanceof CardSwapped) || Date.now() >= deadline) throw cause instanceof CardSwapped ? cause.cause : cause;
        lastError = cause.cause as Error;
      } finally {
        await new Promise<void>((resolve) => reader.disconnect(reader.SCARD_RESET_CARD, () => resolve()));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Releases the PC/SC context and its reader threads. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const state of this.#readers.values()) state.reader.close();
    this.#readers.clear();
    this.#pcsc.close();
    this.#wake();
  }
}
