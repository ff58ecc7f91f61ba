/**
 * The Péage card application: the smart card of the patent's second variant (claims 3-10,
 * figure 3), which takes the payment server's place for messages 2 and 3. Clause numbers are
 * those of ISO/IEC 7816-4:2005 (see iso7816.ts). Bytes in, bytes out:
 * command APDUs (ISO/IEC 7816-4) are answered from the card's memory (a JournalStore over a
 * Medium) and nothing else; the transports (transport/*.ts) carry the bytes.
 *
 * PAY, in the order of the claims: the PIN was verified for this payment (the proof of consent,
 * claims 3-4; each PAY uses the verification up); the consent names this card's user and issuer; the publisher's signature S_E and
 * its chain verify against the card's trust anchors, and the consent's offer hash and price are
 * what the publisher signed; the currency is the card's; the balance (prepaid) or the ceiling
 * (postpaid, claim 10) allows it. Then the log entry (claim 6) and the debit are written in ONE
 * transaction, and only once it is durable does the card sign the acknowledgment, which carries
 * the proof of the debit (claim 7). The rules of PAY are in payment.ts; docs/card.md lists every
 * command and status word.
 */
import { createHash } from "node:crypto";
import {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_OFFER_DATE_TOLERANCE_MS,
  fromX5c,
  importPrivateKeyPem,
  importPublicKeyPem,
  JwsTypes,
  signJwsExternally,
  systemClock,
  timestamp,
  TrustStore,
  type AcknowledgmentClaims,
  type Clock,
  type ExternalSigner,
  type PartyId,
} from "@peage/protocol";
import {
  Cla,
  DataTags,
  encodeResponse,
  Ins,
  parseCommand,
  PEAGE_AID,
  PEAGE_ATR,
  PIN_REFERENCE,
  SW,
  type CommandApdu,
} from "./iso7816.js";
import {
  CARD_VERSION,
  isLogEntryBody,
  isPinRecord,
  isProfile,
  isPurse,
  isReloadBody,
  isRevokedList,
  isSyncBody,
  logRecordName,
  PIN_TRIES,
  purseView,
  RECENT_ENTRIES,
  Records,
  type CardProfile,
  type LogEntryBody,
  type LogHeadBody,
  type Purse,
  type ReceiptBody,
} from "./model.js";
import { pinMatches } from "./pin.js";
import { decodeToken, keySigner, signTokenWith, verifyTokenSignature, type VerificationKey } from "./signed.js";
import { CardMemoryError, JournalStore, type Medium, type Operation } from "./store.js";
import { CERTIFICATE_TAG, encodeFci, encodeStatus } from "./wire.js";
import { concatTlv, encodeTlv } from "./tlv.js";
import { checkOffer, debitPurse, earlierPayment, readPayData } from "./payment.js";
import { Refusal, refuse } from "./refusal.js";

/** Longest command data accepted through chaining: a consent and a publisher's JWS with its chain. */
export const MAX_CHAINED_DATA = 16 * 1024;
/** Challenge lengths accepted by LOG HEAD. */
const MIN_CHALLENGE = 8;
const MAX_CHALLENGE = 64;

export interface CardAppletOptions {
  /** The card's clock: consent and offer freshness, the publisher chain's validity, log times. */
  readonly clock?: Clock;
  readonly skewMs?: number;
  readonly offerDateToleranceMs?: number;
  /** Called with a reason whenever a command is refused: diagnostics for the emulator's log. */
  readonly onRefusal?: (command: string, sw: number, reason: string) => void;
  /** Signs with a key outside the card's memory (a PC store's TPM key); the profile's key otherwise. */
  readonly signer?: ExternalSigner;
}

interface LoggedEntry {
  readonly token: string;
  readonly body: LogEntryBody;
}

interface LoadedCard {
  readonly store: JournalStore;
  readonly profile: CardProfile;
  readonly signer: ExternalSigner;
  readonly issuerKey: VerificationKey;
  readonly trust: TrustStore;
  purse: Purse;
  tries: number;
  /** In counter order; always the contiguous run first..purse.counter. */
  log: LoggedEntry[];
  /** Entries cleared by the last syncs, newest last (Records.recent). */
  recent: LoggedEntry[];
  /** Publisher certificates the issuer's last SYNC said were revoked (Records.revoked). */
  revoked: ReadonlySet<string>;
}

const pinPattern = /^[0-9]{4,12}$/;

/** Names of the commands, for refusal reasons. */
const commandNames = new Map<number, string>([
  [Ins.select, "SELECT"],
  [Ins.verify, "VERIFY"],
  [Ins.getData, "GET DATA"],
  [Ins.getResponse, "GET RESPONSE"],
  [Ins.pay, "PAY"],
  [Ins.readLog, "READ LOG"],
  [Ins.logHead, "LOG HEAD"],
  [Ins.reload, "RELOAD"],
  [Ins.sync, "SYNC"],
]);

/** The instructions that take command chaining (§5.1.1.1): those whose data may exceed 255 bytes. */
const chainable = new Set<number>([Ins.pay, Ins.reload, Ins.sync]);

export class CardApplet {
  readonly atr = PEAGE_ATR;
  readonly #medium: Medium;
  readonly #clock: Clock;
  readonly #options: CardAppletOptions;
  #card: LoadedCard | undefined;
  // Session state, volatile like a card's security status: lost at power-off and reset.
  #selected = false;
  #pinVerified = false;
  #chain: { cla: number; ins: number; p1: number; p2: number; parts: Uint8Array[]; size: number } | undefined;
  #pending: Uint8Array | undefined;
  /** One command at a time, whoever sends it: a card has one processor. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(medium: Medium, options: CardAppletOptions) {
    this.#medium = medium;
    this.#clock = options.clock ?? systemClock;
    this.#options = options;
  }

  /** Powers the card up on a personalised memory (store.ts recovers any interrupted write first). */
  static async open(medium: Medium, options: CardAppletOptions = {}): Promise<CardApplet> {
    const applet = new CardApplet(medium, options);
    applet.#card = await load(medium, options.signer);
    return applet;
  }

  /** Cold or warm reset (vpcd power on / reset): the session is gone; a card whose memory failed reloads it. */
  async reset(): Promise<void> {
    await this.#serialised(async () => {
      this.#clearSession();
      if (!this.#card) this.#card = await load(this.#medium, this.#options.signer).catch(() => undefined);
    });
  }

  powerOff(): void {
    this.#clearSession();
  }

  /** The state as the memory holds it (tests, `peage card status` on a file). */
  get state():
    | { readonly profile: CardProfile; readonly purse: Purse; readonly tries: number; readonly log: readonly LogEntryBody[] }
    | undefined {
    const card = this.#card;
    return card && { profile: card.profile, purse: card.purse, tries: card.tries, log: card.log.map((entry) => entry.body) };
  }

  /** Processes one command APDU and returns the response APDU. Never throws. */
  process(apdu: Uint8Array): Promise<Uint8Array> {
    return this.#serialised(() => this.#process(apdu));
  }

  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #clearSession(): void {
    this.#selected = false;
    this.#pinVerified = false;
    this.#chain = undefined;
    this.#pending = undefined;
  }

  async #process(bytes: Uint8Array): Promise<Uint8Array> {
    // A response not fetched by the very next command is gone (§5.1.3: 61XX).
    const pending = this.#pending;
    this.#pending = undefined;
    const parsed = parseCommand(bytes);
    if (!parsed.ok) return status(parsed.sw);
    const command = parsed.command;
    const name = commandNames.get(command.ins) ?? `INS ${command.ins.toString(16).padStart(2, "0")}`;
    try {
      const full = this.#unchain(command);
      if (!full) return status(SW.OK);
      return this.#respond(await this.#dispatch(full, pending), full.ne);
    } catch (cause) {
      if (cause instanceof Refusal) {
        this.#options.onRefusal?.(name, cause.sw, cause.message);
        return status(cause.sw);
      }
      // The memory failed mid-command (or the disk is gone): the card stops answering until a
      // reset makes it read its memory again, which completes or discards the interrupted write.
      this.#card = undefined;
      this.#clearSession();
      this.#options.onRefusal?.(name, SW.MEMORY_FAILURE, (cause as Error).message);
      return status(SW.MEMORY_FAILURE);
    }
  }

  /** Checks CLA and gathers chained data (§5.1.1.1); undefined while a chain is incomplete. */
  #unchain(command: CommandApdu): CommandApdu | undefined {
    const { cla } = command;
    // §5.1.1: only the first interindustry values (000x xxxx) and their proprietary twin (100x xxxx).
    if ((cla & 0x60) !== 0) {
      this.#chain = undefined;
      refuse(SW.CLA_NOT_SUPPORTED, `class ${cla.toString(16)} is not one the card knows`);
    }
    if (cla & Cla.channel) refuse(SW.CHANNEL_NOT_SUPPORTED, "only the basic logical channel is supported");
    if (cla & Cla.secureMessaging) refuse(SW.SECURE_MESSAGING_NOT_SUPPORTED, "secure messaging is not supported");
    if (command.data.length > MAX_CHAINED_DATA) {
      this.#chain = undefined;
      refuse(SW.WRONG_LENGTH, `command data beyond ${MAX_CHAINED_DATA} bytes`);
    }
    const more = (cla & Cla.chaining) !== 0;
    const base = cla & ~Cla.chaining;
    const chain = this.#chain;
    if (chain) {
      if (chain.cla !== base || chain.ins !== command.ins || chain.p1 !== command.p1 || chain.p2 !== command.p2) {
        this.#chain = undefined;
        refuse(SW.LAST_COMMAND_EXPECTED, "a chain was interrupted by another command");
      }
      chain.size += command.data.length;
      if (chain.size > MAX_CHAINED_DATA) {
        this.#chain = undefined;
        refuse(SW.WRONG_LENGTH, `chained data beyond ${MAX_CHAINED_DATA} bytes`);
      }
      chain.parts.push(command.data);
      if (more) return undefined;
      this.#chain = undefined;
      return { ...command, cla: base, data: Uint8Array.from(Buffer.concat(chain.parts)) };
    }
    if (more) {
      if (!chainable.has(command.ins) || base !== Cla.proprietary)
        refuse(SW.CHAINING_NOT_SUPPORTED, "this command takes no chaining");
      this.#chain = {
        cla: base,
        ins: command.ins,
        p1: command.p1,
        p2: command.p2,
        parts: [command.data],
        size: command.data.length,
      };
      return undefined;
    }
    return { ...command, cla: base };
  }

  /** Response chaining: what exceeds Ne waits for GET RESPONSE, announced by 61XX (§5.1.3). */
  #respond(data: Uint8Array, ne: number): Uint8Array {
    if (data.length <= ne) return encodeResponse(data, SW.OK);
    const rest = data.slice(ne);
    this.#pending = rest;
    return encodeResponse(data.subarray(0, ne), SW.MORE_DATA | (rest.length > 0xff ? 0 : rest.length));
  }

  async #dispatch(command: CommandApdu, pending: Uint8Array | undefined): Promise<Uint8Array> {
    if (command.cla === Cla.interindustry) {
      switch (command.ins) {
        case Ins.select:
          return this.#select(command);
        case Ins.getResponse:
          return this.#getResponse(command, pending);
        case Ins.verify:
          return this.#verify(command);
        case Ins.getData:
          return this.#getData(command);
        default:
          return refuse(SW.INS_NOT_SUPPORTED, "no such interindustry instruction");
      }
    }
    switch (command.ins) {
      case Ins.pay:
        return this.#pay(command);
      case Ins.readLog:
        return this.#readLog(command);
      case Ins.logHead:
        return this.#logHead(command);
      case Ins.reload:
        return this.#reload(command);
      case Ins.sync:
        return this.#sync(command);
      default:
        return refuse(SW.INS_NOT_SUPPORTED, "no such proprietary instruction");
    }
  }

  #selectedCard(): LoadedCard {
    if (!this.#selected) refuse(SW.CONDITIONS_NOT_SATISFIED, "the Péage application is not selected");
    if (!this.#card) refuse(SW.MEMORY_FAILURE, "the card's memory could not be read; reset the card");
    return this.#card!;
  }

  /** SELECT by DF name (§7.1.1): P1 04, P2 00 (FCI) or 0C (no data); exactly the Péage AID. */
  #select(command: CommandApdu): Uint8Array {
    if (command.p1 !== 0x04 || (command.p2 !== 0x00 && command.p2 !== 0x0c))
      refuse(SW.WRONG_P1P2, "SELECT supports P1 04, P2 00 or 0C");
    // Selecting anything resets the application's security status: a new session, PIN unverified.
    this.#selected = false;
    this.#pinVerified = false;
    if (!Buffer.from(command.data).equals(Buffer.from(PEAGE_AID))) refuse(SW.NOT_FOUND, "no application with this identifier");
    if (!this.#card) refuse(SW.MEMORY_FAILURE, "the card's memory could not be read; reset the card");
    this.#selected = true;
    return command.p2 === 0x0c ? new Uint8Array(0) : encodeFci();
  }

  #getResponse(command: CommandApdu, pending: Uint8Array | undefined): Uint8Array {
    if (command.p1 !== 0 || command.p2 !== 0) refuse(SW.WRONG_P1P2, "GET RESPONSE takes P1-P2 0000");
    if (command.ne === 0) refuse(SW.WRONG_LENGTH, "GET RESPONSE needs Le");
    if (!pending) refuse(SW.CONDITIONS_NOT_SATISFIED, "no response data is waiting");
    return pending!;
  }

  /**
   * VERIFY (§7.5.6), P2 81. The retry counter is decremented and written BEFORE the comparison
   * and restored after a match, so that cutting the power after a wrong comparison cannot save a
   * try. Three wrong PINs in a row block the card (6983) for good.
   */
  #verify(command: CommandApdu): Uint8Array {
    if (command.p1 !== 0x00) refuse(SW.WRONG_P1P2, "VERIFY takes P1 00");
    if (command.p2 !== PIN_REFERENCE) refuse(SW.DATA_NOT_FOUND, "the card has one PIN, reference 81");
    const card = this.#selectedCard();
    if (card.tries === 0) refuse(SW.AUTHENTICATION_BLOCKED, "the PIN is blocked");
    if (command.data.length === 0) {
      // No data: asks whether verification is needed (§7.5.6).
      if (this.#pinVerified) return new Uint8Array(0);
      refuse(SW.WRONG_PIN | card.tries, "PIN not verified yet");
    }
    if (!pinPattern.test(Buffer.from(command.data).toString("latin1"))) refuse(SW.WRONG_DATA, "a PIN is 4 to 12 ASCII digits");
    this.#pinVerified = false;
    const left = card.tries - 1;
    card.store.commit([{ put: Records.pin, value: { tries: left } }]);
    card.tries = left;
    if (!pinMatches(card.profile.pin, command.data)) {
      refuse(SW.WRONG_PIN | left, left === 0 ? "wrong PIN; the PIN is now blocked" : `wrong PIN, ${left} tries left`);
    }
    card.store.commit([{ put: Records.pin, value: { tries: PIN_TRIES } }]);
    card.tries = PIN_TRIES;
    this.#pinVerified = true;
    return new Uint8Array(0);
  }

  /** GET DATA (§7.4.2): DF01 the status, DF02 the card's certificate chain. Public: no PIN. */
  #getData(command: CommandApdu): Uint8Array {
    const card = this.#selectedCard();
    const tag = (command.p1 << 8) | command.p2;
    if (tag === DataTags.status) {
      const { profile, purse } = card;
      return encodeStatus({
        card: profile.card,
        user: profile.user,
        issuer: profile.issuer,
        mode: profile.mode,
        currency: profile.currency,
        ...purseView(purse),
        counter: purse.counter,
        seq: purse.seq,
        logLength: card.log.length,
        logCapacity: profile.logCapacity,
        pinTriesLeft: card.tries,
        pinVerified: this.#pinVerified,
      });
    }
    if (tag === DataTags.certificateChain) {
      return concatTlv(
        ...card.profile.chain.map((x5c) => encodeTlv(CERTIFICATE_TAG, new Uint8Array(Buffer.from(x5c, "base64")))),
      );
    }
    return refuse(SW.DATA_NOT_FOUND, `no data object ${tag.toString(16)}`);
  }

  async #pay(command: CommandApdu): Promise<Uint8Array> {
    if (command.p1 !== 0 || command.p2 !== 0) refuse(SW.WRONG_P1P2, "PAY takes P1-P2 0000");
    const card = this.#selectedCard();
    const { profile } = card;
    if (card.tries === 0) refuse(SW.AUTHENTICATION_BLOCKED, "the PIN is blocked: the card pays nothing");
    if (!this.#pinVerified) refuse(SW.SECURITY_STATUS_NOT_SATISFIED, "the PIN was not verified for this payment (claims 3-4)");
    // One VERIFY, one PAY: the PIN is the consent to one payment, so any PAY uses it up, paid or
    // refused. A second payment in the same session needs the PIN typed again.
    this.#pinVerified = false;

    const { consent, signature } = readPayData(command.data, profile);
    // A lost response is no lost money: the same payment asked again gets its acknowledgment again,
    // even if a SYNC cleared its entry meanwhile.
    const earlier = earlierPayment([...card.log, ...card.recent], consent);
    if (earlier) return ascii(await this.#acknowledgment(card, earlier));

    const now = this.#clock.now();
    const publisherCert = await checkOffer(consent, signature, {
      now,
      trust: card.trust,
      revoked: card.revoked,
      skewMs: this.#options.skewMs ?? DEFAULT_CLOCK_SKEW_MS,
      offerDateToleranceMs: this.#options.offerDateToleranceMs ?? DEFAULT_OFFER_DATE_TOLERANCE_MS,
    });
    if (card.log.length >= profile.logCapacity)
      refuse(SW.NOT_ENOUGH_MEMORY, "the usage log is full: synchronise with the issuer");
    const { next, debit } = debitPurse(profile, card.purse, consent.price.amount);
    const body: LogEntryBody = {
      type: "peage.card-log-entry",
      v: CARD_VERSION,
      card: profile.card,
      counter: debit.counter,
      paymentId: paymentIdOf(profile.card, debit.counter),
      user: consent.user as PartyId<"user">,
      publisher: consent.publisher as PartyId<"publisher">,
      offerHash: consent.offerHash,
      price: consent.price,
      nonce: consent.nonce,
      date: consent.date,
      time: timestamp(now),
      debit,
      publisherCert,
    };
    const token = await signTokenWith(body, card.signer);
    // Claims 6-7: the log entry and the debit are one write; the acknowledgment comes after it.
    card.store.commit([
      { put: logRecordName(debit.counter), value: token },
      { put: Records.purse, value: next },
    ]);
    card.purse = next;
    card.log.push({ token, body });
    return ascii(await this.#acknowledgment(card, body));
  }

  /** Message 3, signed by the card, from a logged payment (so it can be given again). */
  #acknowledgment(card: LoadedCard, entry: LogEntryBody): Promise<string> {
    const claims: AcknowledgmentClaims = {
      v: 1,
      paymentId: entry.paymentId,
      server: card.profile.card,
      user: entry.user,
      publisher: entry.publisher,
      offerHash: entry.offerHash,
      price: entry.price,
      nonce: entry.nonce,
      date: entry.date,
      serverTime: entry.time,
      charged: entry.price,
      debit: entry.debit,
    };
    return signJwsExternally(JwsTypes.acknowledgment, claims, card.signer, { x5c: card.profile.chain });
  }

  /** READ LOG: P1-P2 the index of an entry in the log (0 is the oldest kept); the signed entry. */
  #readLog(command: CommandApdu): Uint8Array {
    const card = this.#selectedCard();
    const index = (command.p1 << 8) | command.p2;
    const entry = card.log[index];
    if (!entry) return refuse(SW.RECORD_NOT_FOUND, `the log has ${card.log.length} entries`);
    return ascii(entry.token);
  }

  /** LOG HEAD: the card signs its counters over the server's challenge, so a cut log shows. */
  async #logHead(command: CommandApdu): Promise<Uint8Array> {
    if (command.p1 !== 0 || command.p2 !== 0) refuse(SW.WRONG_P1P2, "LOG HEAD takes P1-P2 0000");
    const card = this.#selectedCard();
    if (command.data.length < MIN_CHALLENGE || command.data.length > MAX_CHALLENGE)
      refuse(SW.WRONG_LENGTH, `a challenge is ${MIN_CHALLENGE} to ${MAX_CHALLENGE} bytes`);
    const body: LogHeadBody = {
      type: "peage.card-log-head",
      v: CARD_VERSION,
      card: card.profile.card,
      challenge: Buffer.from(command.data).toString("base64url"),
      counter: card.purse.counter,
      first: firstCounter(card),
      seq: card.purse.seq,
      purse: purseView(card.purse),
      time: timestamp(this.#clock.now()),
    };
    return ascii(await signTokenWith(body, card.signer));
  }

  /** Verifies an issuer command: its signature under the issuer's key, this card, the expected seq. */
  async #issuerCommand(command: CommandApdu, what: string): Promise<{ card: LoadedCard; body: unknown }> {
    if (command.p1 !== 0 || command.p2 !== 0) refuse(SW.WRONG_P1P2, `${what} takes P1-P2 0000`);
    const card = this.#selectedCard();
    const decoded = decodeToken(Buffer.from(command.data).toString("latin1"));
    if (!decoded) return refuse(SW.WRONG_DATA, `${what}: not a signed command`);
    if (!(await verifyTokenSignature(decoded, card.issuerKey)))
      refuse(SW.SECURITY_STATUS_NOT_SATISFIED, `${what}: not signed by the card's issuer`);
    return { card, body: decoded.body };
  }

  /** RELOAD (claim 8): the issuer's signed credit, applied once, in sequence, and only to a card whose log was synchronised. */
  async #reload(command: CommandApdu): Promise<Uint8Array> {
    const { card, body } = await this.#issuerCommand(command, "RELOAD");
    const { profile, purse } = card;
    if (!isReloadBody(body)) return refuse(SW.WRONG_DATA, "RELOAD: malformed command");
    if (body.card !== profile.card) refuse(SW.WRONG_DATA, `RELOAD: the command is for ${body.card}`);
    if (profile.mode !== "prepaid") refuse(SW.CONDITIONS_NOT_SATISFIED, "RELOAD: a postpaid card is not reloaded");
    if (body.seq !== purse.seq)
      refuse(
        SW.CONDITIONS_NOT_SATISFIED,
        `RELOAD: the command carries seq ${body.seq}, the card expects ${purse.seq} (replayed or out of order)`,
      );
    // Claim 8: money is loaded only once the log was uploaded, i.e. a SYNC acknowledged every
    // entry up to the current counter (the card forgets exactly those): the log must be empty.
    if (card.log.length > 0) {
      const why = `RELOAD: the log holds ${card.log.length} payment(s) up to ${purse.counter} no SYNC acknowledged: synchronise first`;
      refuse(SW.CONDITIONS_NOT_SATISFIED, why);
    }
    if (body.amount.currency !== profile.currency)
      refuse(SW.WRONG_DATA, `RELOAD: ${body.amount.currency} on a ${profile.currency} card`);
    const balance = purse.balance! + body.amount.amount;
    if (balance > profile.maxBalance)
      refuse(SW.CONDITIONS_NOT_SATISFIED, `RELOAD: the balance would exceed ${profile.maxBalance}`);
    const next: Purse = { ...purse, seq: purse.seq + 1, balance };
    card.store.commit([{ put: Records.purse, value: next }]);
    card.purse = next;
    return ascii(await this.#receipt(card, "reload", body.id, body.seq));
  }

  /**
   * SYNC (claim 10): the issuer acknowledges the log up to a counter; the card forgets those
   * entries, and a postpaid card's use restarts from what is still unacknowledged. A list of
   * revoked publisher certificates, when it carries one, replaces the card's.
   */
  async #sync(command: CommandApdu): Promise<Uint8Array> {
    const { card, body } = await this.#issuerCommand(command, "SYNC");
    const { profile, purse } = card;
    if (!isSyncBody(body)) return refuse(SW.WRONG_DATA, "SYNC: malformed command");
    if (body.card !== profile.card) refuse(SW.WRONG_DATA, `SYNC: the command is for ${body.card}`);
    if (body.seq !== purse.seq)
      refuse(
        SW.CONDITIONS_NOT_SATISFIED,
        `SYNC: the command carries seq ${body.seq}, the card expects ${purse.seq} (replayed or out of order)`,
      );
    if (body.upTo > purse.counter)
      refuse(SW.WRONG_DATA, `SYNC: acknowledges up to ${body.upTo} but the card is at ${purse.counter}`);
    if (body.ceiling !== undefined && profile.mode !== "postpaid") refuse(SW.WRONG_DATA, "SYNC: a prepaid card has no ceiling");
    const cleared = card.log.filter((entry) => entry.body.counter <= body.upTo);
    const kept = card.log.filter((entry) => entry.body.counter > body.upTo);
    const next: Purse =
      profile.mode === "prepaid"
        ? { ...purse, seq: purse.seq + 1 }
        : {
            ...purse,
            seq: purse.seq + 1,
            ceiling: body.ceiling ?? purse.ceiling!,
            used: kept.reduce((sum, entry) => sum + entry.body.price.amount, 0),
          };
    const recent = [...card.recent, ...cleared].slice(-RECENT_ENTRIES);
    const ops: Operation[] = [
      ...cleared.map((entry) => ({ remove: logRecordName(entry.body.counter) })),
      ...(cleared.length > 0 ? [{ put: Records.recent, value: recent.map((entry) => entry.token) }] : []),
      ...(body.revoked !== undefined ? [{ put: Records.revoked, value: [...body.revoked] }] : []),
      { put: Records.purse, value: next },
    ];
    card.store.commit(ops);
    card.purse = next;
    card.log = kept;
    card.recent = recent;
    if (body.revoked !== undefined) card.revoked = new Set(body.revoked);
    return ascii(await this.#receipt(card, "sync", body.id, body.seq));
  }

  #receipt(card: LoadedCard, command: ReceiptBody["command"], id: string, seq: number): Promise<string> {
    const body: ReceiptBody = {
      type: "peage.card-receipt",
      v: CARD_VERSION,
      card: card.profile.card,
      command,
      id,
      seq,
      counter: card.purse.counter,
      first: firstCounter(card),
      purse: purseView(card.purse),
      time: timestamp(this.#clock.now()),
    };
    return signTokenWith(body, card.signer);
  }
}

function status(sw: number): Uint8Array {
  return encodeResponse(new Uint8Array(0), sw);
}

function ascii(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "latin1"));
}

function firstCounter(card: LoadedCard): number {
  return card.log[0]?.body.counter ?? card.purse.counter + 1;
}

/** The acknowledgment's paymentId for a card payment: derived, so the server finds it from the log entry. */
export function paymentIdOf(card: string, counter: number): string {
  return `card_${createHash("sha256").update(`${card}#${counter}`).digest("base64url")}`;
}

/** Reads and checks the card's memory; any inconsistency makes the card unusable (CardMemoryError). */
async function load(medium: Medium, external?: ExternalSigner): Promise<LoadedCard> {
  const store = new JournalStore(medium);
  const profile = store.get(Records.profile);
  if (!isProfile(profile)) throw new CardMemoryError("the card is not personalised (no valid profile record)");
  const purse = store.get(Records.purse);
  if (!isPurse(purse, profile.mode)) throw new CardMemoryError("the purse record is invalid");
  const pin = store.get(Records.pin);
  if (!isPinRecord(pin)) throw new CardMemoryError("the PIN record is invalid");
  const log: LoggedEntry[] = [];
  for (const name of store.names().filter((n) => n.startsWith(Records.logPrefix))) {
    const token = store.get(name);
    const decoded = decodeToken(token);
    if (!decoded || !isLogEntryBody(decoded.body) || logRecordName(decoded.body.counter) !== name)
      throw new CardMemoryError(`log record ${name} is invalid`);
    log.push({ token: token as string, body: decoded.body });
  }
  log.sort((a, b) => a.body.counter - b.body.counter);
  const recentTokens = store.get(Records.recent) ?? [];
  if (!Array.isArray(recentTokens)) throw new CardMemoryError("the recent-entries record is invalid");
  const recent: LoggedEntry[] = recentTokens.map((token: unknown) => {
    const decoded = decodeToken(token);
    if (!decoded || !isLogEntryBody(decoded.body)) throw new CardMemoryError("the recent-entries record is invalid");
    return { token: token as string, body: decoded.body };
  });
  const first = log[0]?.body.counter ?? purse.counter + 1;
  if (log.some((entry, i) => entry.body.counter !== first + i) || first + log.length - 1 !== purse.counter) {
    throw new CardMemoryError("the log and the transaction counter disagree");
  }
  const revoked = store.get(Records.revoked) ?? [];
  if (!isRevokedList(revoked)) throw new CardMemoryError("the revoked-certificates record is invalid");
  const signer = external ?? keySigner(await importPrivateKeyPem(profile.key));
  const issuerKey = await importPublicKeyPem(profile.issuerKey);
  const trust = new TrustStore({ roots: profile.roots.map(fromX5c) });
  return { store, profile, signer, issuerKey, trust, purse, tries: pin.tries, log, recent, revoked: new Set(revoked) };
}
