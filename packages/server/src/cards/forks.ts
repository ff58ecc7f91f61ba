/**
 * What the card desk checks beyond a card's log for the devices that can be copied or rolled
 * back — PC stores above all (docs/pc-store.md), though the checks hold for any card:
 *
 * - a **fork**: an uploaded entry at a counter already recorded whose body differs from the one
 *   recorded — two devices signing with the same key from the same state (a store's files
 *   copied to a second PC). Nothing of the upload is booked and the account is blocked;
 * - a **rollback**: a head showing fewer payments or fewer issuer commands than this desk has
 *   already seen from the device (its files restored from an older copy);
 * - the **assurance level** a PC store's certificate states bounds what it may hold or spend.
 */
import { decodeToken, type LogEntryBody, type LogHeadBody } from "@peage/card";
import { assuranceOf, defaultLimits, type AssuranceLevel, type AssuranceLimits } from "@peage/pcstore";
import { x509 } from "@peage/protocol";
import { HttpProblem } from "../problems.js";

export interface ForkProblem {
  readonly kind: "fork" | "rollback";
  readonly message: string;
  readonly counter?: number;
}

/** Entries the desk had recorded, by counter, against the same counters uploaded again. */
export function forksOf(
  recorded: ReadonlyMap<number, string>,
  uploaded: readonly LogEntryBody[],
  tokens: readonly unknown[],
): ForkProblem[] {
  const bodies = new Map<number, Buffer>();
  for (const token of tokens) {
    const decoded = decodeToken(token);
    const counter = (decoded?.body as { counter?: unknown } | undefined)?.counter;
    if (decoded && typeof counter === "number") bodies.set(counter, Buffer.from(decoded.bodyBytes));
  }
  const problems: ForkProblem[] = [];
  for (const entry of uploaded) {
    const before = decodeToken(recorded.get(entry.counter));
    const now = bodies.get(entry.counter);
    if (!before || !now || Buffer.from(before.bodyBytes).equals(now)) continue;
    problems.push({
      kind: "fork",
      counter: entry.counter,
      message: `counter ${entry.counter} was recorded for another payment: two devices sign with this key from one state (a copied store)`,
    });
  }
  return problems;
}

const restored = "its memory was restored from an older copy";

/** A head behind what the desk already saw from the device. */
export function rollbackOf(
  head: LogHeadBody | undefined,
  seen: { readonly syncedCounter: number; readonly cardSeq: number },
): ForkProblem[] {
  if (!head) return [];
  if (head.counter < seen.syncedCounter) {
    return [
      {
        kind: "rollback",
        message: `the device is at counter ${head.counter}, below the ${seen.syncedCounter} already recorded: ${restored}`,
      },
    ];
  }
  if (head.seq < seen.cardSeq) {
    return [
      {
        kind: "rollback",
        message: `the device applied ${head.seq} issuer commands, fewer than the ${seen.cardSeq} it had shown: ${restored}`,
      },
    ];
  }
  return [];
}

/** Refuses a registration asking more than the device's assurance level allows; undefined for a smart card. */
export function checkAssurance(
  leaf: string,
  asked: { readonly balance?: number; readonly ceiling?: number },
  limits: Readonly<Record<AssuranceLevel, AssuranceLimits>> = defaultLimits,
): AssuranceLevel | undefined {
  const level = assuranceOf(new x509.X509Certificate(Buffer.from(leaf, "base64")));
  if (!level) return undefined;
  const { maxBalance, maxCeiling } = limits[level];
  if ((asked.balance ?? 0) > maxBalance) {
    throw HttpProblem.of(
      "ERR_LIMIT_EXCEEDED",
      `a ${level} store holds at most ${maxBalance} minor units: register it with a smaller load`,
      { status: 422 },
    );
  }
  if ((asked.ceiling ?? 0) > maxCeiling) {
    throw HttpProblem.of(
      "ERR_LIMIT_EXCEEDED",
      `a ${level} store's ceiling is at most ${maxCeiling} minor units: register it with a lower ceiling`,
      { status: 422 },
    );
  }
  return level;
}
