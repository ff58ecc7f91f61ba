/**
 * Row values parsed at the edge: what a database row holds is checked and branded here, once, so
 * that a corrupt row (an amount out of range, a currency or party id that is not one) is a clear
 * StoreRowError naming the column rather than a value typed as something it is not. Integers come
 * from both drivers as BigInt (SQLite safeIntegers, PostgreSQL int8/numeric parsers), so that no
 * sum is ever rounded; int() turns one into a number after checking that it is a safe integer.
 */
import {
  isCurrencyCode,
  isMinorUnits,
  isPartyId,
  type CurrencyCode,
  type MinorUnits,
  type PartyId,
  type PartyKind,
} from "@peage/protocol";

/** A row whose value breaks what the schema and the server's parsers guarantee: the database was changed by hand, or is damaged. */
export class StoreRowError extends Error {
  override readonly name = "StoreRowError";
  readonly code = "ERR_STORE_ROW";
  constructor(
    readonly column: string,
    readonly value: unknown,
    expected: string,
  ) {
    super(
      `the database holds a corrupt row: ${column} is ${describe(value)}, not ${expected}; ` +
        "restore the database from a backup, or repair that row",
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return String(value);
}

/** An integer column as a number; throws if it is not a safe integer (the schema keeps them so). */
export function int(value: unknown, column = "an integer column"): number {
  const n = typeof value === "bigint" || typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || (typeof value === "bigint" && BigInt(n) !== value))
    throw new StoreRowError(column, value, "a safe integer");
  return n;
}

export function optInt(value: unknown, column?: string): number | undefined {
  return value === null || value === undefined ? undefined : int(value, column);
}

/** A sum or an integer column as an exact BigInt (0 for SQL's NULL sum of no rows). */
export function big(value: unknown): bigint {
  if (value === null || value === undefined) return 0n;
  return typeof value === "bigint" ? value : BigInt(value as number | string);
}

export function str(value: unknown, column = "a text column"): string {
  if (typeof value !== "string") throw new StoreRowError(column, value, "text");
  return value;
}

export function optStr(value: unknown, column?: string): string | undefined {
  return value === null || value === undefined ? undefined : str(value, column);
}

/** An amount column: a non-negative safe integer of minor units. */
export function minor(value: unknown, column: string): MinorUnits {
  const n = int(value, column);
  if (!isMinorUnits(n)) throw new StoreRowError(column, value, "an amount of minor units (a non-negative safe integer)");
  return n;
}

export function optMinor(value: unknown, column: string): MinorUnits | undefined {
  return value === null || value === undefined ? undefined : minor(value, column);
}

export function currency(value: unknown, column: string): CurrencyCode {
  if (!isCurrencyCode(value)) throw new StoreRowError(column, value, "an active ISO 4217 currency code");
  return value;
}

export function party<K extends PartyKind>(kind: K, value: unknown, column: string): PartyId<K> {
  if (!isPartyId(value, kind)) throw new StoreRowError(column, value, `a ${kind} id (urn:peage:${kind}:…)`);
  return value;
}

/** A text column holding one of a fixed set of values (a CHECK constraint's). */
export function oneOf<const T extends string>(values: readonly T[], value: unknown, column: string): T {
  if (typeof value !== "string" || !(values as readonly string[]).includes(value))
    throw new StoreRowError(column, value, `one of ${values.join(", ")}`);
  return value as T;
}

/** A text column holding JSON the server wrote. */
export function json(value: unknown, column: string): unknown {
  try {
    return JSON.parse(str(value, column));
  } catch (error) {
    if (error instanceof StoreRowError) throw error;
    throw new StoreRowError(column, value, "JSON");
  }
}
