/**
 * The Péage certificate profile: which roles exist, how a certificate states them, and which
 * kind of party may hold each. docs/protocol.md ("Certificate profile") is the prose of this file.
 *
 * Roles are extended key usages (RFC 5280 §4.2.1.12) under the project's own arc, a UUID-derived
 * OID (ITU-T X.667, arc 2.25). A CA certificate that carries the extension may only certify the
 * roles it lists ("EKU chaining"): a publishers' association can certify offer signers and never
 * a payment server.
 */
import type { PartyKind } from "../identity.js";

export const PEAGE_OID_ARC = "2.25.273969294525649124083163031482911854366";

export const Roles = ["offer-signing", "acknowledgment-signing", "card-issuing", "card-acknowledgment"] as const;
export type Role = (typeof Roles)[number];

export const roleOids: Readonly<Record<Role, string>> = {
  /** A publisher signs offers (hash and price), usually once per catalog at build time. */
  "offer-signing": `${PEAGE_OID_ARC}.1.1`,
  /** A payment server signs acknowledgments (message 3). */
  "acknowledgment-signing": `${PEAGE_OID_ARC}.1.2`,
  /** A payment server, acting as card issuer, certifies the keys of its smart cards. */
  "card-issuing": `${PEAGE_OID_ARC}.1.3`,
  /** A smart card signs acknowledgments for offline payments. */
  "card-acknowledgment": `${PEAGE_OID_ARC}.1.4`,
};

const rolesByOid = new Map(Object.entries(roleOids).map(([role, oid]) => [oid, role as Role]));

export function roleOfOid(oid: string): Role | undefined {
  return rolesByOid.get(oid);
}

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (Roles as readonly string[]).includes(value);
}

/** The kind of party whose identity (subjectAltName URI) a leaf with this role must carry. */
export const roleHolder: Readonly<Record<Role, PartyKind>> = {
  "offer-signing": "publisher",
  "acknowledgment-signing": "server",
  "card-issuing": "server",
  "card-acknowledgment": "card",
};

/** Longest chain accepted, trust anchor included: root, two intermediate levels, leaf and a card. */
export const MAX_CHAIN_LENGTH = 5;
