/**
 * The character set of SEPA messages. EPC implementation guidelines (EPC132-08 and EPC130-08,
 * §1.4 "Character set") allow only the Latin characters
 *
 *   a-z A-Z 0-9 / - ? : ( ) . , ' + and space
 *
 * Free text (names, remittance information) is transliterated into that set where there is an
 * obvious equivalent (accents dropped, ligatures spelled out, typographic punctuation simplified)
 * and refused otherwise. Identifiers are never transliterated: they must already be in the set.
 */
import { FieldProblem } from "./errors.js";

const LATIN_CHAR = /^[A-Za-z0-9/\-?:().,'+ ]$/;

/** Replacements for characters that Unicode decomposition does not reduce to Latin letters. */
const TRANSLITERATIONS: ReadonlyMap<string, string> = new Map([
  ["ß", "ss"],
  ["ẞ", "SS"],
  ["Æ", "AE"],
  ["æ", "ae"],
  ["Œ", "OE"],
  ["œ", "oe"],
  ["Ø", "O"],
  ["ø", "o"],
  ["Ł", "L"],
  ["ł", "l"],
  ["Đ", "D"],
  ["đ", "d"],
  ["Ð", "D"],
  ["ð", "d"],
  ["Þ", "TH"],
  ["þ", "th"],
  ["Ħ", "H"],
  ["ħ", "h"],
  ["ı", "i"],
  ["Ŀ", "L"],
  ["ŀ", "l"],
  ["Ŋ", "N"],
  ["ŋ", "n"],
  ["ſ", "s"],
  ["ĸ", "k"],
  ["&", "+"],
  ["_", "-"],
  ['"', "'"],
  ["\u2018", "'"],
  ["\u2019", "'"],
  ["\u201A", "'"],
  ["\u201B", "'"],
  ["\u2032", "'"],
  ["`", "'"],
  ["\u00B4", "'"],
  ["\u201C", "'"],
  ["\u201D", "'"],
  ["\u201E", "'"],
  ["\u00AB", "'"],
  ["\u00BB", "'"],
  ["\u2010", "-"],
  ["\u2011", "-"],
  ["\u2012", "-"],
  ["\u2013", "-"],
  ["\u2014", "-"],
  ["\u2212", "-"],
  ["\u2026", "..."],
]);

/** Combining diacritical marks, left over by NFD decomposition of accented letters. */
const COMBINING_MARK = /^[\u0300-\u036F]$/;

/**
 * Transliterates `value` into the EPC Latin set, or returns the first character that has no
 * equivalent. White space runs (tabs, new lines, no-break spaces) become one space; the result is trimmed.
 */
export function toLatin(value: string): { ok: true; text: string } | { ok: false; char: string } {
  let out = "";
  // NFC first, so that a letter typed as base + combining accent is seen as one accented letter.
  for (const char of value.normalize("NFC").replace(/\s+/g, " ")) {
    if (LATIN_CHAR.test(char)) {
      out += char;
      continue;
    }
    // A combining accent left over (no precomposed letter exists) is dropped, as accents are.
    if (COMBINING_MARK.test(char)) continue;
    const mapped = TRANSLITERATIONS.get(char);
    if (mapped !== undefined) {
      out += mapped;
      continue;
    }
    const base = [...char.normalize("NFD")].filter((c) => !COMBINING_MARK.test(c)).join("");
    if (base.length > 0 && [...base].every((c) => LATIN_CHAR.test(c))) {
      out += base;
      continue;
    }
    return { ok: false, char };
  }
  return { ok: true, text: out.trim() };
}

export function describeChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return `${JSON.stringify(char)} (U+${code.toString(16).toUpperCase().padStart(4, "0")})`;
}

/**
 * A free-text field for a bank file: transliterated into the Latin set, 1 to `maxLength`
 * characters after transliteration. Throws a FieldProblem naming `field`.
 */
export function sepaText(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== "string") throw new FieldProblem("ERR_BANK_TEXT", field, "must be a string");
  const latin = toLatin(value);
  if (!latin.ok) {
    throw new FieldProblem(
      "ERR_BANK_TEXT",
      field,
      `character ${describeChar(latin.char)} is outside the SEPA Latin character set (a-z A-Z 0-9 / - ? : ( ) . , ' + space) and has no transliteration`,
    );
  }
  if (latin.text.length === 0) throw new FieldProblem("ERR_BANK_TEXT", field, "must not be empty");
  if (latin.text.length > maxLength) {
    throw new FieldProblem("ERR_BANK_LENGTH", field, `is ${latin.text.length} characters long, at most ${maxLength} are allowed`);
  }
  return latin.text;
}

/**
 * An identifier (MsgId, EndToEndId, MndtId…): 1 to `maxLength` characters of the Latin set
 * without spaces, not starting or ending with "/" and without "//" (EPC rule for references).
 * Never transliterated: an identifier is matched by the bank and by Péage exactly as written.
 */
export function sepaIdentifier(value: unknown, field: string, maxLength = 35): string {
  if (typeof value !== "string") throw new FieldProblem("ERR_BANK_IDENTIFIER", field, "must be a string");
  if (value.length === 0) throw new FieldProblem("ERR_BANK_IDENTIFIER", field, "must not be empty");
  for (const char of value) {
    if (char === " " || !LATIN_CHAR.test(char)) {
      throw new FieldProblem(
        "ERR_BANK_IDENTIFIER",
        field,
        `character ${describeChar(char)} is not allowed in an identifier (a-z A-Z 0-9 / - ? : ( ) . , ' +)`,
      );
    }
  }
  if (value.length > maxLength) {
    throw new FieldProblem("ERR_BANK_LENGTH", field, `is ${value.length} characters long, at most ${maxLength} are allowed`);
  }
  if (value.startsWith("/") || value.endsWith("/") || value.includes("//")) {
    throw new FieldProblem("ERR_BANK_IDENTIFIER", field, `must not start or end with "/" nor contain "//"`);
  }
  return value;
}

/** Free text that may be empty (then `undefined`: the element is left out), otherwise as sepaText. */
export function optionalSepaText(value: unknown, field: string, maxLength: number): string | undefined {
  if (typeof value === "string") {
    const latin = toLatin(value);
    if (latin.ok && latin.text.length === 0) return undefined;
  }
  return sepaText(value, field, maxLength);
}
