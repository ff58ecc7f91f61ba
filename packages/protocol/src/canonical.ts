/**
 * RFC 8785 (JSON Canonicalization Scheme) bytes of a JSON value: the exact bytes every
 * implementation hashes and signs, whatever order or spacing its JSON encoder prefers.
 *
 * RFC 8785 §3.2.2 defines the text of every literal, string and number as ECMAScript's
 * JSON.stringify writes it (SerializeJSONProperty, Number::toString), and §3.2.3 sorts an object's
 * members by the UTF-16 code units of their names, which is Array.prototype.sort's own order. So
 * the canonical form is a sort of member names and JSON.stringify of every leaf: no character of a
 * string is walked in JavaScript, which matters on the payment path (a request carries kilobytes of
 * certificates). What I-JSON (RFC 7493) forbids is refused, as RFC 8785 §3.1 requires: a string
 * with a lone surrogate, a number that is not finite. The test suite checks this function byte for
 * byte against an independent implementation (canonicalize) on random JSON.
 */
import { createHash } from "node:crypto";

/** String.prototype.isWellFormed (ES2024, in every Node this package supports), which ES2023's lib does not declare. */
type WellFormedCheck = string & { isWellFormed(): boolean };

/** The RFC 8785 text of a JSON value; throws a TypeError for anything JSON cannot carry exactly. */
export function canonicalJson(value: unknown): string {
  // Already in canonical order, with nothing to refuse or convert (a canonical payload just parsed,
  // claims built in order): JSON.stringify writes it as it stands, in one call.
  if (isInCanonicalOrder(value, [])) return JSON.stringify(value);
  const text = serialize(value, []);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}

/** RFC 8785 bytes (UTF-8) of a JSON value. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

/** SHA-256 of the bytes, base64url without padding (RFC 4648 §5), as every Péage hash is written. */
export function sha256Base64url(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("base64url");
}

/** Hash of a JSON value: SHA-256 over its RFC 8785 canonical form. */
export function canonicalHash(value: unknown): string {
  // A string given to update() is hashed as its UTF-8 bytes: the canonical bytes, without a copy.
  return sha256Base64url(canonicalJson(value));
}

/**
 * True when JSON.stringify(value) is the canonical form: only finite numbers, well-formed strings,
 * literals, arrays and objects without toJSON whose member names, in the order Object.keys lists
 * them (JSON.stringify's order too), are in ascending UTF-16 order.
 */
function isInCanonicalOrder(value: unknown, ancestors: object[]): boolean {
  switch (typeof value) {
    case "string":
      return (value as WellFormedCheck).isWellFormed();
    case "number":
      return Number.isFinite(value);
    case "boolean":
      return true;
    case "object":
      return value === null || objectInCanonicalOrder(value, ancestors);
    default:
      return false;
  }
}

function objectInCanonicalOrder(object: object, ancestors: object[]): boolean {
  if (ancestors.includes(object) || typeof (object as { toJSON?: unknown }).toJSON === "function") return false;
  ancestors.push(object);
  let ordered = true;
  if (Array.isArray(object)) {
    for (let i = 0; ordered && i < object.length; i++) ordered = isInCanonicalOrder(object[i], ancestors);
  } else {
    const record = object as Record<string, unknown>;
    const names = Object.keys(record);
    for (let i = 0; ordered && i < names.length; i++) {
      const name = names[i]!;
      ordered = (i === 0 || names[i - 1]! < name) && isInCanonicalOrder(name, ancestors);
      ordered &&= isInCanonicalOrder(record[name], ancestors);
    }
  }
  ancestors.pop();
  return ordered;
}

/**
 * The text of `value`, or undefined where JSON has none (undefined, a function, a symbol): such a
 * member is left out of its object and such an element written null, as JSON.stringify does.
 * `ancestors` holds the objects being written, to refuse a cycle rather than recurse forever.
 */
function serialize(value: unknown, ancestors: object[]): string | undefined {
  switch (typeof value) {
    case "string":
      if (!(value as WellFormedCheck).isWellFormed())
        throw new TypeError("a string holds a lone surrogate, which I-JSON forbids");
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`the number ${value} has no JSON representation`);
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      throw new TypeError("a BigInt has no JSON representation");
    case "object":
      return value === null ? "null" : serializeObject(value, ancestors);
    default:
      return undefined;
  }
}

function serializeObject(object: object, ancestors: object[]): string | undefined {
  if (ancestors.includes(object)) throw new TypeError("the value refers to itself (a cycle): it has no JSON representation");
  ancestors.push(object);
  let text: string | undefined;
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") {
    text = serialize((toJSON as () => unknown).call(object), ancestors);
  } else if (Array.isArray(object)) {
    text = "[";
    for (let i = 0; i < object.length; i++) text += `${i === 0 ? "" : ","}${serialize(object[i], ancestors) ?? "null"}`;
    text += "]";
  } else {
    text = "{";
    const record = object as Record<string, unknown>;
    for (const name of Object.keys(record).sort()) {
      const member = serialize(record[name], ancestors);
      if (member === undefined) continue;
      text += `${text.length === 1 ? "" : ","}${serialize(name, ancestors)!}:${member}`;
    }
    text += "}";
  }
  ancestors.pop();
  return text;
}
