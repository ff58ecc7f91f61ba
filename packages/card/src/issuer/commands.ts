/**
 * What the issuing payment server signs for its cards, and how it reads what they sign back:
 * RELOAD (claim 8) credits a prepaid card, SYNC acknowledges an uploaded log (claim 10). Each
 * command names one card and carries that card's command sequence number, which the card
 * increments as it applies one: a command replayed, applied out of order or made for another
 * card is refused (docs/card.md, "Issuer commands"). Pure functions: the server calls them.
 */
import { randomBytes } from "node:crypto";
import {
  fail,
  isPartyId,
  minorUnits,
  newId,
  ok,
  parseCurrency,
  type KeyPair,
  type PartyId,
  type Price,
  type Result,
} from "@peage/protocol";
import {
  CARD_VERSION,
  isCounter,
  isLogHeadBody,
  isReceiptBody,
  isRevokedList,
  MAX_REVOKED,
  type CertificateId,
  type LogHeadBody,
  type ReceiptBody,
  type ReloadBody,
  type SyncBody,
} from "../model.js";
import { decodeToken, signToken, verifyTokenSignature, type VerificationKey } from "../signed.js";
import { commandKeyOf, type CardIssuer } from "./certificates.js";

export interface ReloadCommandInput {
  readonly issuer: CardIssuer | KeyPair;
  readonly card: PartyId<"card">;
  /** The card's current seq (its status, or its last receipt's seq + 1). */
  readonly seq: number;
  readonly amount: Price;
  /** The server's reference of the reload; a random one if absent. */
  readonly id?: string;
}

function keyOf(issuer: CardIssuer | KeyPair): KeyPair {
  return "privateKey" in issuer ? issuer : commandKeyOf(issuer);
}

export async function createReloadCommand(input: ReloadCommandInput): Promise<string> {
  if (!isPartyId(input.card, "card")) throw new TypeError(`${String(input.card)} is not a card identity`);
  if (!isCounter(input.seq)) throw new RangeError("seq must be a counter");
  const amount = { amount: minorUnits(input.amount.amount), currency: parseCurrency(input.amount.currency) };
  if (amount.amount <= 0) throw new RangeError("a reload credits a positive amount");
  const body: ReloadBody = {
    type: "peage.card-reload",
    v: CARD_VERSION,
    card: input.card,
    seq: input.seq,
    id: input.id ?? newId("rl"),
    amount,
  };
  return signToken(body, keyOf(input.issuer));
}

export interface SyncCommandInput {
  readonly issuer: CardIssuer | KeyPair;
  readonly card: PartyId<"card">;
  readonly seq: number;
  /** The last counter the server has recorded from the card's log (verifyUploadedLog's lastCounter). */
  readonly upTo: number;
  /** Postpaid: a new ceiling. */
  readonly ceiling?: number;
  /** The revoked publisher certificates the card must refuse (revokedListForCards); absent: the card's list is kept. */
  readonly revoked?: readonly CertificateId[];
  readonly id?: string;
}

export async function createSyncCommand(input: SyncCommandInput): Promise<string> {
  if (!isPartyId(input.card, "card")) throw new TypeError(`${String(input.card)} is not a card identity`);
  if (!isCounter(input.seq) || !isCounter(input.upTo)) throw new RangeError("seq and upTo must be counters");
  const body: SyncBody = {
    type: "peage.card-sync",
    v: CARD_VERSION,
    card: input.card,
    seq: input.seq,
    id: input.id ?? newId("sy"),
    upTo: input.upTo,
    ...(input.ceiling !== undefined && { ceiling: minorUnits(input.ceiling) }),
    ...(input.revoked !== undefined && { revoked: [...input.revoked] }),
  };
  if (input.revoked !== undefined && !isRevokedList(body.revoked)) {
    throw new RangeError(`revoked must be at most ${MAX_REVOKED} certificate identities`);
  }
  return signToken(body, keyOf(input.issuer));
}

/** A fresh challenge for LOG HEAD: 32 random bytes. */
export function newChallenge(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/** Checks the card's receipt for a command: its signature, the card, and the command it answers. */
export async function verifyReceipt(
  token: unknown,
  card: { readonly card: PartyId<"card"> } & VerificationKey,
  expected?: { readonly id: string; readonly seq: number },
): Promise<Result<ReceiptBody>> {
  const decoded = decodeToken(token);
  if (!decoded || !isReceiptBody(decoded.body)) return fail("ERR_MALFORMED", "not a card receipt");
  if (!(await verifyTokenSignature(decoded, card))) return fail("ERR_BAD_SIGNATURE", "the receipt is not signed by the card");
  const body = decoded.body;
  if (body.card !== card.card) return fail("ERR_IDENTITY_MISMATCH", `the receipt is from ${body.card}, not ${card.card}`);
  if (expected && (body.id !== expected.id || body.seq !== expected.seq))
    return fail("ERR_NONCE_MISMATCH", "the receipt answers another command");
  return ok(body);
}

/** Checks a signed log head: the card's signature over the server's challenge. */
export async function verifyLogHead(
  token: unknown,
  card: { readonly card: PartyId<"card"> } & VerificationKey,
  challenge: Uint8Array,
): Promise<Result<LogHeadBody>> {
  const decoded = decodeToken(token);
  if (!decoded || !isLogHeadBody(decoded.body)) return fail("ERR_MALFORMED", "not a card log head");
  if (!(await verifyTokenSignature(decoded, card))) return fail("ERR_BAD_SIGNATURE", "the log head is not signed by the card");
  const body = decoded.body;
  if (body.card !== card.card) return fail("ERR_IDENTITY_MISMATCH", `the log head is from ${body.card}, not ${card.card}`);
  if (body.challenge !== Buffer.from(challenge).toString("base64url"))
    return fail("ERR_NONCE_MISMATCH", "the log head answers another challenge (replayed)");
  return ok(body);
}
