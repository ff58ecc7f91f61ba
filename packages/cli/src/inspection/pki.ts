/**
 * Inspecting PEM files: a certificate chain (leaf first) is validated as the protocol validates
 * the x5c of a message, for --role or for every role the leaf's extendedKeyUsage claims; a CRL
 * is shown and its signature checked under its issuer's certificate.
 */
import { crlNumberOf, fail, isRole, ok, toX5c, x509, type Result, type Role } from "@peage/protocol";
import { certificateInfo, certificateLines, crlInfo, isCaCertificate, rolesOf } from "../describe.js";
import { loadCertificates } from "../load.js";
import { parseRoles } from "../values.js";
import { signerJson, signerLines, type InspectContext, type Inspection, type Verdict } from "./types.js";

/** A PEM chain, leaf first: shown certificate by certificate, then validated as a message signer's x5c. */
export async function inspectChain(certs: readonly x509.X509Certificate[], ctx: InspectContext): Promise<Inspection> {
  const infos = certs.map(certificateInfo);
  const lines = infos.flatMap((info, index) => [
    `  certificate #${index + 1}${index === 0 ? " (leaf)" : ""}`,
    ...certificateLines(info, "    "),
  ]);
  const leaf = certs[0]!;
  const result = await (async (): Promise<Result<Verdict>> => {
    const roleText = ctx.options.string("role");
    const claimed = rolesOf(leaf).filter(isRole);
    const roles: Role[] = roleText !== undefined ? parseRoles(ctx.options, "role", roleText) : claimed;
    if (roles.length === 0) {
      if (isCaCertificate(leaf)) {
        return fail(
          "ERR_KEY_USAGE",
          `${JSON.stringify(leaf.subject)} is a CA certificate: inspect validates the chain of a certificate that signs messages (a publisher, payment server or card), which checks its CAs too`,
        );
      }
      return fail(
        "ERR_WRONG_ROLE",
        `${JSON.stringify(leaf.subject)} claims no Péage role in its extendedKeyUsage: pass --role ROLE to check it for one`,
      );
    }
    const trust = await ctx.trust();
    const x5c = certs.map(toX5c);
    const verdicts = [];
    for (const role of roles) {
      const validated = await trust.validate(x5c, role, ctx.clock.now());
      if (!validated.ok) return validated;
      verdicts.push(validated.value);
    }
    const first = verdicts[0]!;
    return ok({
      summary: `certificate chain of ${first.identity} for ${roles.join(", ")}, valid from ${first.notBefore.toISOString()} to ${first.notAfter.toISOString()}`,
      lines: signerLines(first),
      json: {
        roles,
        signer: signerJson(first),
        notBefore: first.notBefore.toISOString(),
        notAfter: first.notAfter.toISOString(),
      },
    });
  })();
  return { kind: "certificate chain", content: { certificates: infos }, lines, result };
}

/** PEM CRLs: shown entry by entry, then checked for their issuer's signature and freshness. */
export async function inspectCrl(crls: readonly x509.X509Crl[], ctx: InspectContext): Promise<Inspection> {
  const infos = crls.map((crl) => crlInfo(crl, safeCrlNumber(crl)));
  const lines = infos.flatMap((info) => [
    `  issuer:      ${info.issuer}`,
    `  crl number:  ${info.crlNumber ?? "(none)"}`,
    `  this update: ${info.thisUpdate}`,
    `  next update: ${info.nextUpdate ?? "(none)"}`,
    `  revoked:     ${info.revoked.length === 0 ? "none" : ""}`.trimEnd(),
    ...info.revoked.map(
      (entry) => `    ${entry.serialNumber} on ${entry.revocationDate}${entry.reason ? ` (${entry.reason})` : ""}`,
    ),
  ]);
  const result = await (async (): Promise<Result<Verdict>> => {
    const trust = await ctx.trust();
    const issuers = [
      ...trust.roots,
      ...(await Promise.all(ctx.options.strings("issuer").map((path) => loadCertificates(path, "--issuer")))).flat(),
    ];
    const now = ctx.clock.now();
    const verdicts: string[] = [];
    for (const crl of crls) {
      const issuer = issuers.find((cert) =>
        Buffer.from(cert.subjectName.toArrayBuffer()).equals(Buffer.from(crl.issuerName.toArrayBuffer())),
      );
      if (!issuer)
        return fail(
          "ERR_UNKNOWN_ISSUER",
          `no certificate of the CRL's issuer ${JSON.stringify(crl.issuer)} was given: pass it with --issuer CA.pem`,
        );
      let valid = false;
      try {
        valid = await crl.verify({ publicKey: issuer });
      } catch {
        valid = false;
      }
      if (!valid)
        return fail(
          "ERR_BAD_SIGNATURE",
          `the CRL of ${JSON.stringify(crl.issuer)} does not verify under the key of ${JSON.stringify(issuer.subject)}`,
        );
      // RFC 5280 §6.3.3 (a)(2): past nextUpdate, a CRL says nothing about the present.
      if (!crl.nextUpdate || crl.nextUpdate.getTime() < now.getTime()) {
        return fail(
          "ERR_REVOCATION_UNKNOWN",
          `the CRL of ${JSON.stringify(crl.issuer)} is stale: its nextUpdate ${crl.nextUpdate?.toISOString() ?? "(none)"} is before ${now.toISOString()}`,
        );
      }
      verdicts.push(crl.issuer);
    }
    return ok({
      summary: `CRL of ${verdicts.join(", ")}, signed by its issuer and current`,
      lines: [],
      json: { issuers: verdicts },
      notes: trust.roots.some((root) => verdicts.includes(root.subject))
        ? []
        : ["the issuer's own certificate was taken as given (--issuer): inspect its chain to check it"],
    });
  })();
  return { kind: "CRL", content: { crls: infos }, lines, result };
}

function safeCrlNumber(crl: x509.X509Crl): bigint | undefined {
  try {
    return crlNumberOf(crl);
  } catch {
    return undefined;
  }
}
