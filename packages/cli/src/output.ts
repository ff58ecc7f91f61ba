/**
 * Standard output is the command's result and nothing else, so that `--json` output can be piped
 * straight into another program; notes and warnings go to standard error.
 *
 * Files under inspection come from anywhere: before anything from them reaches a terminal,
 * control characters (which can move the cursor or rewrite earlier lines) and bidirectional
 * overrides (which display text in another order, Unicode TR #9) are written as \uXXXX escapes.
 */

const unsafe = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** The text with every character that could change how it displays escaped as \uXXXX. */
export function printable(text: string): string {
  return text.replace(unsafe, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Writes lines of human output to stdout. */
export function print(...lines: string[]): void {
  process.stdout.write(`${lines.map((line) => printable(line.replaceAll("\n", " "))).join("\n")}\n`);
}

/** Writes one JSON document to stdout. The escapes keep it valid JSON with the same value. */
export function printJson(value: unknown): void {
  process.stdout.write(`${printable(JSON.stringify(value, null, 2))}\n`);
}

/** Writes one JSON document on a single line: an event a parent process reads line by line. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${printable(JSON.stringify(value))}\n`);
}

/** A note or warning for the reader, on stderr. */
export function warn(message: string): void {
  process.stderr.write(`warning: ${printable(message)}\n`);
}

/** Something the reader should know about a result (what was not checked), on stderr. */
export function note(message: string): void {
  process.stderr.write(`note: ${printable(message)}\n`);
}

/** A line on stderr (the failure line of a command). */
export function printError(line: string): void {
  process.stderr.write(`${printable(line.replaceAll("\n", " "))}\n`);
}
