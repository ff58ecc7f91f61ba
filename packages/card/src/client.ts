/**
 * The terminal's side of the card (what the wallet runs): the Péage commands over any
 * {@link CardTransport} — in-process, or PC/SC exactly as with a physical reader. By default it
 * keeps to short APDUs: long data goes by command chaining (ISO/IEC 7816-4:2005 §5.1.1.1) and
 * long responses come back by 61XX and GET RESPONSE (§7.6.1), so any reader will do. With
 * `extendedLength` (a reader known to carry extended APDUs) each command is one exchange.
 */
import {
  canonicalBytes,
  consentClaims,
  PROTOCOL_VERSION,
  type Acknowledgment,
  type Clock,
  type ConsentClaims,
  type Offer,
  type PartyId,
} from "@peage/protocol";
import {
  CardError,
  CardProtocolError,
  Cla,
  DataTags,
  encodeCommand,
  Ins,
  MAX_EXTENDED_NC,
  MAX_EXTENDED_NE,
  MAX_SHORT_NC,
  MAX_SHORT_NE,
  parseResponse,
  PEAGE_AID,
  PIN_REFERENCE,
  SW,
  type ResponseApdu,
} from "./iso7816.js";
import { concatTlv, decodeTlvs, encodeTlv } from "./tlv.js";
import { CERTIFICATE_TAG, decodeStatus, PayTags, type CardStatus } from "./wire.js";

/** Carries command APDUs to a card and its response APDUs back. */
export interface CardTransport {
  transmit(apdu: Uint8Array): Promise<Uint8Array>;
}

interface Command {
  readonly cla: number;
  readonly ins: number;
  readonly p1?: number;
  readonly p2?: number;
  readonly data?: Uint8Array;
  /** Whether response data is expected (Le = 00, i.e. up to 256 at a time). */
  readonly expectData?: boolean;
}

/** At most this many GET RESPONSE rounds: a card announcing more data forever is broken. */
const MAX_RESPONSE_ROUNDS = 4096;

/** The message 2 of the card variant: the consent claims (the PIN is their proof) and S_E. */
export interface CardPaymentRequest {
  readonly consent: ConsentClaims;
  /** The publisher's signature S_E(offer_h, price), copied from the offer. */
  readonly signature: string;
}

export interface CardPaymentRequestInput {
  readonly offer: Offer;
  /** The card's user and issuer, as its status gives them. */
  readonly user: PartyId<"user">;
  readonly issuer: PartyId<"server">;
  readonly clock: Clock;
  readonly ttlMs?: number;
}

/** What the wallet sends the card once the user said yes (and typed the PIN). */
export function createCardPaymentRequest(input: CardPaymentRequestInput): CardPaymentRequest {
  const { issuer, ...rest } = input;
  return { consent: consentClaims({ ...rest, server: issuer }), signature: input.offer.signature };
}

export interface CardClientOptions {
  /** Send extended APDUs (one exchange per command) instead of chaining; the reader must carry them. */
  readonly extendedLength?: boolean;
}

export class CardClient {
  readonly #maxNc: number;
  readonly #ne: number;

  constructor(
    readonly transport: CardTransport,
    options: CardClientOptions = {},
  ) {
    this.#maxNc = options.extendedLength ? MAX_EXTENDED_NC : MAX_SHORT_NC;
    this.#ne = options.extendedLength ? MAX_EXTENDED_NE : MAX_SHORT_NE;
  }

  /**
   * Sends one command, chained if its data exceeds 255 bytes, and gathers the whole response
   * (61XX → GET RESPONSE; 6CXX → the same command again with the right Le). Returns the final
   * status word without judging it.
   */
  async exchange(command: Command): Promise<ResponseApdu> {
    const data = command.data ?? new Uint8Array(0);
    const p1 = command.p1 ?? 0;
    const p2 = command.p2 ?? 0;
    const ne = command.expectData ? this.#ne : 0;
    let offset = 0;
    // Every part but the last has CLA b5 set; the card answers each with 9000.
    while (data.length - offset > this.#maxNc) {
      const part = data.subarray(offset, offset + this.#maxNc);
      const answer = parseResponse(
        await this.transport.transmit(
          encodeCommand({ cla: command.cla | Cla.chaining, ins: command.ins, p1, p2, data: part, ne: 0 }),
        ),
      );
      if (answer.sw !== SW.OK) return answer;
      offset += this.#maxNc;
    }
    const last = { cla: command.cla, ins: command.ins, p1, p2, data: data.subarray(offset), ne };
    let answer = parseResponse(await this.transport.transmit(encodeCommand(last)));
    if ((answer.sw & 0xff00) === 0x6c00)
      answer = parseResponse(await this.transport.transmit(encodeCommand({ ...last, ne: answer.sw & 0xff || 256 })));
    const parts = [answer.data];
    for (let round = 0; (answer.sw & 0xff00) === SW.MORE_DATA; round++) {
      if (round >= MAX_RESPONSE_ROUNDS) throw new CardProtocolError("the card keeps announcing more data");
      const le = answer.sw & 0xff || 256;
      answer = parseResponse(
        await this.transport.transmit(
          encodeCommand({ cla: Cla.interindustry, ins: Ins.getResponse, p1: 0, p2: 0, data: new Uint8Array(0), ne: le }),
        ),
      );
      parts.push(answer.data);
    }
    return { data: Uint8Array.from(Buffer.concat(parts)), sw: answer.sw };
  }

  /** {@link exchange}, and a CardError for anything but 9000. */
  async send(name: string, command: Command): Promise<Uint8Array> {
    const answer = await this.exchange(command);
    if (answer.sw !== SW.OK) throw new CardError(answer.sw, name);
    return answer.data;
  }

  /** SELECT the Péage application by its AID; a new session (the PIN must be verified again). */
  async select(): Promise<void> {
    await this.send("SELECT", { cla: Cla.interindustry, ins: Ins.select, p1: 0x04, p2: 0x00, data: PEAGE_AID, expectData: true });
  }

  /** VERIFY the PIN. Throws a CardError: 63CX (X tries left, `triesLeft`), 6983 when blocked. */
  async verifyPin(pin: string): Promise<void> {
    await this.send("VERIFY", {
      cla: Cla.interindustry,
      ins: Ins.verify,
      p1: 0,
      p2: PIN_REFERENCE,
      data: new Uint8Array(Buffer.from(pin, "latin1")),
    });
  }

  async status(): Promise<CardStatus> {
    const data = await this.send("GET DATA", {
      cla: Cla.interindustry,
      ins: Ins.getData,
      p1: DataTags.status >> 8,
      p2: DataTags.status & 0xff,
      expectData: true,
    });
    return decodeStatus(data);
  }

  /** The card's certificate chain (x5c): to check it, cardKeyFromChain (issuer/certificates.ts). */
  async certificateChain(): Promise<string[]> {
    const data = await this.send("GET DATA", {
      cla: Cla.interindustry,
      ins: Ins.getData,
      p1: DataTags.certificateChain >> 8,
      p2: DataTags.certificateChain & 0xff,
      expectData: true,
    });
    return decodeTlvs(data)
      .filter((tlv) => tlv.tag === CERTIFICATE_TAG)
      .map((tlv) => Buffer.from(tlv.value).toString("base64"));
  }

  /** PAY: message 2 in, message 3 (the card's acknowledgment, with the proof of debit) out. */
  async pay(request: CardPaymentRequest): Promise<Acknowledgment> {
    const data = concatTlv(
      encodeTlv(PayTags.consent, new Uint8Array(canonicalBytes(request.consent))),
      encodeTlv(PayTags.signature, new Uint8Array(Buffer.from(request.signature, "ascii"))),
    );
    const answer = await this.send("PAY", { cla: Cla.proprietary, ins: Ins.pay, data, expectData: true });
    return { type: "peage.acknowledgment", v: PROTOCOL_VERSION, acknowledgment: Buffer.from(answer).toString("ascii") };
  }

  /** READ LOG: every entry the card holds, oldest first (signed tokens, for the issuing server). */
  async readLog(): Promise<string[]> {
    const { logLength } = await this.status();
    const entries: string[] = [];
    for (let index = 0; index < logLength; index++) {
      const data = await this.send("READ LOG", {
        cla: Cla.proprietary,
        ins: Ins.readLog,
        p1: index >> 8,
        p2: index & 0xff,
        expectData: true,
      });
      entries.push(Buffer.from(data).toString("ascii"));
    }
    return entries;
  }

  /** LOG HEAD: the card's signed counters over the server's challenge. */
  async logHead(challenge: Uint8Array): Promise<string> {
    const data = await this.send("LOG HEAD", { cla: Cla.proprietary, ins: Ins.logHead, data: challenge, expectData: true });
    return Buffer.from(data).toString("ascii");
  }

  /** RELOAD with a command the issuing server signed; returns the card's signed receipt. */
  async reload(command: string): Promise<string> {
    const data = await this.send("RELOAD", {
      cla: Cla.proprietary,
      ins: Ins.reload,
      data: new Uint8Array(Buffer.from(command, "ascii")),
      expectData: true,
    });
    return Buffer.from(data).toString("ascii");
  }

  /** SYNC with the issuing server's signed acknowledgment of the log; returns the card's receipt. */
  async sync(command: string): Promise<string> {
    const data = await this.send("SYNC", {
      cla: Cla.proprietary,
      ins: Ins.sync,
      data: new Uint8Array(Buffer.from(command, "ascii")),
      expectData: true,
    });
    return Buffer.from(data).toString("ascii");
  }
}

export interface CardPaymentInput {
  readonly offer: Offer;
  readonly pin: string;
  readonly clock: Clock;
  readonly ttlMs?: number;
}

/**
 * A whole offline payment on a card, as the wallet makes it once the user agreed and typed the
 * PIN: SELECT, GET DATA (user and issuer), VERIFY, PAY. Returns message 3 for the merchant.
 */
export async function payWithCard(card: CardClient, input: CardPaymentInput): Promise<Acknowledgment> {
  await card.select();
  const status = await card.status();
  await card.verifyPin(input.pin);
  const request = createCardPaymentRequest({
    offer: input.offer,
    user: status.user,
    issuer: status.issuer,
    clock: input.clock,
    ...(input.ttlMs !== undefined && { ttlMs: input.ttlMs }),
  });
  return card.pay(request);
}

/** What the wallet uploads to the issuing server: the log and the signed head over its challenge. */
export interface LogUpload {
  readonly card: PartyId<"card">;
  readonly chain: readonly string[];
  readonly entries: readonly string[];
  readonly head: string;
}

export async function readLogForSync(card: CardClient, challenge: Uint8Array): Promise<LogUpload> {
  await card.select();
  const status = await card.status();
  const chain = await card.certificateChain();
  const entries = await card.readLog();
  const head = await card.logHead(challenge);
  return { card: status.card, chain, entries, head };
}
