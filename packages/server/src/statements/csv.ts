/**
 * CSV as RFC 4180 writes it: a header row, CRLF after every record, every field in double quotes
 * with inner quotes doubled. A field starting with = + - @ (or their full-width forms), also after white space (spreadsheets
 * skip leading spaces, tabs, no-break and other Unicode spaces before reading a formula), or
 * starting with any control character, gets a leading apostrophe, so that a spreadsheet shows it
 * as text instead of running it as a formula (CSV injection, OWASP).
 */

const FORMULA_START = /^(?:[\s\u200B-\u200D\u2060]*[=+\-@\uFF0B\uFF1D\uFF0D\uFF20]|[\u0000-\u001F\u007F])/u;

export function csvField(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function csvRecord(fields: readonly string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

export function csvDocument(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [header, ...rows].map(csvRecord).join("");
}
