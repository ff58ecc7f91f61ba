/** Input checks for the renderers: a wrong amount on a statement is refused, never printed. */
import { isCurrencyCode, isMinorUnits, type Price } from "@peage/protocol";
import { StatementError } from "./types.js";

export function checkString(value: unknown, field: string): string {
  if (typeof value !== "string") throw new StatementError(field, "must be a string");
  return value;
}

export function checkOptionalString(value: unknown, field: string): string | undefined {
  return value === undefined ? undefined : checkString(value, field);
}

export function checkPrice(value: unknown, field: string): Price {
  if (typeof value !== "object" || value === null) throw new StatementError(field, "must be a price { amount, currency }");
  const { amount, currency } = value as { amount?: unknown; currency?: unknown };
  if (!isCurrencyCode(currency))
    throw new StatementError(`${field}.currency`, `${JSON.stringify(currency)} is not an active ISO 4217 currency code`);
  if (!isMinorUnits(amount))
    throw new StatementError(`${field}.amount`, `${String(amount)} is not a non-negative safe integer of minor units`);
  return { amount, currency };
}

export function checkOptionalPrice(value: unknown, field: string): Price | undefined {
  return value === undefined ? undefined : checkPrice(value, field);
}

export function checkOneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new StatementError(field, `${JSON.stringify(value)} is not one of ${allowed.join(", ")}`);
  }
  return value as T;
}

export function checkArray(value: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new StatementError(field, "must be an array");
  return value;
}
