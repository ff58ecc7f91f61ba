/**
 * Identities of the parties, written as URNs: `urn:peage:<kind>:<name>`. A publisher's and a
 * payment server's identity is carried in its certificate as a subjectAltName URI (RFC 5280
 * §4.2.1.6), so a message's claimed identity is checked against the key that signed it.
 */
export const PartyKinds = ["publisher", "server", "user", "card"] as const;
export type PartyKind = (typeof PartyKinds)[number];

declare const partyBrand: unique symbol;
export type PartyId<K extends PartyKind = PartyKind> = string & { readonly [partyBrand]: K };

export const partyIdPattern = "^urn:peage:(publisher|server|user|card):[a-z0-9][a-z0-9._-]{0,62}$";
const partyIdRegExp = new RegExp(partyIdPattern);

export function isPartyId<K extends PartyKind>(value: unknown, kind: K): value is PartyId<K> {
  return typeof value === "string" && partyIdRegExp.test(value) && value.startsWith(`urn:peage:${kind}:`);
}

export function partyId<K extends PartyKind>(kind: K, name: string): PartyId<K> {
  const id = `urn:peage:${kind}:${name}`;
  if (!isPartyId(id, kind)) {
    throw new TypeError(`invalid ${kind} name ${JSON.stringify(name)}: lower-case letters, digits, '.', '_', '-', at most 63`);
  }
  return id;
}

export function kindOf(id: PartyId): PartyKind {
  return id.split(":")[2] as PartyKind;
}
