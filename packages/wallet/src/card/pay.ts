/**
 * Paying an offer with the user's card (patent claims 3-7): the card's status is read first
 * without the PIN (can it pay this at all?), then — once the user said yes — the PIN is asked
 * and the card VERIFYs it, checks the publisher's signature, debits its purse, logs the payment
 * and signs message 3 itself. The wallet verifies that acknowledgment as the merchant will:
 * a card chain through its issuing payment server to a trusted root, for this very offer.
 */
import { CardError, createCardPaymentRequest, type CardStatus } from "@peage/card";
import {
  verifyAcknowledgment,
  type Acknowledgment,
  type Clock,
  type Offer,
  type TrustStore,
  type VerifiedAcknowledgment,
} from "@peage/protocol";
import { fromVerification, WalletError } from "../errors.js";
import { fromCardError } from "./errors.js";
import type { CardSessions } from "./reader.js";

/** The card's public status (GET DATA DF01), read without the PIN. */
export async function readCardStatus(sessions: CardSessions): Promise<CardStatus> {
  return sessions.session(async (card) => {
    await card.select();
    return card.status();
  });
}

/** Why the card cannot pay this offer, before anyone is asked; undefined when it can try. */
export function cardRefusal(status: CardStatus, offer: Offer): WalletError | undefined {
  const amount = offer.terms.price.amount;
  if (status.pinTriesLeft === 0) return fromCardError(new CardError(0x6983, "VERIFY")) as WalletError;
  if (status.logLength >= status.logCapacity) return fromCardError(new CardError(0x6a84, "PAY")) as WalletError;
  if (status.mode === "prepaid" && (status.balance ?? 0) < amount) {
    return new WalletError(
      "ERR_INSUFFICIENT_FUNDS",
      `the card's balance (${status.balance ?? 0} minor units) does not cover the price: reload it at the payment server`,
      402,
      false,
      {
        card: "balance",
      },
    );
  }
  if (status.mode === "postpaid" && (status.used ?? 0) + amount > (status.ceiling ?? 0)) {
    return fromCardError(new CardError(0x6985, "PAY"), "postpaid") as WalletError;
  }
  return undefined;
}

export interface PinAsk {
  readonly card: string;
  readonly triesLeft: number;
  readonly retry: boolean;
}

export interface CardPaymentInput {
  readonly sessions: CardSessions;
  /** The status read before asking (its user, issuer, mode and tries left). */
  readonly status: CardStatus;
  readonly offer: Offer;
  readonly clock: Clock;
  readonly trust: TrustStore;
  /** Asks the user for the PIN; undefined is "no PIN": nothing is paid. */
  readonly askPin: (ask: PinAsk) => Promise<string | undefined>;
  readonly signal?: AbortSignal;
}

export interface CardPaymentResult {
  readonly acknowledgment: Acknowledgment;
  readonly verified: VerifiedAcknowledgment;
}

/**
 * Asks the PIN and has the card pay, asking again after a wrong PIN while the card allows it;
 * then verifies message 3. A response lost between card and wallet is asked again: the card
 * answers a payment it already made with the same acknowledgment, without debiting again.
 */
export async function payByCard(input: CardPaymentInput): Promise<CardPaymentResult> {
  const { status, offer } = input;
  let triesLeft = status.pinTriesLeft;
  let retry = false;
  let acknowledgment: Acknowledgment | undefined;
  while (acknowledgment === undefined) {
    const pin = await input.askPin({ card: status.card, triesLeft, retry });
    if (pin === undefined)
      throw new WalletError("ERR_DECLINED", "no PIN was given for the card: nothing was paid", 403, false, { card: "no-pin" });
    if (input.signal?.aborted)
      throw new WalletError("ERR_TIMEOUT", "the program stopped waiting for this payment; nothing was paid", 408, true);
    try {
      acknowledgment = await payOnce(input, pin);
    } catch (error) {
      if (error instanceof CardError && error.triesLeft !== undefined) {
        if (error.triesLeft === 0) {
          throw new WalletError(
            "ERR_ACCOUNT_SUSPENDED",
            "the third wrong PIN blocked the card: it pays no more and must be replaced; nothing was paid",
            403,
            false,
            {
              card: "pin-blocked",
            },
          );
        }
        triesLeft = error.triesLeft;
        retry = true;
        continue;
      }
      throw fromCardError(error, status.mode);
    }
  }
  const checked = await verifyAcknowledgment(acknowledgment, offer, {
    trust: input.trust,
    clock: input.clock,
    server: status.issuer,
  });
  if (!checked.ok)
    throw fromVerification(checked.error, "the card's acknowledgment does not verify; the card may be faulty or forged", 502);
  if (checked.value.card?.card !== status.card || checked.value.claims.user !== status.user) {
    throw new WalletError(
      "ERR_IDENTITY_MISMATCH",
      `the acknowledgment is not the card's (${status.card}) for its user ${status.user}`,
      502,
      false,
    );
  }
  return { acknowledgment, verified: checked.value };
}

/** One session: SELECT, VERIFY, PAY; once more if the session broke without a card's answer. */
async function payOnce(input: CardPaymentInput, pin: string): Promise<Acknowledgment> {
  const attempt = () =>
    input.sessions.session(async (card) => {
      await card.select();
      const status = await card.status();
      if (status.card !== input.status.card)
        throw new WalletError("ERR_CONFLICT", "another card was put in the reader: nothing was paid", 409, false);
      await card.verifyPin(pin);
      const request = createCardPaymentRequest({
        offer: input.offer,
        user: status.user,
        issuer: status.issuer,
        clock: input.clock,
      });
      return card.pay(request);
    });
  try {
    return await attempt();
  } catch (error) {
    if (error instanceof CardError || error instanceof WalletError) throw error;
    return attempt();
  }
}
