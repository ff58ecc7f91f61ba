/**
 * JSON as Péage reads it (I-JSON, RFC 7493 §2.3): a document with two members of the same name in
 * one object is refused. JSON.parse keeps the last value, other parsers keep the first, so a
 * duplicate `typ` or `nonce` would let two programs read two different messages from the same
 * bytes. Every message, JWS protected header and request body is read through parseStrictJson.
 *
 * The grammar is JSON.parse's (V8's, strict RFC 8259); this module only walks the text it
 * accepted to compare member names. Node 20's JSON.parse gives no access to the source text of
 * each member, which is why the names are found here. The error names the member and where its
 * object is (a JSON Pointer, RFC 6901), so a refused request body says what to fix.
 */
import type { ProtocolErrorCode } from "./errors.js";

/**
 * Why a text is not strict JSON: `offset` is where the problem is, in UTF-16 code units. The one
 * protocol error that is not a PeageError: it stays a SyntaxError, as JSON.parse's own errors are,
 * so that code catching those catches this too; it carries a protocol code all the same.
 */
export class StrictJsonError extends SyntaxError {
  override readonly name: string = "StrictJsonError";
  readonly code: Extract<ProtocolErrorCode, "ERR_INVALID_JSON" | "ERR_DUPLICATE_MEMBER"> = "ERR_INVALID_JSON";
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

/** A member named twice in one object: `pointer` (RFC 6901) locates the object, `member` is the name. */
export class DuplicateMemberError extends StrictJsonError {
  override readonly name: string = "DuplicateMemberError";
  constructor(
    readonly pointer: string,
    readonly member: string,
  ) {
    super(`member ${JSON.stringify(member)} appears twice in the object at ${pointer === "" ? "the top level" : pointer}`);
  }
  override readonly code = "ERR_DUPLICATE_MEMBER";
}

/** JSON.parse, refusing duplicate member names; throws StrictJsonError (a SyntaxError), DuplicateMemberError for a duplicate. */
export function parseStrictJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (cause) {
    throw new StrictJsonError((cause as Error).message);
  }
  assertNoDuplicateMembers(text);
  return value;
}

/** parseStrictJson, or undefined for text that is not strict JSON. */
export function tryParseStrictJson(text: string): unknown {
  try {
    return parseStrictJson(text);
  } catch {
    return undefined;
  }
}

interface Frame {
  readonly pointer: string;
  /** Member names seen so far (objects), or undefined (arrays). */
  readonly names: Set<string> | undefined;
  /** Arrays: index of the next element. */
  index: number;
  /** Objects: the name of the member whose value comes next. */
  member: string;
  /** Objects: true where the next string is a member name. */
  expectName: boolean;
}

const pointerToken = (name: string) => name.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * Just past the quote closing the string literal that opens at `start`: the first quote after it
 * that an even number of backslashes precedes. Searched with indexOf, not character by character,
 * since a request's strings are mostly kilobytes of base64 with no quote in them.
 */
function endOfString(text: string, start: number): number {
  let quote = text.indexOf('"', start + 1);
  while (quote !== -1) {
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    quote = text.indexOf('"', quote + 1);
  }
  return text.length + 1;
}

/**
 * Throws a DuplicateMemberError on the first object with two members of the same name, compared
 * after unescaping ("a" and "\u0061" are the same name). `text` must already be valid JSON.
 */
export function assertNoDuplicateMembers(text: string): void {
  const stack: Frame[] = [];
  const childPointer = (): string => {
    const top = stack[stack.length - 1];
    if (!top) return "";
    return `${top.pointer}/${top.names ? pointerToken(top.member) : String(top.index)}`;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = endOfString(text, i);
      const top = stack[stack.length - 1];
      if (top?.names && top.expectName) {
        const name = JSON.parse(text.slice(i, end)) as string;
        if (top.names.has(name)) throw new DuplicateMemberError(top.pointer, name);
        top.names.add(name);
        top.member = name;
        top.expectName = false;
      }
      i = end - 1;
    } else if (c === "{" || c === "[") {
      stack.push({
        pointer: childPointer(),
        names: c === "{" ? new Set() : undefined,
        index: 0,
        member: "",
        expectName: c === "{",
      });
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      const top = stack[stack.length - 1];
      if (top?.names) top.expectName = true;
      else if (top) top.index++;
    }
  }
}
