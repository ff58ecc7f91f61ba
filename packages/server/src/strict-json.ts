/**
 * Request bodies parsed strictly: JSON.parse keeps the last of two members with the same name,
 * another parser (a proxy, an audit tool, a wallet) may keep the first, so a body with a
 * duplicate member could mean two things. RFC 8259 §4 leaves such a body's meaning open and
 * RFC 7493 (I-JSON) says to refuse it; the server refuses it, naming the member.
 */

export class DuplicateMemberError extends Error {
  override readonly name = "DuplicateMemberError";
  constructor(
    /** JSON Pointer (RFC 6901) of the object holding the duplicate. */
    readonly pointer: string,
    readonly member: string,
  ) {
    super(`member ${JSON.stringify(member)} appears twice in the object at ${pointer === "" ? "the top level" : pointer}`);
  }
}

const pointerToken = (name: string) => name.replace(/~/g, "~0").replace(/\//g, "~1");

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

/** The end of the string literal starting at `start` (its opening quote), just past the closing quote. */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
  return i + 1;
}

/**
 * Throws a DuplicateMemberError on the first object with two members of the same name (after
 * unescaping: "a" and "\u0061" are the same name). `text` must already be valid JSON.
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

/** JSON.parse, refusing duplicate member names (DuplicateMemberError) as well as invalid JSON (SyntaxError). */
export function parseStrictJson(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  assertNoDuplicateMembers(text);
  return value;
}
