/**
 * The issuing server's check of a usage log uploaded from a card (READ LOG, then LOG HEAD over
 * the server's challenge): every entry signed by that card, counters continuing exactly from the
 * last one the server recorded, nothing repeated, and nothing cut off at the end (the signed head
 * names the card's last counter). The server records `entries` (each with its paymentId, price
 * and publisher), then sends SYNC up to `lastCounter` — only when `ok`; otherwise it keeps the
 * card's log where it is and investigates `problems`.
 */
import type { PartyId } from "@peage/protocol";
import { isLogEntryBody, type LogEntryBody, type LogHeadBody } from "../model.js";
import { decodeToken, verifyTokenSignature, type VerificationKey } from "../signed.js";
import { verifyLogHead } from "./commands.js";

export type LogProblemKind =
  /** Not a card log entry at all. */
  | "malformed"
  /** The signature does not verify under the card's key: altered or made by someone else. */
  | "forged"
  /** Signed by the card but naming another card. */
  | "foreign"
  /** A counter that appeared earlier in this upload. */
  | "duplicate"
  /** A counter below one already seen: the upload is not in counter order. */
  | "out-of-order"
  /** Counters missing between two entries, or between the last recorded one and the first uploaded. */
  | "gap"
  /** The card's signed head names a later counter than the last entry uploaded. */
  | "truncated"
  /** The head is missing, forged, for another card or another challenge, or contradicts the entries. */
  | "head";

export interface LogProblem {
  readonly kind: LogProblemKind;
  /** Position of the entry in the upload, when the problem is an entry's. */
  readonly index?: number;
  readonly counter?: number;
  /** For gaps and truncation: the missing counters, inclusive. */
  readonly missing?: readonly [number, number];
  readonly message: string;
}

export interface LogVerificationInput {
  readonly card: { readonly card: PartyId<"card"> } & VerificationKey;
  /** The tokens READ LOG returned, in the order read. */
  readonly entries: readonly unknown[];
  /** LOG HEAD's answer to `challenge`. */
  readonly head: unknown;
  readonly challenge: Uint8Array;
  /** The last counter the server already recorded for this card (0 if none). */
  readonly recordedUpTo: number;
}

export interface LogVerification {
  readonly ok: boolean;
  /** Valid entries not recorded yet, in counter order: what the server records. */
  readonly entries: readonly LogEntryBody[];
  /** Valid entries the server had already recorded (a sync that never reached the card). */
  readonly alreadyRecorded: readonly LogEntryBody[];
  /** The last counter covered by the upload; SYNC up to it once `ok`. */
  readonly lastCounter: number;
  readonly head?: LogHeadBody;
  readonly problems: readonly LogProblem[];
}

export async function verifyUploadedLog(input: LogVerificationInput): Promise<LogVerification> {
  const { fresh, alreadyRecorded, lastCounter, problems } = await checkEntries(input);
  const head = await verifyLogHead(input.head, input.card, input.challenge);
  const problem = head.ok
    ? headProblem(head.value, lastCounter, input.recordedUpTo)
    : { kind: "head" as const, message: `log head: ${head.error.message}` };
  if (problem) problems.push(problem);
  return {
    ok: problems.length === 0,
    entries: fresh,
    alreadyRecorded,
    lastCounter,
    ...(head.ok && { head: head.value }),
    problems,
  };
}

/**
 * Each uploaded entry: a log entry, signed by the card, of this card, once; those already recorded
 * set apart; the rest in counter order from the first not recorded, a gap reported but kept.
 */
async function checkEntries(input: LogVerificationInput) {
  const problems: LogProblem[] = [];
  const fresh: LogEntryBody[] = [];
  const alreadyRecorded: LogEntryBody[] = [];
  const seen = new Set<number>();
  let expected = input.recordedUpTo + 1;
  for (const [index, token] of input.entries.entries()) {
    const decoded = decodeToken(token);
    if (!decoded || !isLogEntryBody(decoded.body)) {
      problems.push({ kind: "malformed", index, message: `entry #${index} is not a card log entry` });
      continue;
    }
    const entry = decoded.body;
    if (!(await verifyTokenSignature(decoded, input.card))) {
      problems.push({
        kind: "forged",
        index,
        counter: entry.counter,
        message: `entry #${index} (counter ${entry.counter}) is not signed by ${input.card.card}`,
      });
      continue;
    }
    if (entry.card !== input.card.card) {
      problems.push({ kind: "foreign", index, counter: entry.counter, message: `entry #${index} belongs to ${entry.card}` });
      continue;
    }
    if (seen.has(entry.counter)) {
      problems.push({ kind: "duplicate", index, counter: entry.counter, message: `counter ${entry.counter} appears twice` });
      continue;
    }
    seen.add(entry.counter);
    if (entry.counter <= input.recordedUpTo) {
      alreadyRecorded.push(entry);
      continue;
    }
    if (entry.counter < expected) {
      problems.push({
        kind: "out-of-order",
        index,
        counter: entry.counter,
        message: `counter ${entry.counter} comes after ${expected - 1}`,
      });
      continue;
    }
    if (entry.counter > expected) {
      problems.push({
        kind: "gap",
        index,
        counter: entry.counter,
        missing: [expected, entry.counter - 1],
        message: `counters ${expected}..${entry.counter - 1} are missing`,
      });
    }
    fresh.push(entry);
    expected = entry.counter + 1;
  }

  return { fresh, alreadyRecorded, lastCounter: expected - 1, problems };
}

/** The signed head against the upload: the card is at the last counter uploaded, and holds every counter not recorded. */
function headProblem(head: LogHeadBody, lastCounter: number, recordedUpTo: number): LogProblem | undefined {
  if (head.counter > lastCounter) {
    return {
      kind: "truncated",
      missing: [lastCounter + 1, head.counter],
      message: `the card is at counter ${head.counter}, the upload stops at ${lastCounter}`,
    };
  }
  if (head.counter < lastCounter) {
    return { kind: "head", message: `the card's head names counter ${head.counter}, below the uploaded ${lastCounter}` };
  }
  if (head.first > recordedUpTo + 1) {
    return {
      kind: "gap",
      missing: [recordedUpTo + 1, head.first - 1],
      message: `the card no longer holds counters ${recordedUpTo + 1}..${head.first - 1}, never recorded`,
    };
  }
  return undefined;
}
