/**
 * `--workers N` on SQLite: the payment route's CPU work on N threads (payment-thread.ts), the HTTP
 * server and the one SQLite writer where they were. The event loop hands each request's body as
 * text to the thread with the fewest requests in hand, with its own clock's time (so every thread
 * reads one clock); the thread answers the signed payment as plain data, and the event loop hands
 * it to the store (store.recordPayment, on the writer's thread), whose transaction decides as it
 * always does. Messages are batched per turn of the event loop, as the writer's are.
 *
 * Each thread holds what the checks need: its own trust store (roots, then every CRL the server's
 * trust store holds, sent again whenever that set changes: a reload or a CRL refresh reaches the
 * threads before the next request), the rate table in force (sent when it changes), the server's
 * identity and key, its own cache of users' keys, and a read-only connection to the database. A
 * key in a PKCS#11 token cannot be used from another thread (its session belongs to the module
 * initialised on the event loop's thread): with one, the threads do everything but the signature,
 * which the event loop makes.
 *
 * A thread that dies (or stops answering for `stallMs` while it has requests in hand, and is then
 * stopped) is replaced; the requests it had are answered 503 ERR_SERVER_UNAVAILABLE. Nothing was
 * written for them (a thread never writes), so a retry is safe: a payment is recorded once, by
 * the store, and a retry of a recorded request gets its acknowledgment back.
 */
import { Worker } from "node:worker_threads";
import type { KeyPair, RateTable, TrustStore, x509 } from "@peage/protocol";
import type { ServerIdentity } from "./data-dir.js";
import { bookingOf, bookPayment, type PaymentAnswer, type PaymentContext } from "./payments.js";
import { HttpProblem, problemFor } from "./problems.js";
import type { RateSource } from "./rates/rate-source.js";
import { StoreBusyError } from "./store/store.js";
import type { ThreadAnswer, ThreadData, ThreadMessage } from "./payment-thread.js";
import { batchPerTurn } from "./turn-batch.js";

export interface PaymentPoolOptions {
  readonly threads: number;
  /** The SQLite file the threads read (users, months, rates, earlier payments). */
  readonly databasePath: string;
  readonly identity: ServerIdentity;
  readonly trust: TrustStore;
  readonly rates: RateSource;
  readonly skewMs: number;
  readonly feeBasisPoints: number;
  /** A thread with requests in hand that answers nothing for this long is stopped and replaced (default 10 s). */
  readonly stallMs?: number;
}

interface Pending {
  resolve(answer: ThreadAnswer): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  readonly pending: Map<number, Pending>;
  /** Queues a message to the thread; a turn's messages go in one (turn-batch.ts). */
  readonly send: (message: ThreadMessage) => void;
  /** When the thread last answered, or took a request while it had none: what the stall watchdog measures from. */
  lastProgress: number;
  /** False from its death until its replacement may take requests. */
  usable: boolean;
  /** What this thread was last sent, so that only a change is sent again. */
  sentRates: RateTable | undefined | null;
  sentCrls: readonly x509.X509Crl[];
}

/** The first message of a thread: its connection is open and it takes requests. */
export const READY = "ready";

/** A thread that dies before it is ready is replaced after this long: no tight restart loop. */
const RESTART_DELAY_MS = 1000;
const DEFAULT_STALL_MS = 10_000;

const unavailable = (why: string) =>
  new HttpProblem(
    problemFor(
      "ERR_SERVER_UNAVAILABLE",
      `${why} before it answered; nothing was recorded for this request: send the same request again`,
    ),
    { "retry-after": "1" },
  );

export class PaymentPool {
  readonly #opts: PaymentPoolOptions;
  readonly #data: ThreadData;
  readonly #slots: Slot[] = [];
  readonly #watchdog: NodeJS.Timeout;
  #next = 1;
  #closing = false;

  private constructor(opts: PaymentPoolOptions) {
    this.#opts = opts;
    const { identity, trust } = opts;
    this.#data = {
      databasePath: opts.databasePath,
      server: { id: identity.id, x5c: identity.x5c, notAfter: identity.notAfter },
      key: "sign" in identity.key ? undefined : (identity.key as KeyPair),
      roots: trust.roots.map((root) => root.rawData),
      revocation: trust.revocation,
      skewMs: opts.skewMs,
      feeBasisPoints: opts.feeBasisPoints,
    };
    const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
    this.#watchdog = setInterval(() => this.#checkStalls(stallMs), Math.max(1, stallMs / 4));
    this.#watchdog.unref();
  }

  /** Starts the threads and resolves once each has opened its connection. */
  static async start(opts: PaymentPoolOptions): Promise<PaymentPool> {
    const pool = new PaymentPool(opts);
    try {
      await Promise.all(Array.from({ length: opts.threads }, () => pool.#startThread()));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  get threads(): number {
    return this.#slots.length;
  }

  /** False when the server's key is in a token: the threads check, the event loop signs. */
  get signsOnThreads(): boolean {
    return this.#data.key !== undefined;
  }

  /**
   * One payment request (its body as text, null or undefined when it had none) checked and signed on a
   * thread, then booked by the store; throws HttpProblem as processPayment does. `label` is told
   * the offer's currency (the metrics'), whatever the outcome.
   */
  async pay(
    ctx: PaymentContext,
    body: string | null | undefined,
    label: (currency: string | undefined) => void,
  ): Promise<PaymentAnswer> {
    const answer = await this.#check(body, ctx.clock.now().getTime());
    label(answer.currency);
    if (answer.seen) ctx.publisherSeen?.(answer.seen.publisher, answer.seen.notAfter);
    switch (answer.kind) {
      case "refused":
        throw new HttpProblem(answer.problem, answer.headers);
      case "failed":
        throw answer.name === "StoreBusyError" ? new StoreBusyError(answer.message) : new Error(answer.message);
      case "replayed":
        return { acknowledgment: answer.payment.acknowledgment, payment: answer.payment, replayed: true };
      case "accepted":
        return bookPayment(ctx, await bookingOf(ctx, answer.accepted));
      case "signed":
        return bookPayment(ctx, answer.booking);
    }
  }

  /** Stops one thread at once, as a crash would: its requests are answered 503 and it is replaced. */
  async stopThread(index: number): Promise<void> {
    const slot = this.#slots[index];
    if (slot) await slot.worker.terminate();
  }

  /** Stops every thread (requests still in hand are answered 503). */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#watchdog);
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }

  #check(body: string | null | undefined, now: number): Promise<ThreadAnswer> {
    if (this.#closing) return Promise.reject(unavailable("the server is shutting down"));
    let slot: Slot | undefined;
    for (const candidate of this.#slots)
      if (candidate.usable && (!slot || candidate.pending.size < slot.pending.size)) slot = candidate;
    if (!slot) return Promise.reject(unavailable("every payment thread stopped"));
    const target = slot;
    this.#sendChanges(target);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      if (target.pending.size === 0) target.lastProgress = performance.now();
      target.pending.set(id, { resolve, reject });
      target.send({ kind: "pay", id, body, now });
    });
  }

  /** The rate table and CRLs in force, to a thread that has not had them yet: reload and CRL refreshes reach every thread. */
  #sendChanges(slot: Slot): void {
    const table = this.#opts.rates.current();
    if (table !== slot.sentRates) {
      slot.sentRates = table;
      slot.send({ kind: "rates", table });
    }
    const crls = this.#opts.trust.crls;
    if (crls.length !== slot.sentCrls.length || crls.some((crl, i) => crl !== slot.sentCrls[i])) {
      slot.sentCrls = crls;
      slot.send({ kind: "crls", ders: crls.map((crl) => crl.rawData) });
    }
  }

  #startThread(index = this.#slots.length): Promise<void> {
    const worker = new Worker(new URL("./payment-thread.js", import.meta.url), { workerData: this.#data });
    const slot: Slot = {
      worker,
      pending: new Map(),
      send: batchPerTurn<ThreadMessage>((messages) => worker.postMessage(messages)),
      lastProgress: performance.now(),
      usable: true,
      sentRates: null,
      sentCrls: [],
    };
    this.#slots[index] = slot;
    let ready = false;
    return new Promise((resolve, reject) => {
      worker.on("message", (message: readonly ThreadAnswer[] | typeof READY) => {
        slot.lastProgress = performance.now();
        if (message === READY) {
          ready = true;
          return resolve();
        }
        for (const answer of message) {
          const waiting = slot.pending.get(answer.id);
          slot.pending.delete(answer.id);
          waiting?.resolve(answer);
        }
      });
      worker.on("error", (error) => this.#lost(slot, `the payment thread failed (${error.message})`));
      worker.once("exit", (code) => {
        this.#lost(slot, `the payment thread stopped (${code})`);
        reject(new Error(`a payment thread stopped (${code}) before it was ready`));
        if (this.#closing || this.#slots[index] !== slot) return;
        const replace = () => {
          if (!this.#closing) this.#startThread(index).catch(() => undefined);
        };
        if (ready) replace();
        else setTimeout(replace, RESTART_DELAY_MS).unref();
      });
    });
  }

  /** A thread gone (or given up on): its requests answered 503, no request sent to it any more. */
  #lost(slot: Slot, why: string): void {
    slot.usable = false;
    const problem = unavailable(why);
    for (const waiting of slot.pending.values()) waiting.reject(problem);
    slot.pending.clear();
  }

  #checkStalls(stallMs: number): void {
    const now = performance.now();
    for (const slot of this.#slots) {
      if (slot.usable && slot.pending.size > 0 && now - slot.lastProgress > stallMs) {
        this.#lost(slot, `the payment thread answered nothing for ${stallMs} ms and was stopped`);
        void slot.worker.terminate();
      }
    }
  }
}
