/**
 * The codes of every card error, so that a program branches on `code` (as it does for protocol's
 * and the wallet's errors) rather than on a class or a status word. A card's refusal (CardError)
 * gets its code from the status word it answered (docs/card.md, "Status words"); the other codes
 * are the failures around the card: its memory, its transport, the PC/SC binding.
 */

/** What a card's refusal means, from its ISO/IEC 7816-4 status word. */
export const CardRefusalCodes = [
  /** 63CX: a wrong PIN; X tries are left. */
  "ERR_CARD_WRONG_PIN",
  /** 6983: the PIN is blocked after too many wrong tries; the card pays no more. */
  "ERR_CARD_PIN_BLOCKED",
  /** 6982: the command needs the PIN verified first. */
  "ERR_CARD_PIN_REQUIRED",
  /** 6985: the balance or the ceiling does not allow it (or the card is not in the right state). */
  "ERR_CARD_CONDITIONS",
  /** 6A84: the usage log is full: synchronise the card. */
  "ERR_CARD_LOG_FULL",
  /** 6A80: the data were refused (a chain, a date, a party other than the card's). */
  "ERR_CARD_WRONG_DATA",
  /** 6A82, 6A83, 6A88: no such application, record or data. */
  "ERR_CARD_NOT_FOUND",
  /** 6581: the card's memory failed. */
  "ERR_CARD_MEMORY_FAILURE",
  /** 6700, 6A86, 6881-6884, 6D00, 6E00: the card does not support the command as sent. */
  "ERR_CARD_UNSUPPORTED",
  /** Any other status word. */
  "ERR_CARD_REFUSED",
] as const;
export type CardRefusalCode = (typeof CardRefusalCodes)[number];

/** Every code a card error carries. */
export const CardErrorCodes = [
  ...CardRefusalCodes,
  /** The transport or the card broke the APDU rules (CardProtocolError). */
  "ERR_CARD_PROTOCOL",
  /** A TLV that cannot be encoded or decoded (TlvError). */
  "ERR_TLV",
  /** The card's memory could not be read back into a consistent state (CardMemoryError). */
  "ERR_CARD_MEMORY",
  /** A test medium cut the power mid-write (PowerLoss). */
  "ERR_POWER_LOSS",
  /** The optional PC/SC binding is not installed (PcscUnavailableError). */
  "ERR_PCSC_UNAVAILABLE",
  /** The card in the reader changed between two commands of one session. */
  "ERR_CARD_SWAPPED",
] as const;
export type CardErrorCode = (typeof CardErrorCodes)[number];
