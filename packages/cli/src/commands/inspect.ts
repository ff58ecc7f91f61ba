/**
 * `peage inspect FILE`: says what a Péage file is, shows what it contains, and verifies it with
 * the protocol's own checks. The kind is read from the file itself: a JSON `type`, a JWS `typ`,
 * or PEM labels (RFC 7468). Exit 0 when valid; 1 with the verification code when not.
 */
import {
  FixedClock,
  SignatureAlgorithms,
  VerificationError,
  fail,
  parsePem,
  parseStrictJson,
  parseCertificateDer,
  parseCrlDer,
  systemClock,
} from "@peage/protocol";
import type { Options } from "../args.js";
import type { Command, CommandGroup } from "../command.js";
import { InvalidError } from "../errors.js";
import { readInput } from "../files.js";
import { loadTrustStore } from "../load.js";
import { inspectJws, inspectMessage } from "../inspection/messages.js";
import { inspectChain, inspectCrl } from "../inspection/pki.js";
import type { InspectContext, Inspection } from "../inspection/types.js";
import { note, print, printJson } from "../output.js";
import { parseInstant } from "../values.js";

const jwsCompact = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const crlLabels = new Set(["X509 CRL", "CRL"]);

const inspectCommand: Command = {
  spec: {
    name: "inspect",
    title: "decode and verify any message, catalog, token, certificate chain or CRL",
    summary:
      "Decode and verify a Péage file: an offer, payment request or acknowledgment (JSON), a signed catalog, a bare JWS token, " +
      "a PEM certificate chain (leaf first) or a PEM CRL. Prints what it contains, then `valid: …`; exits 1 with the verification code if it is not.",
    synopsis:
      "FILE --trust ROOT.pem [--crl CRL.pem …] [--require-crl] [--at TIME] [--offer OFFER.json] [--server URN] [--user-key FILE --user URN] " +
      "[--role ROLE] [--issuer CA.pem] [--json]",
    positionals: ["FILE"],
    options: {
      trust: { type: "string", value: "ROOT.pem", multiple: true, description: "trusted root certificate(s) (PEM)" },
      crl: { type: "string", value: "CRL.pem", multiple: true, description: "CRLs to check certificates against" },
      "require-crl": {
        type: "boolean",
        description: "fail (ERR_REVOCATION_UNKNOWN) when a certificate's issuer has no CRL among --crl",
      },
      at: {
        type: "string",
        value: "TIME",
        description: "check as of this instant (RFC 3339, e.g. 2026-03-01T12:00:00Z); default now",
      },
      offer: {
        type: "string",
        value: "OFFER.json",
        description: "for an acknowledgment: the offer it answers, to check hash, price, nonce and date",
      },
      server: {
        type: "string",
        value: "URN",
        description: "the payment server, urn:peage:server:NAME: required for a payment request; checked for an acknowledgment",
      },
      "user-key": {
        type: "string",
        value: "FILE",
        description: "for a payment request or consent: the user's public key (SPKI PEM or JWK JSON)",
      },
      user: {
        type: "string",
        value: "URN",
        description: "for a payment request: the user, urn:peage:user:NAME, whose key --user-key is",
      },
      role: {
        type: "string",
        value: "ROLE",
        description: "for a certificate chain: the role to validate it for (default: the roles its leaf claims)",
      },
      issuer: {
        type: "string",
        value: "CA.pem",
        multiple: true,
        description: "for a CRL: its issuer's certificate, when it is not a --trust root",
      },
      json: { type: "boolean", description: "print {kind, valid, checkedAt, content, …} as JSON on stdout" },
    },
    notes: [`FILE "-" reads standard input. Signature algorithms accepted: ${SignatureAlgorithms.join(", ")}.`],
  },
  async run(o) {
    const file = o.positional(0, "FILE");
    const trustPaths = o.strings("trust");
    if (trustPaths.length === 0) throw o.usage("--trust ROOT.pem is required: the root certificate(s) signatures must chain to");
    const crlPaths = o.strings("crl");
    const atText = o.string("at");
    const clock = atText === undefined ? systemClock : new FixedClock(parseInstant(o, "at", atText));
    if (o.string("user") !== undefined && o.string("user-key") === undefined)
      throw o.usage("--user is only meaningful with --user-key");
    // Loaded before the file is read, so that a wrong --trust or --crl is reported whatever the file holds.
    const store = await loadTrustStore(trustPaths, crlPaths, o.flag("require-crl") ? "require" : "best-effort");
    const ctx: InspectContext = { options: o, clock, trust: async () => store };
    const text = await readInput(file, "FILE", { stdin: true });
    const inspection = await inspect(text, file, ctx);
    report(inspection, clock.now(), o);
  },
};

export const inspect_: CommandGroup = {
  name: "inspect",
  summary: "decode and verify any Péage message, catalog, token, certificate chain or CRL",
  commands: [inspectCommand],
};

/** Recognises the file and hands it to the inspector of its kind. */
async function inspect(text: string, file: string, ctx: InspectContext): Promise<Inspection> {
  const trimmed = text.trim();
  if (trimmed.includes("-----BEGIN ")) return inspectPem(text, file, ctx);
  let value: unknown;
  let isJson = true;
  try {
    value = parseStrictJson(trimmed);
  } catch {
    isJson = false;
  }
  if (isJson && typeof value === "string" && jwsCompact.test(value)) return inspectJws(value, ctx);
  if (isJson && typeof value === "object" && value !== null && !Array.isArray(value) && "type" in value) {
    return inspectMessage(value as Record<string, unknown>, ctx);
  }
  if (!isJson && jwsCompact.test(trimmed)) return inspectJws(trimmed, ctx);
  return unrecognised(
    `${describeFile(file)} is ${isJson ? "JSON without a Péage message type" : "not a Péage file"}: inspect reads messages and catalogs (JSON with a "type"), JWS tokens, and PEM certificate chains and CRLs`,
  );
}

async function inspectPem(text: string, file: string, ctx: InspectContext): Promise<Inspection> {
  let blocks: ReturnType<typeof parsePem>;
  try {
    blocks = parsePem(text);
  } catch (cause) {
    return unrecognised(`${describeFile(file)} is not valid PEM: ${(cause as Error).message}`);
  }
  const labels = [...new Set(blocks.map((block) => block.label))];
  try {
    if (labels.length === 1 && labels[0] === "CERTIFICATE") {
      return await inspectChain(
        blocks.map((block, i) => parseCertificateDer(block.der, `certificate #${i + 1} of ${describeFile(file)}`)),
        ctx,
      );
    }
    if (labels.length > 0 && labels.every((label) => crlLabels.has(label))) {
      return await inspectCrl(
        blocks.map((block, i) => parseCrlDer(block.der, `CRL #${i + 1} of ${describeFile(file)}`)),
        ctx,
      );
    }
  } catch (cause) {
    if (cause instanceof VerificationError) return unrecognised(cause.message);
    throw cause;
  }
  const label = labels.find((l) => l !== "CERTIFICATE" && !crlLabels.has(l)) ?? labels.join(", ");
  const hint = /PRIVATE KEY/.test(label) ? " (a private key, which inspect never reads)" : "";
  return unrecognised(
    `${describeFile(file)} holds a ${label} PEM block${hint}: inspect reads PEM certificate chains and CRLs, one kind per file`,
  );
}

/** Prints the inspection: content and verdict on stdout, the failure line on stderr; sets the exit status. */
function report(inspection: Inspection, checkedAt: Date, o: Options): void {
  const { result } = inspection;
  if (o.flag("json")) {
    printJson({
      kind: inspection.kind,
      valid: result.ok,
      checkedAt: checkedAt.toISOString(),
      content: inspection.content,
      ...(result.ok
        ? { ...result.value.json, ...(result.value.notes?.length && { notes: result.value.notes }) }
        : { error: result.error.toJSON() }),
    });
  } else {
    if (inspection.content !== null) print(`${inspection.kind}:`, ...inspection.lines, ...(result.ok ? result.value.lines : []));
    if (result.ok) {
      print(`valid: ${result.value.summary} (checked at ${checkedAt.toISOString()})`);
    }
  }
  if (result.ok) {
    for (const line of result.value.notes ?? []) note(line);
    return;
  }
  throw new InvalidError(result.error);
}

function describeFile(file: string): string {
  return file === "-" ? "standard input" : file;
}

/** A file inspect cannot read: ERR_MALFORMED, reported like any other verification failure. */
function unrecognised(message: string): Inspection {
  return { kind: "unrecognised file", content: null, lines: [], result: fail("ERR_MALFORMED", message) };
}
