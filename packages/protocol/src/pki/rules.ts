/**
 * The rules of RFC 5280 §6.1 and of the Péage profile checked on a built certification path
 * (leaf first, trust anchor last). Each returns the first violation, naming the certificate at fault.
 */
import { fail, ok, type Result } from "../errors.js";
import { kindOf, partyIdPattern, type PartyId } from "../identity.js";
import { importCertifiedKey } from "./certificate.js";
import type { CertificateView } from "./inspect.js";
import { roleHolder, roleOids, type Role } from "./profile.js";
import type { PathNode } from "./revocation.js";
import type { IssuerKey } from "./signature.js";
import { x509 } from "./x509.js";

/** §4.1.2.5, §6.1.3 (a)(2): every certificate, the root included, is valid at `at` (both ends inclusive). */
export function checkValidity(path: readonly PathNode[], at: Date): Result<never> | undefined {
  const time = at.getTime();
  for (const { view } of path) {
    const detail = {
      subject: view.cert.subject,
      notBefore: view.cert.notBefore.toISOString(),
      notAfter: view.cert.notAfter.toISOString(),
    };
    if (time < view.cert.notBefore.getTime()) {
      return fail(
        "ERR_CERT_NOT_YET_VALID",
        `certificate ${view.name} is not valid before ${detail.notBefore} (checked at ${at.toISOString()})`,
        detail,
      );
    }
    if (time > view.cert.notAfter.getTime()) {
      return fail(
        "ERR_CERT_EXPIRED",
        `certificate ${view.name} expired at ${detail.notAfter} (checked at ${at.toISOString()})`,
        detail,
      );
    }
  }
  return undefined;
}

/**
 * Every issuer in the path: a CA (§4.2.1.9, §6.1.4 (k)) whose key may sign certificates
 * (§4.2.1.3, §6.1.4 (n)), with no more intermediates below it than its pathLenConstraint
 * (§6.1.4 (l), (m)).
 */
export function checkCaConstraints(path: readonly PathNode[]): Result<never> | undefined {
  for (let depth = 1; depth < path.length; depth++) {
    const { view } = path[depth]!;
    const subject = { subject: view.cert.subject };
    if (!view.basicConstraints?.ca)
      return fail(
        "ERR_NOT_A_CA",
        `${view.name} issued ${path[depth - 1]!.view.name} but is not a CA (basicConstraints cA is not set)`,
        subject,
      );
    if (view.keyUsage === undefined || !(view.keyUsage & x509.KeyUsageFlags.keyCertSign)) {
      return fail("ERR_KEY_USAGE", `CA ${view.name} may not sign certificates (its keyUsage lacks keyCertSign)`, subject);
    }
    // The certificates strictly between this CA and the leaf are intermediates; none is self-issued (see TrustStore #buildPath).
    const intermediatesBelow = depth - 1;
    const limit = view.basicConstraints.pathLength;
    if (limit !== undefined && intermediatesBelow > limit) {
      return fail(
        "ERR_PATH_LENGTH",
        `CA ${view.name} allows ${limit} intermediate CA(s) below it, the path has ${intermediatesBelow}`,
        subject,
      );
    }
  }
  return undefined;
}

/**
 * The role is an extended key usage (§4.2.1.12) of the leaf, and every CA of the path that lists
 * extended key usages lists it too: a CA limited to some roles cannot certify others (profile.ts).
 * A card's certificate (card-acknowledgment) must moreover be issued by a payment server acting
 * as card issuer: see {@link cardIssuerIdentity}.
 */
export function checkRole(path: readonly PathNode[], role: Role): Result<never> | undefined {
  const oid = roleOids[role];
  const leaf = path[0]!.view;
  if (!leaf.extendedKeyUsage?.includes(oid)) {
    return fail(
      "ERR_WRONG_ROLE",
      `certificate ${leaf.name} is not certified for the role ${role} (its extendedKeyUsage does not list ${oid})`,
      { subject: leaf.cert.subject, role },
    );
  }
  for (const { view } of path.slice(1)) {
    if (view.extendedKeyUsage && !view.extendedKeyUsage.includes(oid)) {
      return fail("ERR_WRONG_ROLE", `CA ${view.name} may not certify the role ${role} (its extendedKeyUsage does not list it)`, {
        subject: view.cert.subject,
        role,
      });
    }
  }
  if (role === "card-acknowledgment") {
    const issuer = cardIssuerIdentity(path);
    if (!issuer.ok) return issuer;
  }
  return undefined;
}

/**
 * The payment server that issued a card (patent claims 3-10, figure 3): the card's certificate is
 * signed by that server's card-issuer CA certificate, which lists the card-issuing role explicitly
 * in its extendedKeyUsage (a CA without the extension, free to certify anything, does not count)
 * and names the server as its one subjectAltName URI. An acknowledgment signed by a card is thus
 * always traceable to the server that will receive the card's usage log and answer for it.
 */
export function cardIssuerIdentity(path: readonly PathNode[]): Result<PartyId<"server">> {
  const leaf = path[0]!.view;
  // A card certificate that is itself a trust anchor has no issuer on its path, so no card issuer either.
  const issuer = path[1]?.view;
  if (!issuer?.extendedKeyUsage?.includes(roleOids["card-issuing"])) {
    return fail(
      "ERR_WRONG_ROLE",
      `${issuer ? `CA ${issuer.name}` : "no CA"} issued the card certificate ${leaf.name}, which needs a card issuer (a CA whose extendedKeyUsage lists card-issuing)`,
      { subject: (issuer ?? leaf).cert.subject, role: "card-issuing" },
    );
  }
  const detail = { subject: issuer.cert.subject, role: "card-issuing" };
  const uris = issuer.subjectAltNameUris ?? [];
  const uri = uris[0];
  if (uris.length !== 1 || uri === undefined || !partyIdRegExp.test(uri) || kindOf(uri as PartyId) !== "server") {
    return fail(
      "ERR_WRONG_ROLE",
      `card issuer ${issuer.name} must name the payment server it belongs to as its one subjectAltName URI (urn:peage:server:*)`,
      detail,
    );
  }
  return ok(uri as PartyId<"server">);
}

/** The leaf signs messages: not a CA (§4.2.1.9), digitalSignature set (§4.2.1.3), and no certificate or CRL signing. */
export function checkLeafUsage(leaf: CertificateView): Result<never> | undefined {
  const subject = { subject: leaf.cert.subject };
  if (leaf.basicConstraints?.ca)
    return fail("ERR_KEY_USAGE", `certificate ${leaf.name} is a CA certificate and cannot be used to sign messages`, subject);
  const usage = leaf.keyUsage;
  if (usage === undefined || !(usage & x509.KeyUsageFlags.digitalSignature)) {
    return fail("ERR_KEY_USAGE", `certificate ${leaf.name} is not certified for digitalSignature (keyUsage)`, subject);
  }
  if (usage & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) {
    return fail(
      "ERR_KEY_USAGE",
      `certificate ${leaf.name} asserts keyCertSign or cRLSign without being a CA (RFC 5280 §4.2.1.3)`,
      subject,
    );
  }
  return undefined;
}

const partyIdRegExp = new RegExp(partyIdPattern);

/** Exactly one subjectAltName URI, a Péage identity of the kind that holds `role` (profile.ts roleHolder). */
export function leafIdentity(leaf: CertificateView, role: Role): Result<PartyId> {
  const uris = leaf.subjectAltNameUris ?? [];
  const subject = { subject: leaf.cert.subject };
  if (uris.length !== 1)
    return fail(
      "ERR_MALFORMED",
      `certificate ${leaf.name} has ${uris.length} subjectAltName URIs, a Péage leaf has exactly one`,
      subject,
    );
  const uri = uris[0]!;
  if (!partyIdRegExp.test(uri))
    return fail("ERR_MALFORMED", `certificate ${leaf.name} names ${JSON.stringify(uri)}, which is not a Péage identity`, subject);
  const identity = uri as PartyId;
  const expected = roleHolder[role];
  if (kindOf(identity) !== expected) {
    return fail("ERR_WRONG_ROLE", `certificate ${leaf.name} belongs to ${identity}; the role ${role} is held by a ${expected}`, {
      ...subject,
      identity,
      role,
    });
  }
  return ok(identity);
}

/** §4.1.2.7 in the Péage profile: the leaf key is ECDSA P-256 or Ed25519. */
export async function importLeafKey(leaf: CertificateView): Promise<Result<IssuerKey>> {
  const key = await importCertifiedKey(leaf.cert);
  return key
    ? ok(key)
    : fail("ERR_UNSUPPORTED_ALGORITHM", `certificate ${leaf.name} holds neither a P-256 nor an Ed25519 key`, {
        subject: leaf.cert.subject,
      });
}
