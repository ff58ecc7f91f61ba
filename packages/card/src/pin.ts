/**
 * The PIN's reference data: the card keeps HMAC-SHA-256(salt, PIN), never the PIN, and compares
 * in constant time. The salt is per card. A 4-12 digit PIN is guessable from this value by anyone
 * who can read the card's memory, as from any card's EEPROM: what protects it is that nobody
 * can (a chip's protected memory, or the emulator's 0600 files), and the retry counter.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** ASCII digits, 4 to 12 of them (ISO 9564-1 PIN lengths). */
export const PIN_PATTERN = /^[0-9]{4,12}$/;

export function isPinFormat(pin: string): boolean {
  return PIN_PATTERN.test(pin);
}

export function pinReference(pin: string): { salt: string; hmac: string } {
  if (!isPinFormat(pin)) throw new TypeError("a PIN is 4 to 12 digits");
  const salt = randomBytes(16);
  return { salt: salt.toString("base64url"), hmac: createHmac("sha256", salt).update(pin, "ascii").digest("base64url") };
}

export function pinMatches(reference: { salt: string; hmac: string }, candidate: Uint8Array): boolean {
  const expected = Buffer.from(reference.hmac, "base64url");
  const actual = createHmac("sha256", Buffer.from(reference.salt, "base64url")).update(candidate).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
