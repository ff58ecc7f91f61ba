/**
 * `peage pki revoke` and `peage pki crl`: a CA's revocation list (RFC 5280 §5). `revoke` records a
 * certificate in the CA's state file; `crl` (and `revoke --crl-out`) signs and publishes the list
 * with a cRLNumber that only grows. Part of the `pki` group of pki.ts.
 */
import { resolve } from "node:path";
import {
  RevocationReasons,
  addRevoked,
  createCrl,
  crlToPem,
  normalizeSerialNumber,
  x509,
  type CertifiedKeyPair,
} from "@peage/protocol";
import { defaultStatePath, findRevoked, readCaState, writeCaState, type CaState } from "../ca-state.js";
import type { Command } from "../command.js";
import { CommandError } from "../errors.js";
import { replaceFile } from "../files.js";
import { loadCa, loadCertificates } from "../load.js";
import { print, printJson, warn } from "../output.js";
import { caCertOption, caKeyOption, jsonOption, stateOption } from "./pki-options.js";

const DAY = 24 * 3_600_000;

export const revoke: Command = {
  spec: {
    name: "pki revoke",
    title: "add a certificate to its CA's revocation list",
    summary:
      "Add a certificate to its CA's revocation list (kept in the state file). Revoking an already revoked certificate changes nothing. " +
      "With --crl-out, also publish the CRL as `peage pki crl` does.",
    synopsis:
      "--ca-cert FILE --ca-key FILE (--cert FILE | --serial HEX) [--reason REASON] [--state FILE] [--crl-out CRL.pem [--days N]] [--json]",
    options: {
      "ca-cert": caCertOption,
      "ca-key": caKeyOption,
      cert: {
        type: "string",
        value: "FILE",
        description: "the certificate to revoke (PEM); it must have been issued by this CA",
      },
      serial: { type: "string", value: "HEX", description: "the serial number of the certificate to revoke, in hexadecimal" },
      reason: { type: "string", value: "REASON", description: `RFC 5280 §5.3.1 reason: ${RevocationReasons.join(", ")}` },
      state: stateOption,
      "crl-out": { type: "string", value: "CRL.pem", description: "publish the updated CRL here (replaced if it exists)" },
      days: { type: "string", value: "N", description: "with --crl-out: days until the CRL's nextUpdate (default 7)" },
      json: jsonOption,
    },
  },
  async run(o) {
    const caCert = o.required("ca-cert", "FILE");
    const caKey = o.required("ca-key", "FILE");
    const by = o.exactlyOne("cert", "serial");
    const reason = o.choice("reason", RevocationReasons);
    const statePath = o.string("state") ?? defaultStatePath(caKey);
    const crlOut = o.string("crl-out");
    o.onlyWith("days", "crl-out");
    const days = o.integer("days", 1, 366, 7);
    const serialText = o.string("serial");
    let serialNumber: string | undefined;
    if (by === "serial") {
      try {
        serialNumber = normalizeSerialNumber(serialText!.replace(/^0x/i, "").replaceAll(":", ""));
      } catch (cause) {
        throw o.usage(`--serial: ${(cause as Error).message}`);
      }
    }
    const { issuer } = await loadCa(caCert, caKey);
    let described: string;
    if (by === "cert") {
      const certPath = o.required("cert", "FILE");
      const [target] = await loadCertificates(certPath, "--cert");
      checkIssuedBy(target!, issuer.certificate, certPath);
      serialNumber = normalizeSerialNumber(target!.serialNumber);
      described = `certificate ${JSON.stringify(target!.subject)} (serial ${serialNumber})`;
    } else {
      described = `serial ${serialNumber}`;
    }

    const state = await readCaState(statePath, issuer.certificate);
    const previous = findRevoked(state, serialNumber!);
    let next: CaState = state;
    if (!previous) {
      const entry = { serialNumber: serialNumber!, revocationDate: new Date(), ...(reason && { reason }) };
      next = { ...state, revoked: addRevoked(state.revoked, entry) };
      await writeCaState(statePath, issuer.certificate, next);
    } else if (reason !== undefined && previous.reason !== reason) {
      warn(
        `${described} was already revoked${previous.reason ? ` (${previous.reason})` : ""}; the first revocation is kept, so the reason stays as it was`,
      );
    }
    const entry = findRevoked(next, serialNumber!)!;
    const crl = crlOut ? await publishCrl(issuer, next, statePath, crlOut, days, "--crl-out") : undefined;

    if (o.flag("json")) {
      return printJson({
        serialNumber: entry.serialNumber,
        revocationDate: entry.revocationDate.toISOString(),
        ...(entry.reason && { reason: entry.reason }),
        alreadyRevoked: previous !== undefined,
        state: resolve(statePath),
        ...(crl && { crl: resolve(crlOut!), crlNumber: crl.crlNumber.toString() }),
      });
    }
    print(
      previous
        ? `${described} was already revoked by ${issuer.certificate.subject} on ${entry.revocationDate.toISOString()}`
        : `revoked ${described} by ${issuer.certificate.subject}${reason ? ` (${reason})` : ""}; recorded in ${statePath}`,
      ...(crl ? [crlSummary(issuer, crl, crlOut!)] : ["publish a CRL with `peage pki crl` so that relying parties learn of it"]),
    );
  },
};

export const crl: Command = {
  spec: {
    name: "pki crl",
    title: "publish a CA's certificate revocation list",
    summary:
      "Publish the CA's certificate revocation list (RFC 5280 §5): every certificate in its state file, a cRLNumber one higher " +
      "than the last one issued, and a nextUpdate --days ahead. Relying parties refuse a CRL past its nextUpdate, so publish again before then.",
    synopsis: "--ca-cert FILE --ca-key FILE [--days N] [--state FILE] --out CRL.pem [--json]",
    options: {
      "ca-cert": caCertOption,
      "ca-key": caKeyOption,
      days: { type: "string", value: "N", description: "days until nextUpdate (default 7)" },
      state: stateOption,
      out: { type: "string", value: "CRL.pem", description: "where to write the CRL (PEM, replaced if it exists)" },
      json: jsonOption,
    },
  },
  async run(o) {
    const caCert = o.required("ca-cert", "FILE");
    const caKey = o.required("ca-key", "FILE");
    const out = o.required("out", "CRL.pem");
    const days = o.integer("days", 1, 366, 7);
    const statePath = o.string("state") ?? defaultStatePath(caKey);
    const { issuer } = await loadCa(caCert, caKey);
    const state = await readCaState(statePath, issuer.certificate);
    const published = await publishCrl(issuer, state, statePath, out, days, "--out");
    if (o.flag("json")) {
      return printJson({
        crl: resolve(out),
        issuer: issuer.certificate.subject,
        crlNumber: published.crlNumber.toString(),
        thisUpdate: published.crl.thisUpdate.toISOString(),
        nextUpdate: published.crl.nextUpdate?.toISOString(),
        revoked: state.revoked.length,
        state: resolve(statePath),
      });
    }
    print(crlSummary(issuer, published, out));
  },
};

function checkIssuedBy(cert: x509.X509Certificate, ca: x509.X509Certificate, path: string): void {
  const sameIssuer = Buffer.from(cert.issuerName.toArrayBuffer()).equals(Buffer.from(ca.subjectName.toArrayBuffer()));
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase();
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase();
  if (!sameIssuer || (aki !== undefined && ski !== undefined && aki !== ski)) {
    throw new CommandError(
      "ERR_NOT_ISSUED_BY_CA",
      `--cert ${path} (${JSON.stringify(cert.subject)}) was issued by ${JSON.stringify(cert.issuer)}, not by this CA: revoke it with its own CA`,
    );
  }
}

interface PublishedCrl {
  readonly crl: x509.X509Crl;
  readonly crlNumber: bigint;
}

/**
 * Signs the next CRL of the CA and writes it. The state file is updated first: if writing the CRL
 * then fails, the number is skipped, never reused (RFC 5280 §5.2.3 needs it to increase).
 */
async function publishCrl(
  issuer: CertifiedKeyPair,
  state: CaState,
  statePath: string,
  out: string,
  days: number,
  what: string,
): Promise<PublishedCrl> {
  const crlNumber = (state.crlNumber ?? 0n) + 1n;
  const thisUpdate = new Date();
  const nextUpdate = new Date(thisUpdate.getTime() + days * DAY);
  const list = await createCrl({ issuer, revoked: state.revoked, thisUpdate, nextUpdate, crlNumber });
  await writeCaState(statePath, issuer.certificate, { ...state, crlNumber });
  await replaceFile(out, crlToPem(list), what);
  return { crl: list, crlNumber };
}

function crlSummary(issuer: CertifiedKeyPair, published: PublishedCrl, out: string): string {
  const count = published.crl.entries.length;
  return (
    `published CRL number ${published.crlNumber} of ${issuer.certificate.subject} to ${out}: ` +
    `${count} revoked certificate${count === 1 ? "" : "s"}, next update ${published.crl.nextUpdate?.toISOString()}`
  );
}
