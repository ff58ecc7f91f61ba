/**
 * How Fastify checks each request against its route's TypeBox schema. A body is JSON and is checked as
 * sent: no member converted, none removed, so an unknown member is refused and what was signed is what
 * is read. Query strings, path parameters and headers arrive as text: a member whose schema wants an
 * integer, a number or a boolean is converted only when its text is exactly that value ("12", "true"),
 * never by truncating or guessing ("1.5", "1e2", "0x10" or " 2" stay text and are refused as not an
 * integer). TypeBox's own conversion would read "1.5" as 1 and "true" as 1.
 */
import type { FastifySchemaCompiler, FastifySchemaValidationError } from "fastify";
import { TypeCompiler, ValueErrorType, type ValueError } from "@sinclair/typebox/compiler";
import type { TSchema } from "@sinclair/typebox";

/** An integer as written by anyone meaning one: optional minus, no leading zero, no sign on zero. */
const INTEGER = /^(?:0|-?[1-9][0-9]*)$/;
/** A decimal number: an integer, then optionally a fraction. */
const DECIMAL = /^(?:0|-?[1-9][0-9]*|-?(?:0|[1-9][0-9]*)\.[0-9]+)$/;

interface JsonSchema {
  readonly type?: unknown;
  readonly anyOf?: readonly JsonSchema[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
}

export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const fromText = httpPart !== undefined && httpPart !== "body";
  return (input) => {
    const value = fromText ? convertMembers(schema as JsonSchema, input) : input;
    if (check.Check(value)) return { value };
    return { error: [...check.Errors(value)].map(validationError) };
  };
};

/** A TypeBox error in the shape Fastify hands to the error handler (app.ts names `instancePath` in the problem). */
function validationError(error: ValueError): FastifySchemaValidationError {
  return { keyword: ValueErrorType[error.type], instancePath: error.path, schemaPath: "#", params: {}, message: error.message };
}

/** The object with each text member its schema wants as a scalar converted, when written exactly. */
function convertMembers(schema: JsonSchema, input: unknown): unknown {
  const properties = schema.properties;
  if (properties === undefined || typeof input !== "object" || input === null || Array.isArray(input)) return input;
  const converted: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(input)) {
    const memberSchema = Object.hasOwn(properties, name) ? properties[name] : undefined;
    converted[name] = memberSchema !== undefined && typeof member === "string" ? fromText(memberSchema, member) : member;
  }
  return converted;
}

/** The scalar `text` writes exactly, for a schema wanting one; the text itself otherwise (then refused by the check). */
function fromText(schema: JsonSchema, text: string): unknown {
  if (schema.type === "integer" && INTEGER.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
  if (schema.type === "number" && DECIMAL.test(text)) return Number(text);
  if (schema.type === "boolean" && (text === "true" || text === "false")) return text === "true";
  for (const branch of schema.anyOf ?? []) {
    const converted = fromText(branch, text);
    if (converted !== text) return converted;
  }
  return text;
}
