/**
 * How a request body is read as JSON: strictly (a member named twice is refused rather than read
 * as one of its two values) and with an error that says where the text breaks. One function for
 * the application's parser (app.ts) and the payment threads (payment-thread.ts), so that a body is
 * refused in the same words wherever it is read.
 */
import { DuplicateMemberError, parseStrictJson } from "@peage/protocol";

export type BodyReading = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string };

export function readJsonBody(text: string): BodyReading {
  if (text.trim() === "") return { ok: false, message: "the request body is empty; send a JSON document" };
  try {
    return { ok: true, value: parseStrictJson(text) };
  } catch (cause) {
    if (cause instanceof DuplicateMemberError)
      return { ok: false, message: `the request body is ambiguous: ${cause.message}; send each member once` };
    return { ok: false, message: `the request body is not valid JSON: ${(cause as Error).message}` };
  }
}
