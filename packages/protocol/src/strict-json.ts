/**
 * JSON as Péage reads it (I-JSON, RFC 7493 §2.3): a document with two members of the same name in
 * one object is refused. JSON.parse keeps the last value, other parsers keep the first, so a
 * duplicate `typ` or `nonce` would let two programs read two different messages from the same
 * bytes. Every message, JWS protected header and request body is read through parseStrictJson.
 *
 * The grammar is JSON.parse's (V8's, strict RFC 8259); this module only walks the text it
 * accepted to compare member names. Node 20's JSON.parse gives no access to the source text of
 * each member, which is why the names are found here.
 */

/** Why a text is not strict JSON: `offset` is where the problem is, in UTF-16 code units. */
export class StrictJsonError extends SyntaxError {
  override readonly name = "StrictJsonError";
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

/** JSON.parse, refusing duplicate member names; throws StrictJsonError (a SyntaxError). */
export function parseStrictJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (cause) {
    throw new StrictJsonError((cause as Error).message);
  }
  const duplicate = findDuplicateMember(text);
  if (duplicate)
    throw new StrictJsonError(`the member name ${JSON.stringify(duplicate.name)} appears twice in one object`, duplicate.offset);
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

/**
 * The first member name repeated within one object of `text`, which JSON.parse has accepted.
 * Names are compared after unescaping ("a" and "\u0061" are the same name).
 */
function findDuplicateMember(text: string): { name: string; offset: number } | undefined {
  // One entry per open container: the names seen so far for an object, null for an array.
  const open: Array<Set<string> | null> = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = endOfString(text, i);
      if (expectName) {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        const names = open[open.length - 1]!;
        if (names.has(name)) return { name, offset: i };
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      open.push(new Set());
      expectName = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      expectName = open[open.length - 1] instanceof Set;
    }
  }
  return undefined;
}

/** The index of the quote closing the string that opens at `start`. */
function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22) return i;
  }
  return text.length;
}
