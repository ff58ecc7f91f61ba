/**
 * Option values with a Péage meaning: roles, party identities, instants. Each parser names the
 * option and lists what it accepts, so a usage error says how to fix the command line.
 */
import { PartyKinds, Roles, isPartyId, isRole, type PartyId, type PartyKind, type Role } from "@peage/protocol";
import type { Options } from "./args.js";

/** "offer-signing" or a comma-separated list of roles; each one of profile.ts `Roles`. */
export function parseRoles(options: Options, name: string, text: string): Role[] {
  const roles = text.split(",").map((role) => role.trim());
  for (const role of roles) {
    if (!isRole(role)) throw options.usage(`--${name}: unknown role ${JSON.stringify(role)}; the roles are ${Roles.join(", ")}`);
  }
  return [...new Set(roles as Role[])];
}

/** A party identity, urn:peage:<kind>:<name>, optionally of one kind only. */
export function parseIdentity<K extends PartyKind>(options: Options, name: string, text: string, kind?: K): PartyId<K> {
  const kinds = kind ? [kind] : PartyKinds;
  if (!kinds.some((k) => isPartyId(text, k))) {
    const form = `urn:peage:${kind ?? `{${PartyKinds.join("|")}}`}:NAME`;
    throw options.usage(
      `--${name} ${JSON.stringify(text)} is not a ${kind ?? "Péage"} identity: write ${form}, NAME in lower-case letters, digits, '.', '_', '-'`,
    );
  }
  return text as PartyId<K>;
}

/** An RFC 3339 date and time with a zone ("2026-03-01T12:00:00Z"), or a date ("2026-03-01", midnight UTC). */
export function parseInstant(options: Options, name: string, text: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/.exec(
    text,
  );
  const [year, month, day, hour, minute, second] = (match?.slice(1) ?? []).map((part) => (part === undefined ? 0 : Number(part)));
  // Date.parse rolls impossible dates over ("02-30" becomes March 2nd); the calendar is checked first.
  const calendar = match && new Date(Date.UTC(year!, month! - 1, day!));
  const real =
    calendar !== null &&
    calendar !== undefined &&
    calendar.getUTCFullYear() === year &&
    calendar.getUTCMonth() === month! - 1 &&
    calendar.getUTCDate() === day &&
    hour! < 24 &&
    minute! < 60 &&
    second! < 60;
  const ms = real ? Date.parse(text.replace(" ", "T")) : Number.NaN;
  if (!Number.isFinite(ms))
    throw options.usage(`--${name} ${JSON.stringify(text)} is not a date and time: write it as 2026-03-01T12:00:00Z`);
  return new Date(ms);
}
