/**
 * What the card's refusals mean to the program waiting for a payment: each ISO/IEC 7816-4 status
 * word the card answers (docs/card.md, "Status words"), by the code CardError gives it, becomes
 * the wallet error the merchant SDK already branches on, with a sentence saying what the user can do.
 */
import { CardError } from "@peage/card";
import { WalletError } from "../errors.js";

/** A card's refusal as a wallet error; other errors pass unchanged. */
export function fromCardError(error: unknown, mode?: "prepaid" | "postpaid"): unknown {
  if (!(error instanceof CardError)) return error;
  const tries = error.triesLeft;
  if (tries !== undefined) {
    return new WalletError(
      "ERR_DECLINED",
      `the card refused the PIN (${tries} tr${tries === 1 ? "y" : "ies"} left): nothing was paid`,
      403,
      false,
      { card: "wrong-pin", triesLeft: tries },
    );
  }
  switch (error.code) {
    case "ERR_CARD_PIN_BLOCKED":
      return new WalletError(
        "ERR_ACCOUNT_SUSPENDED",
        "the card's PIN is blocked after three wrong tries: the card pays no more and must be replaced",
        403,
        false,
        { card: "pin-blocked" },
      );
    case "ERR_CARD_CONDITIONS":
      return mode === "postpaid"
        ? new WalletError(
            "ERR_LIMIT_EXCEEDED",
            "the card's ceiling is reached: synchronise it with the payment server (peage card sync) to pay again",
            402,
            false,
            { card: "ceiling" },
          )
        : new WalletError(
            "ERR_INSUFFICIENT_FUNDS",
            "the card's balance does not cover the price: reload it at the payment server",
            402,
            false,
            { card: "balance" },
          );
    case "ERR_CARD_LOG_FULL":
      return new WalletError(
        "ERR_LIMIT_EXCEEDED",
        "the card's usage log is full: synchronise it with the payment server (peage card sync) to pay again",
        402,
        false,
        { card: "log-full" },
      );
    case "ERR_CARD_PIN_REQUIRED":
      return new WalletError(
        "ERR_DECLINED",
        "the card did not accept the consent (PIN not verified): nothing was paid",
        403,
        false,
        { card: "pin" },
      );
    case "ERR_CARD_WRONG_DATA":
      return new WalletError(
        "ERR_FORBIDDEN",
        "the card refused this offer (its publisher's chain, its date, or a user or server other than the card's): nothing was paid",
        403,
        false,
        { card: "refused" },
      );
    default:
      return new WalletError(
        "ERR_WALLET_UNAVAILABLE",
        `the card failed (${error.message}): nothing was paid; take the card out and put it back`,
        503,
        true,
        { card: "failed" },
      );
  }
}
