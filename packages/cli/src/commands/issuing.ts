/**
 * What `peage card issue` and `peage pcstore init` share at the issuing server's desk: the holder's
 * options (user, PIN, mode, currency, purse), the device's identity, the PKI that must hold a card
 * issuer, the registration for `peage card register`, the operator's API key file, and the lines
 * `status` prints of a card's or a store's purse. A card and a PC store are the same applet, so
 * one reading of their options and their state serves both.
 */
import { randomBytes } from "node:crypto";
import { formatPrice, partyId, readPkiDir, type PartyId, type Price } from "@peage/protocol";
import type { CardStatus } from "@peage/card";
import type { Options } from "../args.js";
import { CommandError } from "../errors.js";
import { readInput } from "../files.js";
import { parseIdentity } from "../values.js";

/** The most a purse or a ceiling may hold on the command line, minor units. */
const MAX_AMOUNT = 1_000_000_000;

/** --pki and --mode, the same for a card and a store. */
export const pkiOption = {
  type: "string",
  value: "DIR",
  description: "the PKI directory holding the card issuer (card-issuer.crt/.key) and root.crt",
} as const;
export const modeOption = {
  type: "string",
  value: "prepaid|postpaid",
  description: "prepaid: pays from a balance; postpaid: up to a ceiling between syncs",
} as const;

/** A prepaid balance, or a postpaid ceiling with its deposit (claim 10). */
export type Purse = { balance?: number; ceiling?: number; deposit?: number };

/** Who holds the device and what it may spend, from --user, --pin, --mode, --currency and the purse's options. */
export interface Holder {
  readonly user: PartyId<"user">;
  readonly pin: string;
  readonly mode: "prepaid" | "postpaid";
  readonly currency: string;
  readonly amounts: Purse;
}

export async function parseHolder(o: Options): Promise<Holder> {
  const user = parseIdentity(o, "user", o.required("user", "URN"), "user");
  const pin = o.required("pin", "NNNN");
  if (!/^\d{4,12}$/.test(pin)) throw o.usage("--pin must be 4 to 12 digits");
  const mode = o.choice("mode", ["prepaid", "postpaid"] as const);
  if (mode === undefined) throw o.usage("--mode prepaid|postpaid is required");
  const currency = o.required("currency", "CODE");
  const amounts = purse(o, mode, (await import("@peage/card")).minimumDeposit);
  return { user, pin, mode, currency, amounts };
}

/** --card, or the user's name with `infix` and a random suffix ("alice-1f2e3d4c", "alice-pc-1f2e3d4c"). */
export function deviceIdentity(o: Options, user: PartyId<"user">, infix: string): PartyId<"card"> {
  const text = o.string("card");
  if (text !== undefined) return parseIdentity(o, "card", text, "card");
  return partyId("card", `${user.split(":")[3]}-${infix}${randomBytes(4).toString("hex")}`);
}

export function purse(o: Options, mode: "prepaid" | "postpaid", minimumDeposit: (ceiling: number) => number): Purse {
  const balance = o.integer("balance", 0, MAX_AMOUNT);
  const ceiling = o.integer("ceiling", 0, MAX_AMOUNT);
  const deposit = o.integer("deposit", 0, MAX_AMOUNT);
  if (mode === "prepaid") {
    if (ceiling !== undefined || deposit !== undefined)
      throw o.usage("a prepaid card has a --balance, not a --ceiling or --deposit");
    if (balance === undefined) throw o.usage("--balance N is required for a prepaid card (0 for an empty one)");
    return { balance };
  }
  if (balance !== undefined) throw o.usage("a postpaid card has a --ceiling and a --deposit, not a --balance");
  if (ceiling === undefined) throw o.usage("--ceiling N is required for a postpaid card");
  if (deposit === undefined || deposit < minimumDeposit(ceiling)) {
    const least = minimumDeposit(ceiling);
    throw o.usage(
      `--deposit must be greater than --ceiling (claim 10): give --deposit ${least} at least for --ceiling ${ceiling}`,
    );
  }
  return { ceiling, deposit };
}

export async function loadPki(dir: string): Promise<Awaited<ReturnType<typeof readPkiDir>>> {
  try {
    return await readPkiDir(dir);
  } catch (cause) {
    throw new CommandError("ERR_PKI", `--pki ${dir} is not a readable PKI directory: ${(cause as Error).message}`);
  }
}

/** The PKI of --pki, which must hold a card issuer to certify the device. */
export async function loadIssuingPki(dir: string) {
  const pki = await loadPki(dir);
  if (!pki.cardIssuer)
    throw new CommandError(
      "ERR_NO_CARD_ISSUER",
      `${dir} holds no card issuer: make the PKI with \`peage pki init --card-issuer\``,
    );
  return { ...pki, cardIssuer: pki.cardIssuer };
}

export async function readApiKey(path: string): Promise<string> {
  const secret = (await readInput(path, "--api-key")).split(/\r?\n/)[0]!.trim();
  if (secret === "") throw new CommandError("ERR_API_KEY", `--api-key ${path} is empty: it must hold an operator API key`);
  return secret;
}

/** The status lines of user, issuer, purse, counter and log, as `card status` and `pcstore status` print them. */
export function purseLines(s: CardStatus): string[] {
  const money = (amount: number | undefined) => formatPrice({ amount: amount ?? 0, currency: s.currency } as Price);
  return [
    `  user        ${s.user}`,
    `  issuer      ${s.issuer}`,
    s.mode === "prepaid"
      ? `  prepaid     balance ${money(s.balance)}`
      : `  postpaid    ceiling ${money(s.ceiling)}, used ${money(s.used)} since the last sync`,
    `  counter     ${s.counter} (issuer commands applied: ${s.seq})`,
    `  log         ${s.logLength} of ${s.logCapacity} entries`,
  ];
}

/** The PIN tries left, or "blocked". */
export function pinLine(triesLeft: number): string {
  return `  PIN         ${triesLeft === 0 ? "blocked" : `${triesLeft} tr${triesLeft === 1 ? "y" : "ies"} left`}`;
}
